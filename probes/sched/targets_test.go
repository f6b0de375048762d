package sched_test

import (
	"math"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
)

// Two sleepers, the second added one second into the window: each one's
// sleeping thread is accounted under its own pid, over the time its process
// was a target (on-CPU + blocked + run-queue within 10% of it), not over
// the whole window; each thread's off-CPU stacks carry its pid.
func TestTargetsAccountedSinceAdded(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "sleeper")
	first, added := testtarget.Start(t, bin, "-interval", "10ms"), testtarget.Start(t, bin, "-interval", "10ms")
	r, _ := bpftest.CaptureTargets(t, []int{first.PID}, probes.Config{Probes: []string{"sched"}}, func(w *bpftest.Watch) {
		time.Sleep(time.Second)
		if err := w.AddTarget(t, added.PID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	})
	c := r.Capture
	if len(c.Targets) != 2 {
		t.Fatalf("capture targets %+v, want two", c.Targets)
	}
	for i, p := range []*testtarget.Proc{first, added} {
		span := c.End.Sub(c.Targets[i].Added)
		if i == 0 {
			span = c.End.Sub(c.Start)
		}
		th := c.Threads[uint32(p.TID)]
		if th == nil {
			t.Fatalf("no accounting for thread %d of pid %d", p.TID, p.PID)
		}
		if th.PID != uint32(p.PID) {
			t.Errorf("thread %d: pid %d, want %d", p.TID, th.PID, p.PID)
		}
		sum := time.Duration(th.OnCPUNs + th.BlockedNs + th.RunqueueNs)
		if dev := math.Abs(float64(sum-span)) / float64(span); dev > 0.10 {
			t.Errorf("pid %d thread %d: on-CPU + blocked + run-queue = %v, it was a target for %v: off by %.1f%%, want <= 10%%", p.PID, p.TID, sum, span, 100*dev)
		}
		var blocked int64
		for _, s := range c.Stacks {
			if s.TID == uint32(p.TID) && s.PID != uint32(p.PID) {
				t.Errorf("a stack of thread %d has pid %d, want %d", p.TID, s.PID, p.PID)
				break
			}
			if s.TID == uint32(p.TID) {
				blocked += s.Value
			}
		}
		if blocked == 0 {
			t.Errorf("no off-CPU stacks of thread %d", p.TID)
		}
		t.Logf("pid %d: accounted %v over %v", p.PID, sum, span)
	}
}
