// Package bpftest is what probe tests share: the root/BPF requirement
// (skip with a reason, or fail when PERFPROBE_REQUIRE_BPF=1) and a helper
// that runs one real capture against a pid and returns it symbolized.
package bpftest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// Require skips the test unless eBPF probes can load here; with
// PERFPROBE_REQUIRE_BPF=1 (CI) it fails instead.
func Require(t testing.TB) {
	t.Helper()
	reason := ""
	if err := probes.CheckPrivileges(); err != nil {
		reason = "needs root or CAP_BPF+CAP_PERFMON: " + err.Error()
	} else if _, err := os.Stat(probes.BTFPath()); err != nil {
		reason = "needs kernel BTF: " + err.Error()
	}
	if reason == "" {
		return
	}
	if os.Getenv("PERFPROBE_REQUIRE_BPF") == "1" {
		t.Fatalf("PERFPROBE_REQUIRE_BPF=1 but %s", reason)
	}
	t.Skip(reason)
}

// Result is one capture with its profile.
type Result struct {
	Capture *profile.Capture
	Profile *pprof.Profile
}

// Capture attaches cfg's probes to pid for d and returns the symbolized
// capture.
func Capture(t testing.TB, pid int, cfg probes.Config, d time.Duration) Result {
	t.Helper()
	return CaptureDuring(t, pid, cfg, func(*probes.Session) { time.Sleep(d) })
}

// CaptureDuring is Capture with the window bounded by an action: the
// session is attached when during runs and stopped when it returns. It
// runs the commands' own pipeline (internal/capture) without Go profiles.
func CaptureDuring(t testing.TB, pid int, cfg probes.Config, during func(s *probes.Session)) Result {
	t.Helper()
	target, err := probes.OpenTarget(pid)
	if err != nil {
		t.Fatalf("opening target: %v", err)
	}
	defer target.Close()
	s, err := capture.Start(target, capture.FromConfig(cfg))
	if err != nil {
		t.Fatalf("starting capture: %v", err)
	}
	defer s.Close() // when during fails the test
	during(s.Probes())
	res := s.Stop(capture.EndDuration)
	for _, w := range res.Capture.Warnings {
		t.Logf("capture warning: %s", w)
	}
	if res.Profile == nil {
		t.Fatalf("building pprof failed: %v", res.Capture.Warnings)
	}
	CheckDeclared(t, res.Capture)
	return Result{Capture: res.Capture, Profile: res.Profile}
}

// Windows drains session s every interval until done is closed, then
// collects the last window (Collect, ended by "duration"), and returns the
// windows in order, each checked for names its probes do not declare, and
// checked to begin where the one before ended.
func Windows(t testing.TB, s *probes.Session, every time.Duration, done <-chan struct{}) []*profile.Capture {
	t.Helper()
	var out []*profile.Capture
	tick := time.NewTicker(every)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			c, err := s.Drain()
			if err != nil {
				t.Fatalf("draining: %v", err)
			}
			out = append(out, c)
		}
	}
	out = append(out, s.Collect("duration"))
	for i, c := range out {
		CheckDeclared(t, c)
		if i > 0 && !c.Start.Equal(out[i-1].End) {
			t.Errorf("window %d starts at %v, the one before ended at %v", i, c.Start, out[i-1].End)
		}
	}
	return out
}

// Share returns the part of sample type typ (restricted to thread tid when
// tid != 0) whose stack contains a frame named fn, and that total.
func (r Result) Share(typ, fn string, tid uint32) (share float64, matched, total int64) {
	i := profile.ValueIndex(r.Profile, typ)
	for _, s := range r.Profile.Sample {
		if tid != 0 && (len(s.NumLabel["tid"]) == 0 || uint32(s.NumLabel["tid"][0]) != tid) {
			continue
		}
		v := s.Value[i]
		total += v
		for _, f := range profile.Frames(s) {
			if f == fn || strings.HasPrefix(f, fn+"_[k]") {
				matched += v
				break
			}
		}
	}
	if total > 0 {
		share = float64(matched) / float64(total)
	}
	return share, matched, total
}

// CheckDeclared fails the test for every count, histogram or drop in c
// that none of its probes declares (probes.Description): capture.json's
// names are documented where the probe lives.
func CheckDeclared(t testing.TB, c *profile.Capture) {
	t.Helper()
	ds := append(probes.Described(c.Probes), probes.SessionFacts)
	check := func(kind, name string, facts func(d probes.Description) []probes.Fact) {
		for _, d := range ds {
			if probes.Declares(facts(d), name) {
				return
			}
		}
		t.Errorf("%s %q is declared by none of the probes %v (add it to the probe's Description)", kind, name, c.Probes)
	}
	for name := range c.Counts {
		check("count", name, func(d probes.Description) []probes.Fact { return d.Counts })
	}
	for name := range c.Histograms {
		check("histogram", name, func(d probes.Description) []probes.Fact { return d.Histograms })
	}
	for name := range c.Drops {
		check("drop", name, func(d probes.Description) []probes.Fact { return d.Drops })
	}
}

// Attach runs one capture of pid the way `perfprobe attach` does, with
// opts as the command builds them (start from capture.DefaultOptions():
// Duration bounds the window, the Go profiles are discovered and fetched),
// stopped, diagnosed and written into a temporary directory, whose path is
// res.Dir. Which plugins run is what the test binary imports
// (plugins/builtin for all of them).
func Attach(t testing.TB, pid int, opts capture.Options) *capture.Result {
	t.Helper()
	Require(t)
	if len(probes.Names()) == 0 {
		t.Fatal("bpftest.Attach: no probe is registered: import the probes (_ \"github.com/perfprobe/perfprobe/probes/cpu\", ...) as cmd/perfprobe does")
	}
	target, err := probes.OpenTarget(pid)
	if err != nil {
		t.Fatalf("opening target: %v", err)
	}
	defer target.Close()
	s, err := capture.Start(target, opts)
	if err != nil {
		t.Fatalf("starting capture: %v", err)
	}
	defer s.Close()
	res := s.Stop(s.Wait(context.Background(), target.Exited(), capture.EndTargetExited))
	for _, w := range res.Capture.Warnings {
		t.Logf("capture warning: %s", w)
	}
	CheckDeclared(t, res.Capture)
	if err := res.WriteDir(t.TempDir()); err != nil {
		t.Fatalf("writing the capture: %v", err)
	}
	return res
}

// CheckTargetHistograms fails the test unless, for every histogram of c
// whose name match selects, the histograms per target process
// (Capture.TargetHistograms) add up to it exactly: each slot, the count
// and the sum; no process's max is above the capture's; every process is
// one of c's targets; and no process has a histogram the capture lacks.
func CheckTargetHistograms(t testing.TB, c *profile.Capture, match func(name string) bool) {
	t.Helper()
	targets := map[int]bool{}
	for _, tg := range c.Targets {
		targets[tg.PID] = true
	}
	// Refused per-process records, at most maxRefused of them in one
	// window: on Debian's 6.1 kernels the map very rarely refuses an
	// insert that should succeed (1 in ~1,000 windows; cause not found).
	var refused uint64
	for name, n := range c.Drops {
		if strings.HasSuffix(name, "pid_hists_full") {
			refused += n
		}
	}
	const maxRefused = 2
	sums := map[string]*profile.Histogram{}
	for pid, hs := range c.TargetHistograms {
		if !targets[pid] {
			t.Errorf("histograms of pid %d, which is none of the targets", pid)
		}
		for name, h := range hs {
			if c.Histograms[name] == nil {
				t.Errorf("pid %d has histogram %q, the capture has none", pid, name)
				continue
			}
			if sums[name] == nil {
				sums[name] = &profile.Histogram{}
			}
			sums[name].Add(h)
			if h.MaxNs > c.Histograms[name].MaxNs {
				t.Errorf("pid %d: %s max %d ns, above the capture's %d ns", pid, name, h.MaxNs, c.Histograms[name].MaxNs)
			}
		}
	}
	for name, h := range c.Histograms {
		if !match(name) {
			continue
		}
		sum := sums[name]
		if sum == nil {
			sum = &profile.Histogram{}
		}
		if sum.Count == h.Count && sum.SumNs == h.SumNs && sum.Slots == h.Slots {
			continue
		}
		// A record the per-process map refused is counted; then the
		// processes' histograms miss at most that many values.
		if missing := h.Count - sum.Count; sum.Count <= h.Count && missing <= refused && refused <= maxRefused {
			t.Logf("%s: the processes' histograms miss %d of %d values, %d records refused (counted)", name, missing, h.Count, refused)
			continue
		}
		t.Errorf("%s: the processes' histograms add up to %d values, %d ns; the capture's has %d, %d ns (slots equal: %v; %d records refused)",
			name, sum.Count, sum.SumNs, h.Count, h.SumNs, sum.Slots == h.Slots, refused)
	}
}
