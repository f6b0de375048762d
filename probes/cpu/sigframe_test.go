package cpu_test

import (
	"slices"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/cpu"
	"github.com/perfprobe/perfprobe/profile"
)

func TestSpliceSignalFrame(t *testing.T) {
	user := []uint64{0x10, 0x20, 0x30, 0x40}
	for _, c := range []struct {
		name  string
		sigIP uint64
		depth uint32
		want  []uint64
	}{
		{"no signal frame", 0, 0, user},
		// handler frames, the trampoline (+1: looked up as itself), the
		// interrupted pc (+1), then the interrupted function's callers
		{"trampoline at 2", 0x500, 2, []uint64{0x10, 0x20, 0x31, 0x501, 0x40}},
		{"trampoline outermost", 0x500, 3, []uint64{0x10, 0x20, 0x30, 0x41, 0x501}},
		{"at the handler's entry", 0x500, 0, []uint64{0x10, 0x501, 0x20, 0x30, 0x40}},
		{"depth outside the stack", 0x500, 4, user},
	} {
		got := cpu.SpliceSignalFrame(user, c.sigIP, c.depth)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
	if !slices.Equal(user, []uint64{0x10, 0x20, 0x30, 0x40}) {
		t.Errorf("the stack given was changed: %#x", user)
	}
}

func BenchmarkSpliceSignalFrame(b *testing.B) {
	user := make([]uint64, 24)
	for i := range user {
		user[i] = uint64(0x400000 + 0x100*i)
	}
	for b.Loop() {
		cpu.SpliceSignalFrame(user, 0x401234, 6)
	}
}

// framesOf returns the stack (leaf first) and oncpu value of every oncpu
// sample of thread tid (all threads when tid is 0).
func framesOf(r bpftest.Result, tid int) (stacks [][]string, values []int64) {
	i := profile.ValueIndex(r.Profile, profile.TypeOnCPU)
	for _, s := range r.Profile.Sample {
		if tid != 0 && (len(s.NumLabel["tid"]) == 0 || s.NumLabel["tid"][0] != int64(tid)) {
			continue
		}
		if s.Value[i] > 0 {
			stacks, values = append(stacks, profile.Frames(s)), append(values, s.Value[i])
		}
	}
	return stacks, values
}

// A C program spends about half of its CPU time in a SIGPROF handler
// (handler_spin, under glibc's __restore_rt) and the rest in
// interrupted_spin, which every signal interrupts. The handler's samples
// keep their own frames on top and have the interrupted function under
// them: interrupted_spin is on >= 90% of the samples (about 100% minus
// the handler's share without the signal frame walk).
func TestSignalFrameC(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "csigspin"))
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"cpu"}, Hz: 499}, 3*time.Second)
	stacks, values := framesOf(r, 0)
	var total, interrupted, handler, handlerOrdered int64
	for k, st := range stacks {
		v := values[k]
		total += v
		in := slices.Index(st, "interrupted_spin")
		if in >= 0 {
			interrupted += v
		}
		h := slices.Index(st, "handler_spin")
		if h < 0 {
			continue
		}
		handler += v
		// leaf first: handler_spin, on_prof, the trampoline, interrupted_spin, main
		if on, m := slices.Index(st, "on_prof"), slices.Index(st, "main"); h < on && on < in && in < m {
			handlerOrdered += v
		}
	}
	share := func(v int64) float64 { return 100 * float64(v) / float64(max(total, 1)) }
	t.Logf("%d samples: interrupted_spin on %.1f%%, handler_spin on %.1f%%, of which %.1f%% over interrupted_spin and main; oncpu_signal_frames %d",
		r.Capture.Counts["oncpu_samples"], share(interrupted), share(handler), 100*float64(handlerOrdered)/float64(max(handler, 1)), r.Capture.Counts["oncpu_signal_frames"])
	if share(handler) < 10 {
		t.Fatalf("handler_spin holds %.1f%% of the samples, want >= 10%% (the target spends ~50%% of its CPU in the handler)", share(handler))
	}
	if share(interrupted) < 90 {
		t.Errorf("interrupted_spin is on %.1f%% of the samples, want >= 90%% (it is interrupted by every signal)", share(interrupted))
	}
	if got := 100 * float64(handlerOrdered) / float64(handler); got < 90 {
		t.Errorf("%.1f%% of handler_spin's samples have on_prof over interrupted_spin over main, want >= 90%%", got)
	}
	if r.Capture.Counts["oncpu_signal_frames"] == 0 {
		t.Error("oncpu_signal_frames is 0")
	}
}

// spinFns are wallmix's spin phase: main.spinPhase and its frameless leaves.
var spinFns = []string{"main.spinPhase", "main.stepA", "main.stepB", "main.stepC", "main.stepD"}

// The acceptance test of signal frames: a Go worker (wallmix's, locked to
// its thread) spins 50% of its time in main.spinPhase and its leaves. Its
// thread's eBPF on-CPU samples are captured twice, the way attach does,
// without and with the Go profiles fetched (pprof CPU's SIGPROF, fgprof's
// preemptions: samples in their signal handlers): the spin functions'
// share of the thread's samples is the same within 5 points.
func TestSignalFramesGoProfiles(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "wallmix"))
	shares := map[bool]float64{}
	for _, fetch := range []bool{false, true} {
		opts := capture.DefaultOptions()
		opts.Duration, opts.Probes, opts.Named, opts.Hz = 5*time.Second, []string{"cpu"}, true, 499
		opts.Go.Skip = !fetch
		res := bpftest.Attach(t, p.PID, opts)
		if fetch && (res.Go == nil || res.Go.Raw["cpu"] == nil || res.Go.Raw["wall"] == nil) {
			t.Fatalf("the Go CPU and wall profiles were not both fetched from %s: %v", p.Addr, res.Capture.Warnings)
		}
		stacks, values := framesOf(bpftest.Result{Capture: res.Capture, Profile: res.Profile}, p.TID)
		var total, spin, handler, handlerSpin int64
		for k, st := range stacks {
			has := slices.ContainsFunc(st, func(f string) bool { return slices.Contains(spinFns, f) })
			total += values[k]
			if has {
				spin += values[k]
			}
			if slices.Contains(st, "runtime.sigtramp") {
				handler += values[k]
				if has {
					handlerSpin += values[k]
				}
			}
		}
		if total == 0 {
			t.Fatalf("no on-CPU samples of the worker thread %d", p.TID)
		}
		shares[fetch] = 100 * float64(spin) / float64(total)
		t.Logf("Go profiles fetched %v: spin functions on %.1f%% of the worker's %d ns; in a signal handler %.1f%% (%.1f%% of them over a spin function); oncpu_signal_frames %d",
			fetch, shares[fetch], total, 100*float64(handler)/float64(total), 100*float64(handlerSpin)/float64(max(handler, 1)), res.Capture.Counts["oncpu_signal_frames"])
	}
	if d := shares[false] - shares[true]; d > 5 || d < -5 {
		t.Errorf("spin share %.1f%% without Go profiles, %.1f%% with them: want within 5 points", shares[false], shares[true])
	}
}
