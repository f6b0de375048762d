package cpu_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	_ "github.com/perfprobe/perfprobe/probes/sched" // a probe that cannot drain
	"github.com/perfprobe/perfprobe/profile"
)

// samplesByPID counts the on-CPU samples of each process in the capture.
func samplesByPID(c *profile.Capture) map[int]float64 {
	out := map[int]float64{}
	for _, s := range c.Stacks {
		if s.Type == profile.TypeOnCPU {
			out[int(s.PID)] += float64(s.Count)
		}
	}
	return out
}

// within reports whether got is within tol (a fraction) of want.
func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

// Two spinners in one session: each is counted (samples within 20% of its
// CPU time x hz, read from /proc), and every sample carries its own pid and
// comm, with main.spinHot on >= 90% of each one's time.
func TestTwoTargets(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "spinner")
	procs := []*testtarget.Proc{testtarget.Start(t, bin, "-threads", "1"), testtarget.Start(t, bin, "-threads", "1")}
	const hz = 99
	before := make([]time.Duration, len(procs))
	for i, p := range procs {
		before[i] = cpuTime(t, p)
	}
	r, _ := bpftest.CaptureTargets(t, []int{procs[0].PID, procs[1].PID}, probes.Config{Probes: []string{"cpu"}, Hz: hz},
		func(*bpftest.Watch) { time.Sleep(3 * time.Second) })
	window := r.Capture.End.Sub(r.Capture.Start).Seconds()

	if got := len(r.Capture.Targets); got != 2 || r.Capture.Target.PID != procs[0].PID {
		t.Fatalf("capture targets %+v (target %+v): want both spinners, the first as target", r.Capture.Targets, r.Capture.Target)
	}
	total, spin, unlabelled := r.ByPID(profile.TypeOnCPU, "main.spinHot")
	if unlabelled > 0 {
		t.Errorf("%d samples without a pid or comm label", unlabelled)
	}
	samples := samplesByPID(r.Capture)
	for i, p := range procs {
		tg := r.Capture.Targets[i]
		if tg.PID != p.PID || !strings.HasPrefix(tg.Comm, "spinner") || tg.Started.IsZero() || !tg.Exited.IsZero() {
			t.Errorf("target %d = %+v: want pid %d, comm spinner*, a start time and no exit", i, tg, p.PID)
		}
		cpuSec := (cpuTime(t, p) - before[i]).Seconds()
		want := math.Min(cpuSec, window) * hz
		if !within(samples[p.PID], want, rateTolerance()) {
			t.Errorf("pid %d: %v samples, want %.0f (%.2f CPU-s x %d Hz) within %.0f%%", p.PID, samples[p.PID], want, cpuSec, hz, 100*rateTolerance())
		}
		if share := float64(spin[p.PID]) / float64(total[p.PID]); share < minShare() {
			t.Errorf("pid %d: main.spinHot on %.1f%% of its on-CPU time, want >= %.0f%%", p.PID, 100*share, 100*minShare())
		}
		t.Logf("pid %d: %v samples, expected %.0f", p.PID, samples[p.PID], want)
	}
	for pid := range samples {
		if pid != procs[0].PID && pid != procs[1].PID {
			t.Errorf("samples of pid %d, not a target", pid)
		}
	}
	for _, s := range r.Profile.Sample {
		if c := s.Label["comm"]; len(c) != 1 || !strings.HasPrefix(c[0], "spinner") {
			t.Errorf("sample comm label %q, want spinner*", c)
			break
		}
	}
}

// A target added while the probes run is counted from then on: its samples
// match its CPU time since it was added, not since the window began.
func TestTargetAddedMidSession(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "spinner")
	first, added := testtarget.Start(t, bin, "-threads", "1"), testtarget.Start(t, bin, "-threads", "1")
	const hz = 99
	var before, after time.Duration
	var addedAt time.Time
	r, _ := bpftest.CaptureTargets(t, []int{first.PID}, probes.Config{Probes: []string{"cpu"}, Hz: hz}, func(w *bpftest.Watch) {
		time.Sleep(time.Second)
		before = cpuTime(t, added)
		addedAt = time.Now()
		if err := w.AddTarget(t, added.PID); err != nil {
			t.Fatalf("adding pid %d: %v", added.PID, err)
		}
		time.Sleep(2 * time.Second)
		after = cpuTime(t, added)
	})
	samples := samplesByPID(r.Capture)
	in := r.Capture.End.Sub(addedAt).Seconds()
	want := math.Min((after-before).Seconds(), in) * hz
	if !within(samples[added.PID], want, rateTolerance()) {
		t.Errorf("added pid %d: %v samples, want %.0f (its CPU time since it was added x %d Hz) within %.0f%%", added.PID, samples[added.PID], want, hz, 100*rateTolerance())
	}
	if samples[first.PID] == 0 {
		t.Errorf("no samples of the first target %d", first.PID)
	}
	i := slices.IndexFunc(r.Capture.Targets, func(tg profile.Target) bool { return tg.PID == added.PID })
	if i != 1 || r.Capture.Targets[i].Added.Sub(r.Capture.Start) < 900*time.Millisecond {
		t.Errorf("capture targets %+v: want pid %d second, added about 1 s into the window", r.Capture.Targets, added.PID)
	}
	t.Logf("added pid %d: %v samples over %.2f s, expected %.0f", added.PID, samples[added.PID], in, want)
}

type forkSummary struct {
	Children []int   `json:"children"`
	CPUNs    []int64 `json:"cpu_ns"`
}

// With Config.Children, the child processes a target forks are targets
// from their first instruction: each child's samples match its CPU time
// (the kernel's own accounting, from wait4) and carry its pid and
// child_spin; Poll reported each as added and exited, and the capture
// names its parent. Without it, the children are not sampled.
func TestFollowChildren(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "forker")
	const hz = 99
	for _, follow := range []bool{true, false} {
		name := map[bool]string{true: "children", false: "alone"}[follow]
		t.Run(name, func(t *testing.T) {
			p, release := testtarget.StartHeld(t, bin, "-children", "2", "-duration", "1")
			var sum forkSummary
			r, w := bpftest.CaptureTargets(t, []int{p.PID}, probes.Config{Probes: []string{"cpu"}, Hz: hz, Children: follow}, func(*bpftest.Watch) {
				release()
				if err := p.Wait(&sum); err != nil {
					t.Fatal(err)
				}
			})
			if len(sum.Children) != 2 {
				t.Fatalf("forker summary %+v: want two children", sum)
			}
			samples := samplesByPID(r.Capture)
			if !follow {
				for _, child := range sum.Children {
					if samples[child] != 0 {
						t.Errorf("child %d: %v samples without Children, want 0", child, samples[child])
					}
				}
				if len(r.Capture.Targets) != 1 {
					t.Errorf("capture targets %+v, want the forker alone", r.Capture.Targets)
				}
				return
			}
			total, spin, unlabelled := r.ByPID(profile.TypeOnCPU, "child_spin")
			if unlabelled > 0 {
				t.Errorf("%d samples without a pid or comm label", unlabelled)
			}
			ch := w.Changes()
			for i, child := range sum.Children {
				want := float64(sum.CPUNs[i]) / 1e9 * hz
				if !within(samples[child], want, rateTolerance()) {
					t.Errorf("child %d: %v samples, want %.0f (%.2f CPU-s x %d Hz) within %.0f%%", child, samples[child], want, float64(sum.CPUNs[i])/1e9, hz, 100*rateTolerance())
				}
				if share := float64(spin[child]) / float64(total[child]); share < minShare() {
					t.Errorf("child %d: child_spin on %.1f%% of its on-CPU time, want >= %.0f%%", child, 100*share, 100*minShare())
				}
				if !slices.Contains(ch.Added, child) || !slices.Contains(ch.Exited, child) {
					t.Errorf("child %d: Poll reported %+v, want it added and exited", child, ch)
				}
				j := slices.IndexFunc(r.Capture.Targets, func(tg profile.Target) bool { return tg.PID == child })
				if j < 0 || r.Capture.Targets[j].Parent != p.PID || r.Capture.Targets[j].Exited.IsZero() {
					t.Errorf("child %d: capture targets %+v, want it with parent %d and an exit time", child, r.Capture.Targets, p.PID)
				}
				t.Logf("child %d: %v samples, expected %.0f, child_spin %.1f%%", child, samples[child], want, 100*float64(spin[child])/float64(total[child]))
			}
			if n := r.Capture.Counts["targets_children"]; n != 2 {
				t.Errorf("targets_children = %d, want 2", n)
			}
		})
	}
}

// A followed child that execs another program: Poll reports the exec, and
// the child's samples are child_spin's before it (half a second) and
// cspin's hot_spin after it (a second), each named through the child's
// snapshot refreshed after the exec, under the child's pid, with its comm
// after the exec.
func TestFollowChildExec(t *testing.T) {
	bpftest.Require(t)
	bin, spin := testtarget.Build(t, "forker"), testtarget.Build(t, "cspin")
	p, release := testtarget.StartHeld(t, bin, "-children", "1", "-duration", "1", "-exec", spin, "-exec-after", "0.5")
	var sum forkSummary
	r, w := bpftest.CaptureTargets(t, []int{p.PID}, probes.Config{Probes: []string{"cpu"}, Children: true}, func(*bpftest.Watch) {
		release()
		if err := p.Wait(&sum); err != nil {
			t.Fatal(err)
		}
	})
	if len(sum.Children) != 1 {
		t.Fatalf("forker summary %+v: want one child", sum)
	}
	child := sum.Children[0]
	total, hot, _ := r.ByPID(profile.TypeOnCPU, "hot_spin")
	_, before, _ := r.ByPID(profile.TypeOnCPU, "child_spin")
	hotShare, beforeShare := float64(hot[child])/float64(total[child]), float64(before[child])/float64(total[child])
	if hotShare+beforeShare < minShare() || hotShare < 0.25 || beforeShare < 0.10 {
		t.Errorf("child %d: hot_spin on %.1f%% and child_spin on %.1f%% of its on-CPU time, want both, about 67%% and 33%% on an idle machine", child, 100*hotShare, 100*beforeShare)
	}
	if ch := w.Changes(); !slices.Contains(ch.Added, child) || !slices.Contains(ch.Execed, child) || !slices.Contains(ch.Exited, child) {
		t.Errorf("Poll reported %+v, want child %d added, exec'd and exited", ch, child)
	}
	j := slices.IndexFunc(r.Capture.Targets, func(tg profile.Target) bool { return tg.PID == child })
	if j < 0 || !strings.HasPrefix(r.Capture.Targets[j].Comm, "cspin") {
		t.Errorf("capture targets %+v: want child %d named cspin* after its exec", r.Capture.Targets, child)
	}
	for _, s := range r.Profile.Sample {
		if pid := s.NumLabel["pid"]; len(pid) == 1 && int(pid[0]) == child {
			if c := s.Label["comm"]; len(c) != 1 || !strings.HasPrefix(c[0], "cspin") {
				t.Errorf("child sample comm %q, want cspin*", c)
				break
			}
		}
	}
	t.Logf("child %d: hot_spin %.1f%%, child_spin %.1f%%", child, 100*hotShare, 100*beforeShare)
}

func cpuTime(t *testing.T, p *testtarget.Proc) time.Duration {
	t.Helper()
	d, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Draining every 50 ms while a spinner runs, sampled at 999 Hz: the windows follow one
// another without gaps, each holds samples, and together with the last
// window Collect returns they hold exactly the samples the program counted
// (none lost or counted twice at a switch), within 15% of the spinner's
// CPU time x hz.
func TestDrain(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "spinner")
	p := testtarget.Start(t, bin, "-threads", "1")
	target, err := probes.OpenTarget(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	const hz = 999
	before := cpuTime(t, p)
	sess, err := probes.Start(target, probes.Config{Probes: []string{"cpu"}, Hz: hz})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var (
		windows []*profile.Capture
		took    []time.Duration
	)
	for range 50 {
		time.Sleep(50 * time.Millisecond)
		began := time.Now()
		c, err := sess.Drain()
		if err != nil {
			t.Fatalf("draining: %v", err)
		}
		took = append(took, time.Since(began))
		windows = append(windows, c)
	}
	time.Sleep(50 * time.Millisecond)
	windows = append(windows, sess.Collect("duration"))
	after := cpuTime(t, p)
	counted := sess.Progress()["cpu"].Events
	var total float64
	for i, c := range windows {
		n := samplesByPID(c)[p.PID]
		if n == 0 || float64(c.Counts["oncpu_samples"]) != n {
			t.Errorf("window %d: %v samples, oncpu_samples %d: want some, equal", i, n, c.Counts["oncpu_samples"])
		}
		if i > 0 && !c.Start.Equal(windows[i-1].End) {
			t.Errorf("window %d starts at %v, the one before ended at %v", i, c.Start, windows[i-1].End)
		}
		total += n
	}
	if total != float64(counted) {
		t.Errorf("%v samples in %d windows, the program counted %d", total, len(windows), counted)
	}
	span := windows[len(windows)-1].End.Sub(windows[0].Start).Seconds()
	want := math.Min((after-before).Seconds(), span) * hz
	if !within(total, want, 0.15) {
		t.Errorf("%v samples, want %.0f (%.2f CPU-s x %d Hz) within 15%%", total, want, (after - before).Seconds(), hz)
	}
	slices.Sort(took)
	t.Logf("%v samples in %d windows over %.2f s, expected %.0f; a drain took %v (median), %v (max)", total, len(windows), span, want, took[len(took)/2], took[len(took)-1])

}

// rateTolerance is how far a process's sample count may be from its CPU
// time x Hz: under emulation (the kernel matrix) a starved host thread
// bunches the guest's timer ticks.
func rateTolerance() float64 {
	if bpftest.Emulated() {
		return 0.35
	}
	return 0.20
}

// minShare is the least share of a spinner's on-CPU samples in its spin
// function (the Go runtime takes the rest); lower under emulation, where
// the guest's timer ticks bunch.
func minShare() float64 {
	if bpftest.Emulated() {
		return 0.75
	}
	return 0.90
}
