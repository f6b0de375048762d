package cpusaturation

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/probes"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	"github.com/perfprobe/perfprobe/profile"
)

func evidence(oncpu, runq uint64, waits uint64, waitNs uint64) *plugins.Evidence {
	h := &profile.Histogram{}
	for range waits {
		h.Record(waitNs)
	}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return &plugins.Evidence{Capture: &profile.Capture{
		Start:      start,
		End:        start.Add(time.Second),
		Histograms: map[string]*profile.Histogram{"runqueue": h},
		Threads:    map[uint32]*profile.Thread{1: {OnCPUNs: oncpu, RunqueueNs: runq}},
		Counts:     map[string]uint64{},
	}}
}

// diagnose runs the plugin and finishes its findings as plugins.Run does
// (severity from score).
func diagnose(ev *plugins.Evidence) []plugins.Finding {
	fs, _ := Plugin{}.Diagnose(ev)
	for i := range fs {
		plugins.Finish(&fs[i], Plugin{}.Name())
	}
	return fs
}

func TestThresholds(t *testing.T) {
	cases := []struct {
		name       string
		ev         *plugins.Evidence
		want       bool
		severity   plugins.Severity
		shareAbout float64
	}{
		{"half the time waiting", evidence(1e9, 1e9, 1000, 1e6), true, plugins.Critical, 0.5},
		{"15% waiting", evidence(85e7, 15e7, 1000, 150e3), true, plugins.Warning, 0.15},
		{"1% waiting, short waits", evidence(99e7, 1e7, 1000, 5e3), false, 0, 0},
		{"1% waiting, long p99 waits, 10 ms in all", evidence(99e7, 1e7, 1000, 20e6), false, 0, 0},
		{"no threads", evidence(0, 0, 0, 0), false, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := diagnose(tc.ev)
			if (len(fs) > 0) != tc.want {
				t.Fatalf("findings %+v, want finding=%v", fs, tc.want)
			}
			if !tc.want {
				return
			}
			if fs[0].Severity != tc.severity || fs[0].Share < tc.shareAbout-0.001 || fs[0].Share > tc.shareAbout+0.001 {
				t.Errorf("severity %v share %.3f, want %v %.2f", fs[0].Severity, fs[0].Share, tc.severity, tc.shareAbout)
			}
		})
	}
}

// Four spinning threads per CPU (8 on our 2-CPU machines): most of their
// wanted time is spent waiting, and the plugin says so.
func TestContendedTarget(t *testing.T) {
	bpftest.Require(t)
	threads := 4 * runtime.NumCPU()
	p := testtarget.Start(t, testtarget.Build(t, "contended"), "-threads", strconv.Itoa(threads))
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}}, 2*time.Second)
	fs := diagnose(&plugins.Evidence{Capture: r.Capture, Profile: r.Profile})
	if len(fs) != 1 || fs[0].Severity != plugins.Critical {
		t.Fatalf("findings %+v, want one critical", fs)
	}
	// 4N runnable threads on N CPUs wait about 3/4 of the time.
	if fs[0].Share < 0.5 {
		t.Errorf("run-queue share %.2f, want >= 0.5 for %d threads on %d CPUs", fs[0].Share, threads, runtime.NumCPU())
	}
	if len(fs[0].Stacks) == 0 {
		t.Error("finding carries no stacks")
	}
	t.Logf("%s", fs[0].Detail)
}
