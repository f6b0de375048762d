package sched_test

import (
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	"github.com/perfprobe/perfprobe/probes/sched"
	"github.com/perfprobe/perfprobe/profile"
)

// A thread sleeping in nanosleep from main.sleepInNanosleep: >= 90% of its
// off-CPU time is under that function, and its on-CPU + blocked +
// run-queue time adds up to the window within 10%.
func TestSleeper(t *testing.T) {
	bpftest.Require(t)
	eachSwitchPath(t, testSleeper)
}

// eachSwitchPath runs test with each sched_switch program this kernel can
// load: the one given prev_state (5.18+) and the one reading it from the
// task (before).
func eachSwitchPath(t *testing.T, test func(t *testing.T)) {
	k, err := probes.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	for _, fromTask := range []bool{false, true} {
		name := "prev_state"
		if fromTask {
			name = "task_state"
		}
		t.Run(name, func(t *testing.T) {
			if !fromTask && !k.Tracepoint("sched_switch", 4) {
				t.Skip("this kernel's sched_switch does not pass prev_state (Linux 5.18+)")
			}
			old := sched.SwitchFromTask
			sched.SwitchFromTask = fromTask
			t.Cleanup(func() { sched.SwitchFromTask = old })
			test(t)
		})
	}
}

func testSleeper(t *testing.T) {
	bin := testtarget.Build(t, "sleeper")
	p := testtarget.Start(t, bin, "-interval", "10ms")
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"cpu", "sched"}}, 3*time.Second)
	tid := uint32(p.TID)

	share, matched, total := r.Share(profile.TypeOffCPUBlocked, "main.sleepInNanosleep", tid)
	if share < 0.90 {
		t.Errorf("main.sleepInNanosleep holds %.1f%% of thread %d's blocked time (%d of %d ns), want >= 90%%", 100*share, tid, matched, total)
	}
	th := r.Capture.Threads[tid]
	if th == nil {
		t.Fatalf("no accounting for thread %d; threads: %v", tid, r.Capture.Threads)
	}
	window := float64(r.Capture.End.Sub(r.Capture.Start))
	sum := float64(th.OnCPUNs + th.BlockedNs + th.RunqueueNs)
	if dev := math.Abs(sum-window) / window; dev > 0.10 {
		t.Errorf("thread %d: on-CPU %d + blocked %d + run-queue %d = %.0f ns, window %.0f ns: off by %.1f%%, want <= 10%%",
			tid, th.OnCPUNs, th.BlockedNs, th.RunqueueNs, sum, window, 100*dev)
	}
	if h := r.Capture.Histograms["blocked"]; h == nil || h.Count < 200 {
		t.Errorf("blocked histogram %+v: want >= 200 intervals of ~10 ms in 3 s", h)
	} else if p50 := h.Percentile(0.5); !bpftest.Emulated() && (p50 < 8e6 || p50 > 16e6) {
		t.Errorf("blocked p50 %d ns, want ~10 ms (log2 bucket [8.4, 16.8) ms)", p50)
	}
	t.Logf("share %.1f%%, thread %+v, window %.0f", 100*share, *th, window)
}

// More runnable threads than CPUs (four per CPU) wait in the run queue:
// at least half of the time they want to run (3/4 on an idle machine; more
// when other work shares it), more than one runnable thread of the same
// program waits, and involuntary switches happen. Shares from the exact
// per-thread accounting, not latency percentiles: a run-queue wait's
// length depends on the scheduler's slices and on whatever else runs on
// the machine (with 8 threads on 2 CPUs the p50 was seen at 11-14 µs,
// under that of one thread, on a shared machine), the share only on how
// many CPUs there are.
func TestContendedRunqueue(t *testing.T) {
	bpftest.Require(t)
	bpftest.SkipIfEmulated(t)
	bin := testtarget.Build(t, "contended")
	share := func(threads string) (float64, *profile.Capture) {
		p := testtarget.Start(t, bin, "-threads", threads)
		r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}}, 3*time.Second)
		_ = p.Cmd.Process.Kill()
		c := r.Capture
		h := c.Histograms["runqueue"]
		if h == nil || h.Count == 0 {
			t.Fatalf("%s threads: empty run-queue histogram", threads)
		}
		var oncpu, runq uint64
		for _, th := range c.Threads {
			oncpu, runq = oncpu+th.OnCPUNs, runq+th.RunqueueNs
		}
		if oncpu+runq == 0 {
			t.Fatalf("%s threads: no time accounted", threads)
		}
		sh := float64(runq) / float64(oncpu+runq)
		t.Logf("%s threads: %.0f%% of wanted time in the run queue (%d of %d ns); waits p50 %d ns, p99 %d ns, n=%d; involuntary %d", threads,
			100*sh, runq, oncpu+runq, h.Percentile(0.5), h.Percentile(0.99), h.Count, c.Counts["involuntary_switches"])
		return sh, c
	}
	one, _ := share("1")
	threads := strconv.Itoa(4 * runtime.NumCPU())
	many, c := share(threads)
	if many < 0.5 || many <= one {
		t.Errorf("%s threads on %d CPUs waited %.0f%% of their wanted time, 1 thread %.0f%%: want >= 50%% and more than 1 thread",
			threads, runtime.NumCPU(), 100*many, 100*one)
	}
	if c.Counts["involuntary_switches"] == 0 {
		t.Errorf("no involuntary switches with %s spinning threads on %d CPUs", threads, runtime.NumCPU())
	}
}

// fsync blocks in D state (waiting for the disk): the uninterruptible share
// of blocked time lands on main.doFsync and never exceeds blocked time.
func TestUninterruptibleFsync(t *testing.T) {
	bpftest.Require(t)
	eachSwitchPath(t, testUninterruptibleFsync)
}

func testUninterruptibleFsync(t *testing.T) {
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	// The target starts its fsyncs once the probe is attached and the
	// capture ends when it exits: every fsync is inside the window, however
	// long attaching takes and however fast the disk is.
	p, release := testtarget.StartHeld(t, bin, "-n", "300", "-dir", dir)
	r := bpftest.CaptureDuring(t, p.PID, probes.Config{Probes: []string{"sched"}}, func(*probes.Session) {
		release()
		if err := p.Wait(nil); err != nil {
			t.Fatal(err)
		}
	})
	tid := uint32(p.TID)
	share, dstate, total := r.Share(profile.TypeOffCPUUninterruptible, "main.doFsync", tid)
	blocked := profile.Total(r.Profile, profile.TypeOffCPUBlocked)
	if total == 0 {
		t.Fatalf("no uninterruptible time at all for thread %d (blocked %d ns)", tid, blocked)
	}
	if share < 0.8 {
		t.Errorf("main.doFsync holds %.1f%% of thread %d's D-state time (%d of %d ns), want >= 80%%", 100*share, tid, dstate, total)
	}
	if all := profile.Total(r.Profile, profile.TypeOffCPUUninterruptible); all > blocked {
		t.Errorf("uninterruptible %d ns > blocked %d ns: it must be a part of it", all, blocked)
	}
	th := r.Capture.Threads[tid]
	if th == nil || th.UninterruptibleNs == 0 || th.UninterruptibleNs > th.BlockedNs {
		t.Errorf("thread accounting %+v: want 0 < uninterruptible <= blocked", th)
	}
	t.Logf("D-state %d ns of blocked %d ns, %.1f%% under main.doFsync", total, blocked, 100*share)
}
