package cpu_test

import (
	"math"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/cpu"
	"github.com/perfprobe/perfprobe/profile"
)

// A Go program spinning in main.spinHot: >= 90% of on-CPU samples carry it,
// and the sample count is within 15% of CPU-seconds x hz.
func TestSpinnerSamples(t *testing.T) {
	bpftest.Require(t)
	for _, ioctl := range []bool{false, true} {
		name := "link"
		if ioctl {
			name = "ioctl" // as on kernels before 5.15
		}
		t.Run(name, func(t *testing.T) {
			cpu.AttachByIoctl = ioctl
			t.Cleanup(func() { cpu.AttachByIoctl = false })
			testSpinnerSamples(t)
		})
	}
}

func testSpinnerSamples(t *testing.T) {
	bin := testtarget.Build(t, "spinner")
	p := testtarget.Start(t, bin, "-threads", "1")
	const hz = 99
	before, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"cpu"}, Hz: hz}, 3*time.Second)
	after, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}

	// Under emulation (the kernel matrix) a starved host thread bunches
	// the guest's timer ticks: the shares and rates hold more loosely.
	minShare, maxDev := 0.90, 0.15
	if bpftest.Emulated() {
		minShare, maxDev = 0.75, 0.30
	}
	share, _, _ := r.Share(profile.TypeOnCPU, "main.spinHot", 0)
	if share < minShare {
		t.Errorf("main.spinHot is on %.1f%% of on-CPU time, want >= %.0f%%", 100*share, 100*minShare)
	}
	samples := float64(r.Capture.Counts["oncpu_samples"])
	// /proc CPU time ticks at 10 ms; the window is a little shorter than
	// the interval between the two reads, so compare against the window.
	cpuSec := (after - before).Seconds()
	window := r.Capture.End.Sub(r.Capture.Start).Seconds()
	want := math.Min(cpuSec, window) * hz
	if dev := math.Abs(samples-want) / want; dev > maxDev {
		t.Errorf("%v samples, want %.0f (%.2f CPU-s x %d Hz) within %.0f%% (off by %.1f%%)", samples, want, cpuSec, hz, 100*maxDev, 100*dev)
	}
	t.Logf("samples %v, expected %.0f, spinHot share %.1f%%, drops %v", samples, want, 100*share, r.Capture.Drops)
}

// A C program built with frame pointers: its hot function is named.
func TestCSpinnerNamed(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "cspin")
	p := testtarget.Start(t, bin)
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"cpu"}}, 2*time.Second)
	top := profile.TopFunctions(r.Profile, profile.TypeOnCPU, 1)
	if len(top) == 0 || top[0].Function != "hot_spin" {
		t.Fatalf("top on-CPU function = %+v, want hot_spin", top)
	}
	if top[0].FlatPct < 90 {
		t.Errorf("hot_spin flat share %.1f%%, want >= 90%%", top[0].FlatPct)
	}
}
