package sched_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// leafSplit is how one thread's blocked time splits between the blocking
// call's libc wrapper (found by the kernel frames under it) and the named
// function that called it.
type leafSplit struct {
	total            int64 // the thread's blocked time
	call, withCaller int64 // under the call; of it, with the caller on the stack
	callerAnyWhere   int64 // with the caller on the stack, whatever the call
}

// splitOf measures the blocked time of thread tid under kernel frames
// containing kernelCall, and how much of it has caller on its stack.
func splitOf(r bpftest.Result, tid uint32, kernelCall, caller string) leafSplit {
	var s leafSplit
	i := profile.ValueIndex(r.Profile, profile.TypeOffCPUBlocked)
	for _, smp := range r.Profile.Sample {
		if len(smp.NumLabel["tid"]) == 0 || uint32(smp.NumLabel["tid"][0]) != tid {
			continue
		}
		v := smp.Value[i]
		s.total += v
		inCall, hasCaller := false, false
		for _, f := range profile.Frames(smp) {
			if strings.HasSuffix(f, "_[k]") && strings.Contains(f, kernelCall) {
				inCall = true
			}
			if f == caller {
				hasCaller = true
			}
		}
		if inCall {
			s.call += v
			if hasCaller {
				s.withCaller += v
			}
		}
		if hasCaller {
			s.callerAnyWhere += v
		}
	}
	return s
}

// A C program built with frame pointers blocks only inside libc's
// nanosleep and read wrappers (Debian builds libc without frame pointers),
// from hiddenNapA (70% of its blocked time) and hiddenReadB (30%). The walk
// alone skips both callers; with the words at the user SP they are put
// back: each holds its own share within 5 points and is on >= 95% of the
// stacks of its call.
func TestFramelessLibcCallers(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "cleafblock", "-O2")
	p := testtarget.Start(t, bin, "-nap-us", "7000", "-read-us", "3000")
	tid := uint32(p.TID)

	var r bpftest.Result
	measure := func(splice bool) (nap, rd leafSplit, c *profile.Capture) {
		capture.SpliceLeaves = splice
		defer func() { capture.SpliceLeaves = true }()
		r = bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}}, 2*time.Second)
		return splitOf(r, tid, "nanosleep", "hiddenNapA"), splitOf(r, tid, "sys_read", "hiddenReadB"), r.Capture
	}
	nap0, rd0, _ := measure(false)
	t.Logf("stacks as walked: hiddenNapA on %.1f%% of nanosleep's blocked time, hiddenReadB on %.1f%% of read's",
		pct(nap0.withCaller, nap0.call), pct(rd0.withCaller, rd0.call))

	nap, rd, c := measure(true)
	t.Logf("spliced: counts %v", c.Counts)
	if nap.total == 0 || nap.call == 0 || rd.call == 0 {
		t.Fatalf("no blocked time in nanosleep (%d ns) or read (%d ns) of thread %d (total %d ns)", nap.call, rd.call, tid, nap.total)
	}
	for _, x := range []struct {
		name    string
		s       leafSplit
		planted float64
	}{{"hiddenNapA", nap, 0.70}, {"hiddenReadB", rd, 0.30}} {
		share := float64(x.s.callerAnyWhere) / float64(x.s.total)
		t.Logf("%s: %.1f%% of the thread's blocked time (planted %.0f%%), on %.1f%% of its call's stacks",
			x.name, 100*share, 100*x.planted, pct(x.s.withCaller, x.s.call))
		if math.Abs(share-x.planted) > 0.05 {
			t.Errorf("%s holds %.1f%% of thread %d's blocked time, want %.0f%% +- 5 points", x.name, 100*share, tid, 100*x.planted)
		}
		if pct(x.s.withCaller, x.s.call) < 95 {
			t.Errorf("%s is on %.1f%% of its call's blocked time (%d of %d ns), want >= 95%%", x.name, pct(x.s.withCaller, x.s.call), x.s.withCaller, x.s.call)
		}
	}
	for _, smp := range r.Profile.Sample {
		if fs := profile.Frames(smp); smp.Value[profile.ValueIndex(r.Profile, profile.TypeOffCPUBlocked)] > nap.total/2 {
			t.Logf("largest stack (leaf first): %v", fs)
		}
	}
	if c.Counts["sched_leaf_spliced"] == 0 {
		t.Errorf("sched_leaf_spliced = 0, want the thread's switch-outs counted")
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
