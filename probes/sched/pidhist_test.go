package sched_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/sched"
	"github.com/perfprobe/perfprobe/profile"
)

// Two sleepers (10 ms and 25 ms sleeps) in one session, drained every
// 100 ms for 1.5 s: in every window the histograms per process add up
// exactly to the session's (runqueue and blocked: each slot, the count and
// the sum), and over the windows each sleeper's blocked histogram holds its
// sleeps: at least 80% of span/interval intervals within [0.9, 2) times its
// interval, and the 25 ms sleeper few near 10 ms (both timing checks are
// left out under emulation, where sleeps overshoot).
func TestHistogramsPerTarget(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "sleeper")
	intervals := []time.Duration{10 * time.Millisecond, 25 * time.Millisecond}
	var procs []*testtarget.Proc
	var ts []*probes.Target
	for _, iv := range intervals {
		p := testtarget.Start(t, bin, "-interval", iv.String())
		target, err := probes.OpenTarget(p.PID)
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		procs, ts = append(procs, p), append(ts, target)
	}
	s, err := probes.StartTargets(ts, probes.Config{Probes: []string{"sched"}, TargetHistograms: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	time.AfterFunc(1500*time.Millisecond, func() { close(done) })
	windows := bpftest.Windows(t, s, 100*time.Millisecond, done)
	blocked := map[int]*profile.Histogram{}
	var span time.Duration
	for i, c := range windows {
		bpftest.CheckTargetHistograms(t, c, func(string) bool { return true })
		if n := c.Drops["sched_pid_hists_full"]; n != 0 { // CheckTargetHistograms bounds it
			t.Logf("window %d: sched_pid_hists_full = %d", i, n)
		}
		span += c.End.Sub(c.Start)
		for pid, hs := range c.TargetHistograms {
			if h := hs["blocked"]; h != nil {
				if blocked[pid] == nil {
					blocked[pid] = &profile.Histogram{}
				}
				blocked[pid].Add(h)
			}
		}
	}
	if len(windows) < 5 { // 15 here; 9 under emulation, where a drain takes longer
		t.Errorf("%d windows, want at least 5", len(windows))
	}
	for i, p := range procs {
		h := blocked[p.PID]
		if h == nil {
			t.Errorf("pid %d: no blocked histogram in any window", p.PID)
			continue
		}
		in := func(iv time.Duration) uint64 {
			var n uint64
			for s := profile.SlotOf(uint64(iv) * 9 / 10); s < profile.SlotOf(2*uint64(iv)); s++ {
				n += h.Slots[s]
			}
			return n
		}
		own, other := in(intervals[i]), in(intervals[1-i])
		want := uint64(0.8 * float64(span) / float64(intervals[i]))
		t.Logf("pid %d (%v sleeps): %d blocked intervals, %d near its interval, %d near the other's, over %v", p.PID, intervals[i], h.Count, own, other, span)
		if bpftest.Emulated() {
			continue // sleeps overshoot there: the sums above are what is checked
		}
		if own < want {
			t.Errorf("pid %d: %d blocked intervals within [0.9, 2) x %v, want >= %d (80%% of %v / %v)", p.PID, own, intervals[i], want, span, intervals[i])
		}
		if i == 1 && other*4 > own { // the 25 ms sleeper has few 10-20 ms intervals
			t.Errorf("pid %d: %d blocked intervals near %v, %d near its own %v: want them under a quarter", p.PID, other, intervals[0], own, intervals[1])
		}
	}
}

// A target that exits leaves nothing in the kernel's map of histograms
// per process: after each drain the map holds the current window's entries
// only, and once the two windows that may have seen the target are
// drained, none of it; its last window still reports its histograms.
func TestHistogramsPerTargetForgetExited(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "sleeper")
	proc := testtarget.Start(t, bin, "-interval", "5ms")
	target, err := probes.OpenTarget(proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	load, err := probes.LoadOptions()
	if err != nil {
		t.Fatal(err)
	}
	p := &sched.Probe{}
	defer p.Close()
	if err := p.Attach(target, probes.Options{Load: load, TargetHistograms: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.Begin(probes.MonotonicNs()); err != nil {
		t.Fatal(err)
	}
	pid := uint32(proc.PID)
	drain := func(what string) *profile.Capture {
		t.Helper()
		c := &profile.Capture{Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{},
			Drops: map[string]uint64{}, Threads: map[uint32]*profile.Thread{}}
		if err := p.Drain(c, probes.MonotonicNs()); err != nil {
			t.Fatalf("draining %s: %v", what, err)
		}
		perPID, stale, err := p.PIDHistEntries()
		if err != nil {
			t.Fatal(err)
		}
		if stale != 0 {
			t.Errorf("after draining %s: %d entries of the window drained are still in the map", what, stale)
		}
		t.Logf("after draining %s: entries per pid %v; histograms of the window %d", what, perPID, len(c.TargetHistograms[int(pid)]))
		return c
	}
	time.Sleep(200 * time.Millisecond)
	if c := drain("a window of the live target"); c.TargetHistograms[int(pid)]["blocked"] == nil {
		t.Errorf("no blocked histogram of pid %d in a window where it slept every 5 ms", pid)
	}
	time.Sleep(200 * time.Millisecond)
	if perPID, _, err := p.PIDHistEntries(); err != nil || perPID[pid] == 0 {
		t.Fatalf("no entry of pid %d in the map while it runs (%v): the test cannot see them go", pid, err)
	}
	if err := proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(nil); err != nil {
		t.Fatal(err)
	}
	if c := drain("the window it exited in"); c.TargetHistograms[int(pid)]["blocked"] == nil {
		t.Errorf("no blocked histogram of pid %d in the window it exited in", pid)
	}
	drain("the window after")
	if perPID, _, err := p.PIDHistEntries(); err != nil || len(perPID) != 0 {
		t.Errorf("after the target exited and two drains, the map holds entries per pid %v (%v), want none", perPID, err)
	}
}

// Without Options.TargetHistograms nothing is recorded per process: a
// sleeper's 5 ms sleeps over 300 ms are in the window's runqueue and
// blocked histograms, Capture.TargetHistograms stays nil, and pid_hists,
// loaded with one entry, holds none and refused none (were the recording
// left in, the sleeper's second histogram would find it full and count a
// drop).
func TestHistogramsPerTargetOff(t *testing.T) {
	bpftest.Require(t)
	proc := testtarget.Start(t, testtarget.Build(t, "sleeper"), "-interval", "5ms")
	target, err := probes.OpenTarget(proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	load, err := probes.LoadOptions()
	if err != nil {
		t.Fatal(err)
	}
	p := &sched.Probe{}
	defer p.Close()
	if err := p.Attach(target, probes.Options{Load: load}); err != nil {
		t.Fatal(err)
	}
	if err := p.Begin(probes.MonotonicNs()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	c := &profile.Capture{Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{},
		Drops: map[string]uint64{}, Threads: map[uint32]*profile.Thread{}}
	if err := p.Drain(c, probes.MonotonicNs()); err != nil {
		t.Fatal(err)
	}
	// 60 sleeps of 5 ms in 300 ms; at least 10 however slow the machine.
	for _, name := range []string{"runqueue", "blocked"} {
		if h := c.Histograms[name]; h == nil || h.Count < 10 {
			t.Errorf("histogram %s: %+v, want at least 10 values", name, h)
		}
	}
	if c.TargetHistograms != nil {
		t.Errorf("TargetHistograms %v, want nil when not asked for", c.TargetHistograms)
	}
	if got := p.PIDHistsMax(); got != 1 {
		t.Errorf("pid_hists loaded with %d entries, want 1 when off", got)
	}
	perPID, _, err := p.PIDHistEntries()
	if err != nil {
		t.Fatal(err)
	}
	if len(perPID) != 0 || c.Drops["sched_pid_hists_full"] != 0 {
		t.Errorf("pid_hists holds entries per pid %v, refused %d: want none recorded when off", perPID, c.Drops["sched_pid_hists_full"])
	}
}
