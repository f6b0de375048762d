package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	pp "github.com/perfprobe/perfprobe/profile"
)

// share returns the share (percent) of type typ in p held by samples that
// have fn on their stack, among samples that have within on it (all when
// within is ""), optionally only those of thread tid.
func shareOf(t *testing.T, p *profile.Profile, typ, fn, within string, tid int) float64 {
	t.Helper()
	i := pp.ValueIndex(p, typ)
	if i < 0 {
		t.Fatalf("profile has no %s", typ)
	}
	var matched, total int64
	for _, s := range p.Sample {
		if tid != 0 && (len(s.NumLabel["tid"]) == 0 || s.NumLabel["tid"][0] != int64(tid)) {
			continue
		}
		frames := strings.Join(pp.Frames(s), ";") + ";"
		if within != "" && !strings.Contains(frames, within+";") {
			continue
		}
		total += s.Value[i]
		if strings.Contains(frames, fn+";") {
			matched += s.Value[i]
		}
	}
	if total == 0 {
		t.Fatalf("no %s samples under %q", typ, within)
	}
	return 100 * float64(matched) / float64(total)
}

// goReport is the part of capture.json these tests read.
type goReport struct {
	Window struct {
		DurationSeconds float64 `json:"duration_seconds"`
	} `json:"window"`
	Files   map[string]string `json:"files"`
	Go      *pp.GoReport      `json:"go"`
	Threads []struct {
		TID        int    `json:"tid"`
		OnCPUNs    uint64 `json:"oncpu_ns"`
		RunqueueNs uint64 `json:"runqueue_ns"`
	} `json:"threads"`
}

func readGoReport(t *testing.T, dir string) goReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r goReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAttachMergesGoProfiles is the acceptance test of the merge: a worker
// goroutine spends 50% of its wall time spinning, 30% in nanosleep and 20%
// waiting on a mutex. fgprof's go_wall must show those shares within 10
// points, the eBPF types must agree (spin on CPU, sleep blocked in the
// kernel), and the Go CPU profile must name the same hot function.
func TestAttachMergesGoProfiles(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "wallmix"))
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, nil, "attach", "-d", "5s", "-q", "-p", "cpu,sched", "-o", dir, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	t.Logf("summary:\n%s", r.stdout)
	rep := readGoReport(t, dir)
	if rep.Go == nil {
		t.Fatalf("capture.json has no go section; stderr %s", r.stderr)
	}
	t.Logf("go: endpoint %s covered %.1fs types %v skipped %v", rep.Go.Endpoint, rep.Go.CoveredSeconds, rep.Go.Types, rep.Go.Skipped)
	if want := "http://" + p.Addr; !strings.HasPrefix(rep.Go.Endpoint, want) {
		t.Errorf("endpoint %q, want the target's %s (found from its sockets)", rep.Go.Endpoint, want)
	}
	for _, typ := range []string{pp.TypeGoCPU, pp.TypeGoWall} {
		if !slices.Contains(rep.Go.Types, typ) {
			t.Errorf("merged Go types %v lack %s", rep.Go.Types, typ)
		}
	}
	if c := rep.Go.CoveredSeconds; c < 4 || c > 6 {
		t.Errorf("Go profiles cover %.1fs of a 5s window", c)
	}
	for _, f := range []string{"flamegraph", "go_cpu", "go_wall", "profile"} {
		if rep.Files[f] == "" {
			t.Errorf("capture.json files lack %s: %v", f, rep.Files)
		}
	}

	prof, err := pp.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// go_wall: the worker goroutine's wall time, phase by phase.
	for _, c := range []struct {
		fn   string
		want float64
	}{{"main.spinPhase", 50}, {"main.sleepPhase", 30}, {"main.lockPhase", 20}} {
		got := shareOf(t, prof, pp.TypeGoWall, c.fn, "main.worker", 0)
		t.Logf("go_wall %s: %.1f%% of main.worker (planted %.0f%%)", c.fn, got, c.want)
		if got < c.want-10 || got > c.want+10 {
			t.Errorf("go_wall share of %s = %.1f%%, want %.0f%% ± 10 points", c.fn, got, c.want)
		}
	}
	// eBPF on the worker's thread: spin -> oncpu, sleep -> offcpu_blocked.
	// The thread's on-CPU time is exact (scheduler accounting); its
	// samples say where it went. Samples taken while the thread runs a
	// signal handler (the Go CPU profiler's SIGPROF, preemption for
	// fgprof) get the interrupted pc from the signal frame under the
	// handler's frames, so spin functions are counted among the samples
	// that show the goroutine's own stack (main.worker). The spin phase's
	// leaves main.stepA..D are frameless: their caller main.spinPhase comes
	// from the words at SP (counted as leaf splices).
	window := rep.Window.DurationSeconds * 1e9
	var oncpu, runq float64
	for _, th := range rep.Threads {
		if th.TID == p.TID {
			oncpu, runq = 100*float64(th.OnCPUNs)/window, 100*float64(th.RunqueueNs)/window
		}
	}
	spinFns := []string{"main.spinPhase", "main.stepA", "main.stepB", "main.stepC", "main.stepD"}
	sum := func(typ string, want func(frames []string) bool) (v int64) {
		i := pp.ValueIndex(prof, typ)
		for _, s := range prof.Sample {
			if len(s.NumLabel["tid"]) > 0 && s.NumLabel["tid"][0] == int64(p.TID) && want(pp.Frames(s)) {
				v += s.Value[i]
			}
		}
		return v
	}
	has := func(fns ...string) func([]string) bool {
		return func(frames []string) bool {
			for _, f := range frames {
				if slices.Contains(fns, f) {
					return true
				}
			}
			return false
		}
	}
	goroutine := sum(pp.TypeOnCPU, has("main.worker"))
	spin := sum(pp.TypeOnCPU, func(f []string) bool { return has("main.worker")(f) && has(spinFns...)(f) })
	sleep := 100 * float64(sum(pp.TypeOffCPUBlocked, has("main.sleepPhase"))) / window
	spinShare := 100 * float64(spin) / float64(max(goroutine, 1))
	t.Logf("eBPF, worker thread: on CPU %.1f%% + waiting for a CPU %.1f%% of the window; %.1f%% of its goroutine-stack samples in the spin functions; offcpu_blocked in main.sleepPhase %.1f%% of the window",
		oncpu, runq, spinShare, sleep)
	// The spin phase is 50% of wall time: on CPU, or preempted when the
	// machine is busy; the thread runs only then.
	if oncpu+runq < 40 || oncpu+runq > 60 || oncpu < 25 {
		t.Errorf("worker thread on CPU %.1f%% + run queue %.1f%% of the window, want 50%% ± 10 (and mostly on CPU)", oncpu, runq)
	}
	if spinShare < 90 {
		t.Errorf("spin functions hold %.1f%% of the worker's goroutine-stack on-CPU samples, want ≥ 90%%", spinShare)
	}
	if sleep < 20 || sleep > 40 {
		t.Errorf("offcpu_blocked in main.sleepPhase = %.1f%% of the window, want 30%% ± 10", sleep)
	}
	// The two CPU views name the same hot functions. Their shares can
	// differ: eBPF also sees what the Go profilers cost (signal handling,
	// stop-the-world futexes), which the Go profile cannot see of itself.
	cs := rep.Go.Consistency
	if cs == nil || len(cs.EBPF) == 0 || len(cs.GoCPU) == 0 {
		t.Fatalf("no consistency check in capture.json: %+v", cs)
	}
	t.Logf("consistency: eBPF top %s %.1f%%, Go top %s %.1f%%, max diff %.1f pts (%s), agree %v",
		cs.EBPF[0].Function, cs.EBPF[0].FlatPct, cs.GoCPU[0].Function, cs.GoCPU[0].FlatPct, cs.MaxDiffPts, cs.MaxDiffFn, cs.Agree)
	for _, fn := range spinFns[1:] {
		in := func(list []pp.FuncShare) bool {
			return slices.ContainsFunc(list, func(f pp.FuncShare) bool { return f.Function == fn })
		}
		if !in(cs.EBPF) || !in(cs.GoCPU) {
			t.Errorf("%s missing from a top-%d list: eBPF %+v, Go %+v", fn, cs.TopN, cs.EBPF, cs.GoCPU)
		}
	}
	checkInlineShapes(t, prof)
	// Wall explained: the worker's row. About 80% of its wall time is on
	// CPU or in nanosleep, 20% parked on the mutex; what eBPF attributes
	// to the goroutine's stack loses the signal-handler samples.
	var worker *pp.GoroutineWall
	for i := range rep.Go.WallByGoroutine {
		if rep.Go.WallByGoroutine[i].Entry == "main.worker" {
			worker = &rep.Go.WallByGoroutine[i]
		}
	}
	if worker == nil {
		t.Fatalf("no main.worker row in wall_by_goroutine: %+v", rep.Go.WallByGoroutine)
	}
	t.Logf("wall explained, main.worker: %+v", *worker)
	if worker.ExplainedPct < 50 || worker.ExplainedPct > 95 {
		t.Errorf("main.worker explained %.1f%% of its wall time, want 50..95%% (planted 80%%)", worker.ExplainedPct)
	}
	if parked := 100 * float64(worker.ParkedNs) / float64(worker.WallNs); parked < 5 || parked > 50 {
		t.Errorf("main.worker parked %.1f%% of its wall time, want 5..50%% (planted 20%%)", parked)
	}
	if !strings.Contains(r.stdout, "Wall time by goroutine") || !strings.Contains(r.stdout, "flamegraph.html") {
		t.Errorf("summary lacks the Go section or the flamegraph path:\n%s", r.stdout)
	}
}

// TestAttachGoProfilesSkipped: a bad --pprof-url costs one line and the
// eBPF capture goes on; --no-go-profiles fetches nothing.
func TestAttachGoProfilesSkipped(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "wallmix"))
	dir := filepath.Join(t.TempDir(), "bad")
	r := perfprobe(t, nil, "attach", "-d", "1s", "-q", "-p", "cpu", "--pprof-url", "http://127.0.0.1:1", "-o", dir, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	var skipLines int
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "127.0.0.1:1") {
			skipLines++
		}
	}
	if skipLines != 1 {
		t.Errorf("stderr %q: want exactly one line about the unreachable endpoint", r.stderr)
	}
	prof, err := pp.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pp.Total(prof, pp.TypeOnCPU) == 0 {
		t.Error("the eBPF capture was lost")
	}
	dir2 := filepath.Join(t.TempDir(), "none")
	r = perfprobe(t, nil, "attach", "-d", "1s", "-q", "-p", "cpu", "--no-go-profiles", "-o", dir2, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	if rep := readGoReport(t, dir2); rep.Go != nil {
		t.Errorf("--no-go-profiles still fetched: %+v", rep.Go)
	}
	// --go-profiles cpu: the Go CPU profile and nothing else.
	dir3 := filepath.Join(t.TempDir(), "cpuonly")
	r = perfprobe(t, nil, "attach", "-d", "2s", "-q", "-p", "cpu", "--go-profiles", "cpu", "-o", dir3, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	if rep := readGoReport(t, dir3); rep.Go == nil || len(rep.Go.Types) != 1 || rep.Go.Types[0] != pp.TypeGoCPU {
		t.Errorf("--go-profiles cpu merged %+v, want go_cpu alone", rep.Go)
	}
	r = perfprobe(t, nil, "attach", "--go-profiles", "cpu,allocs", fmt.Sprint(p.PID))
	if r.code == 0 || !strings.Contains(r.stderr, `unknown Go profile "allocs": choose from cpu,wall,mutex,block,goroutine,heap`) {
		t.Errorf("--go-profiles allocs: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestDiffFindsPlantedRegression: two captures of wallmix, the second with
// main.stepB doing 4x the work; diff must put main.stepB at the top of the
// movers, grown.
func TestDiffFindsPlantedRegression(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "wallmix")
	dirs := []string{filepath.Join(t.TempDir(), "base"), filepath.Join(t.TempDir(), "new")}
	for i, args := range [][]string{{"-spin", "0.9", "-sleep", "0.05", "-lock", "0.05"}, {"-spin", "0.9", "-sleep", "0.05", "-lock", "0.05", "-slow-step", "b"}} {
		p := testtarget.Start(t, bin, args...)
		r := perfprobe(t, nil, "attach", "-d", "3s", "-q", "-p", "cpu", "--no-go-profiles", "-o", dirs[i], fmt.Sprint(p.PID))
		if r.code != 0 {
			t.Fatalf("attach exited %d: %s", r.code, r.stderr)
		}
	}
	html := filepath.Join(t.TempDir(), "diff.html")
	r := perfprobe(t, nil, "diff", "--top", "5", dirs[0], dirs[1], "-o", html)
	if r.code != 0 {
		t.Fatalf("diff exited %d: %s", r.code, r.stderr)
	}
	t.Logf("diff:\n%s", r.stdout)
	var first []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "pts") {
			first = strings.Fields(l)
			break
		}
	}
	// base: stepB 25% of spin; new: 4/7 = 57%: about +32 points.
	if len(first) == 0 || first[len(first)-1] != "main.stepB" || !strings.HasPrefix(first[0], "+") {
		t.Fatalf("top mover %v, want main.stepB grown", first)
	}
	if fi, err := os.Stat(html); err != nil || fi.Size() == 0 {
		t.Errorf("diff.html not written: %v", err)
	}
}

// TestRunFetchesGoProfilesFromURL: run with --pprof-url waits for the new
// command's endpoint to come up and merges its Go profiles.
func TestRunFetchesGoProfilesFromURL(t *testing.T) {
	bpftest.Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(t.TempDir(), "run")
	r := perfprobe(t, nil, "run", "-q", "-p", "cpu,sched", "-o", dir, "--pprof-url", "http://"+addr,
		"--", testtarget.Build(t, "wallmix"), "-addr", addr, "-duration", "4s")
	if r.code != 0 {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	rep := readGoReport(t, dir)
	if rep.Go == nil || !slices.Contains(rep.Go.Types, pp.TypeGoWall) {
		t.Fatalf("no go_wall merged: %+v; stderr %s", rep.Go, r.stderr)
	}
	t.Logf("go: covered %.1fs, types %v, skipped %v", rep.Go.CoveredSeconds, rep.Go.Types, rep.Go.Skipped)
	if rep.Go.CoveredSeconds < 2 {
		t.Errorf("Go profiles cover %.1fs of a 4s run, want at least 2s", rep.Go.CoveredSeconds)
	}
}

// checkInlineShapes: where eBPF and the Go CPU profile sampled the same
// pc, both name the same functions at it, inlined ones included, in the
// same order. Leaf pcs are compared as they are; the Go profile gives a
// caller's pc as its return address - 1, eBPF as the return address.
func checkInlineShapes(t *testing.T, prof *profile.Profile) {
	t.Helper()
	chain := func(l *profile.Location) string {
		var b strings.Builder
		for _, ln := range l.Line {
			fmt.Fprintf(&b, "%s:%d ", ln.Function.Name, ln.Line)
		}
		return b.String()
	}
	type key struct {
		addr uint64
		leaf bool
	}
	ebpf := map[key]string{}
	oi, gi := pp.ValueIndex(prof, pp.TypeOnCPU), pp.ValueIndex(prof, pp.TypeGoCPU)
	for _, s := range prof.Sample {
		if s.Value[oi] == 0 {
			continue
		}
		user := 0
		for j, l := range s.Location {
			if l.Mapping != nil && strings.HasPrefix(l.Mapping.File, "[kernel") {
				continue
			}
			// A user leaf under kernel frames is a return address too.
			ebpf[key{l.Address, user == 0 && j == 0}] = chain(l)
			user++
		}
	}
	matched, inlined := 0, 0
	seen := map[*profile.Location]bool{}
	for _, s := range prof.Sample {
		if s.Value[gi] == 0 {
			continue
		}
		for j, l := range s.Location {
			if seen[l] {
				continue
			}
			seen[l] = true
			k := key{l.Address, j == 0}
			if j > 0 {
				k.addr++
			}
			e, ok := ebpf[k]
			if !ok {
				continue
			}
			matched++
			if len(l.Line) > 1 {
				inlined++
			}
			if g := chain(l); e != g {
				t.Errorf("pc %#x: eBPF names %q, the Go CPU profile %q", l.Address, e, g)
			}
		}
	}
	t.Logf("inline shapes: %d pcs sampled by both eBPF and the Go CPU profile name the same functions, %d of them with inlined functions", matched, inlined)
	if matched == 0 {
		t.Error("no pc sampled by both eBPF and the Go CPU profile")
	}
}
