package sched_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// A thread sleeps 1 ms in main.shortWait, then 40 ms in main.longWait, in
// a loop: both enter the kernel at the same instruction with the same
// syscall (testdata/targets/twowaits), the long wait under a millisecond
// after the short one's stacks were walked. With the stack interval attach
// uses (10 ms), main.longWait holds >= 90% of the thread's blocked time
// (97.6% by the target's own figures; the stacks walked at the short wait
// must not be reused for the long one, which gave the long one 0% and the
// short one all) and main.shortWait <= 10%. The same reuse filed an idle Go
// thread's seconds in runtime.notesleep under a runtime.lock2 it had slept
// in just before, both futex waits at runtime.futex's one syscall.
func TestStackReuseKeepsCallPaths(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "twowaits")
	p := testtarget.Start(t, bin)
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}, StackInterval: probes.DefaultStackInterval}, 2*time.Second)
	tid := uint32(p.TID)
	long, matched, total := r.Share(profile.TypeOffCPUBlocked, "main.longWait", tid)
	if total == 0 {
		t.Fatalf("no blocked time for thread %d", tid)
	}
	short, _, _ := r.Share(profile.TypeOffCPUBlocked, "main.shortWait", tid)
	t.Logf("thread %d blocked %v: main.longWait %.1f%% (%v), main.shortWait %.1f%%; %d of %d switch-outs reused stacks",
		tid, time.Duration(total), 100*long, time.Duration(matched), 100*short,
		r.Capture.Counts["offcpu_stacks_reused"], r.Capture.Counts["voluntary_switches"]+r.Capture.Counts["involuntary_switches"])
	if long < 0.90 {
		t.Errorf("main.longWait holds %.1f%% of thread %d's blocked time, want >= 90%% (97.6%% slept there)", 100*long, tid)
	}
	if short > 0.10 {
		t.Errorf("main.shortWait holds %.1f%% of thread %d's blocked time, want <= 10%% (2.4%% slept there)", 100*short, tid)
	}
}
