package iostall_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/iostall"
	"github.com/perfprobe/perfprobe/profile"
)

// summary is what testdata/targets/fsyncer measured itself.
type summary struct {
	Fsyncs       int    `json:"fsyncs"`
	FsyncP50NS   int64  `json:"fsync_p50_ns"`
	FsyncMeanNS  int64  `json:"fsync_mean_ns"`
	FsyncMaxNS   int64  `json:"fsync_max_ns"`
	Writes       int    `json:"writes"`
	DirectWrites int    `json:"direct_writes"`
	DirectP50NS  int64  `json:"direct_p50_ns"`
	LoopOps      int64  `json:"loop_ops"`
	LoopNSPerOp  int64  `json:"loop_ns_per_op"`
	Dir          string `json:"dir"`
}

// captureWork attaches cfg's probes to fsyncer held before its work,
// lets it start once they are attached, and ends the capture when it has
// exited; sum (if not nil) gets what it measured itself. Nothing it does
// falls outside the window, however long attaching takes.
func captureWork(t *testing.T, bin string, cfg probes.Config, sum *summary, args ...string) bpftest.Result {
	t.Helper()
	p, release := testtarget.StartHeld(t, bin, args...)
	return bpftest.CaptureDuring(t, p.PID, cfg, func(*probes.Session) {
		release()
		var v any
		if sum != nil {
			v = sum
		}
		if err := p.Wait(v); err != nil {
			t.Fatal(err)
		}
	})
}

// tracefs reports whether the per-syscall tracepoints can be attached.
func tracefs() bool {
	_, err := os.Stat("/sys/kernel/tracing/events/syscalls/sys_enter_fsync/id")
	if err != nil {
		_, err = os.Stat("/sys/kernel/debug/tracing/events/syscalls/sys_enter_fsync/id")
	}
	return err == nil
}

func hookName(raw bool) string {
	if raw {
		return "raw"
	}
	return "tracepoints"
}

func setRaw(t *testing.T, raw bool) {
	old := iostall.RawSyscalls
	iostall.RawSyscalls = raw
	t.Cleanup(func() { iostall.RawSyscalls = old })
}

// N fsyncs from main.doFsync, with either syscall hook: the probe counts
// exactly N, its p50 is within 25% of the target's own p50 and its exact
// mean (sum/count) within 10% of the target's;
// main.doFsync holds >= 90% of the iowait time; every iowait sample is of
// calls at or over the threshold.
func TestFsync(t *testing.T) {
	bpftest.Require(t)
	for _, raw := range []bool{false, true} {
		t.Run(hookName(raw), func(t *testing.T) {
			if !raw && !tracefs() {
				t.Skip("tracefs is not mounted: the per-syscall tracepoints cannot be attached")
			}
			setRaw(t, raw)
			testFsync(t)
		})
	}
}

func testFsync(t *testing.T) {
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	const n = 50
	var sum summary
	r := captureWork(t, bin, probes.Config{Probes: []string{"iostall"}, IOThreshold: probes.DefaultIOThreshold}, &sum, "-n", strconv.Itoa(n), "-dir", dir)
	c := r.Capture
	t.Logf("target: %+v; attached in %.0f ms", sum, 1000*c.SelfCost.AttachSeconds)

	h := c.Histograms["syscall_fsync"]
	if h == nil || h.Count != n || sum.Fsyncs != n {
		t.Fatalf("fsync histogram %+v, target did %d: want exactly %d fsyncs", h, sum.Fsyncs, n)
	}
	// The histogram's slots are at most 25% wide and interpolated, so its
	// p50 can be held to the target's own p50 directly; the exact mean
	// (sum/count) is checked too. The target's clock also covers Go's
	// entersyscall/exitsyscall (~10 µs here).
	p50, own := float64(h.Percentile(0.5)), float64(sum.FsyncP50NS)
	if dev := math.Abs(p50-own) / own; dev > 0.25 && !bpftest.Emulated() {
		t.Errorf("fsync p50 %.0f ns, target measured %.0f ns: off by %.1f%%, want <= 25%%", p50, own, 100*dev)
	}
	mean, ownMean := float64(h.MeanNs()), float64(sum.FsyncMeanNS)
	if dev := math.Abs(mean-ownMean) / ownMean; dev > 0.10 && !bpftest.Emulated() {
		t.Errorf("fsync mean %.0f ns (exact sum/count), target measured %.0f ns: off by %.1f%%, want <= 10%%", mean, ownMean, 100*dev)
	}
	if c.Counts["syscall_fsync_errors"] != 0 {
		t.Errorf("%d fsync errors, want 0", c.Counts["syscall_fsync_errors"])
	}
	if w := c.Counts["syscall_pwrite64_calls"]; w < n {
		t.Errorf("%d pwrite64 calls, want >= %d", w, n)
	}
	if b := c.Counts["syscall_pwrite64_bytes"]; b < 64*n {
		t.Errorf("%d pwrite64 bytes, want >= %d", b, 64*n)
	}

	share, matched, total := r.Share(profile.TypeIOWait, "main.doFsync", 0)
	if share < 0.90 {
		t.Errorf("main.doFsync holds %.1f%% of iowait (%d of %d ns), want >= 90%%", 100*share, matched, total)
	}
	var fsyncSlow int64
	for _, s := range c.Stacks {
		if s.Type != profile.TypeIOWait {
			continue
		}
		if s.Value < s.Count*int64(probes.DefaultIOThreshold) {
			t.Errorf("iowait %s: %d calls, %d ns: some under the %v threshold", s.Labels["syscall"], s.Count, s.Value, probes.DefaultIOThreshold)
		}
		if s.Labels["syscall"] == "fsync" {
			fsyncSlow += s.Count
		}
	}
	if fsyncSlow > n {
		t.Errorf("%d slow fsyncs in iowait, only %d made", fsyncSlow, n)
	}
	t.Logf("fsync p50 %.0f ns (%+.0f%% vs own %.0f), mean %.0f ns (own %.0f), max %d ns; iowait share %.1f%%, %d slow fsyncs; counts %v; drops %v",
		p50, 100*(p50-own)/own, own, mean, ownMean, h.MaxNs, 100*share, fsyncSlow, c.Counts, c.Drops)
}

// M O_DIRECT writes from the target are M block write requests it
// submitted to the disk of the directory, with either way of timing them:
// block_io_start (6.5+) or block_getrq joined at block_rq_issue (before).
func TestDirectWrites(t *testing.T) {
	bpftest.Require(t)
	k, err := probes.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	for _, getrq := range []bool{false, true} {
		name := "block_io_start"
		if getrq {
			name = "block_getrq"
		}
		t.Run(name, func(t *testing.T) {
			if !getrq && !k.Tracepoint("block_io_start", 1) {
				t.Skip("this kernel has no block_io_start (Linux 6.5+)")
			}
			old := iostall.BlockFromGetrq
			iostall.BlockFromGetrq = getrq
			t.Cleanup(func() { iostall.BlockFromGetrq = old })
			testDirectWrites(t, name)
		})
	}
}

func testDirectWrites(t *testing.T, hook string) {
	bin := testtarget.Build(t, "fsyncer")
	dir, major, minor := bpftest.BlockDir(t)
	const m = 50
	var sum summary
	r := captureWork(t, bin, probes.Config{Probes: []string{"iostall"}, IOThreshold: -1}, &sum, "-n", "0", "-direct", strconv.Itoa(m), "-dir", dir)
	c := r.Capture
	if path := c.Kernel.Paths["iostall"]; !strings.Contains(path, "from "+hook) {
		t.Errorf("iostall path %q, want block requests timed from %s", path, hook)
	}
	base := fmt.Sprintf("block_%d_%d", major, minor)
	t.Logf("target: %+v; %s counts:", sum, base)
	for k, v := range c.Counts {
		if strings.HasPrefix(k, base) {
			t.Logf("  %s = %d", k, v)
		}
	}
	if sum.DirectWrites != m {
		t.Fatalf("target made %d O_DIRECT writes, want %d", sum.DirectWrites, m)
	}
	if w := c.Counts[base+"_target_writes"]; w < m || w > m+m/10 {
		t.Errorf("%s_target_writes = %d, want %d (one request per O_DIRECT write) to %d", base, w, m, m+m/10)
	}
	if b := c.Counts[base+"_target_bytes"]; b < 4096*m {
		t.Errorf("%s_target_bytes = %d, want >= %d", base, b, 4096*m)
	}
	h := c.Histograms[base]
	if h == nil || h.Count < m {
		t.Fatalf("histogram %s %+v: want >= %d requests", base, h, m)
	}
	if th := c.Histograms[base+"_target"]; th == nil || th.Count < m || th.MaxNs == 0 {
		t.Errorf("histogram %s_target %+v: want >= %d timed requests", base, th, m)
	} else {
		t.Logf("%s_target: p50 %d ns, mean %d ns, max %d ns; target's own O_DIRECT write p50 %d ns", base, th.Percentile(0.5), th.MeanNs(), th.MaxNs, sum.DirectP50NS)
	}
	named := false
	for k := range c.Counts {
		named = named || strings.HasPrefix(k, base+"_dev_")
	}
	if !named {
		t.Errorf("no %s_dev_<name> count naming the device", base)
	}
	if w := c.Counts["syscall_pwrite64_calls"]; w < m {
		t.Errorf("%d pwrite64 calls, want >= %d", w, m)
	}
}

// Syscalls under the threshold are counted but produce no iowait stack;
// with threshold 0 every call does.
func TestThreshold(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	const n = 20
	capture := func(threshold time.Duration) *profile.Capture {
		return captureWork(t, bin, probes.Config{Probes: []string{"iostall"}, IOThreshold: threshold}, nil, "-n", strconv.Itoa(n), "-dir", dir).Capture
	}
	iowait := func(c *profile.Capture, syscall string) (calls int64) {
		for _, s := range c.Stacks {
			if s.Type == profile.TypeIOWait && s.Labels["syscall"] == syscall {
				calls += s.Count
			}
		}
		return calls
	}

	c := capture(time.Hour)
	if got := c.Counts["syscall_pwrite64_calls"]; got != n {
		t.Errorf("threshold 1h: %d pwrite64 calls counted, want %d", got, n)
	}
	if got := c.Counts["syscall_fsync_calls"]; got != n {
		t.Errorf("threshold 1h: %d fsync calls counted, want %d", got, n)
	}
	for _, s := range c.Stacks {
		if s.Type == profile.TypeIOWait {
			t.Errorf("threshold 1h: iowait stack for %d %s calls (%d ns), want none", s.Count, s.Labels["syscall"], s.Value)
		}
	}

	c = capture(0)
	if got := iowait(c, "pwrite64"); got != n {
		t.Errorf("threshold 0: %d pwrite64 calls in iowait, want all %d", got, n)
	}
	if got := iowait(c, "fsync"); got != n {
		t.Errorf("threshold 0: %d fsync calls in iowait, want all %d", got, n)
	}
}

// TestOverhead measures syscall throughput with and without the probe,
// for the target and for an unrelated process running the same loop at the
// same time on the other CPU: 1-byte pwrite64 to /dev/null (a traced
// syscall) and getppid (an untraced one), with either syscall hook. Both loops run throughout; the
// probe is attached and detached in turn, and each 1 s window with it is
// compared with the adjacent windows without it. It logs the median
// ratios. Opt in with PERFPROBE_IOSTALL_OVERHEAD=1 (about 5 min), on an otherwise idle machine with at least 2 CPUs.
func TestOverhead(t *testing.T) {
	if os.Getenv("PERFPROBE_IOSTALL_OVERHEAD") != "1" {
		t.Skip("set PERFPROBE_IOSTALL_OVERHEAD=1 to measure the probe's overhead")
	}
	bpftest.Require(t)
	bin := testtarget.Build(t, "fsyncer")
	const (
		cycles = 30
		window = 500 * time.Millisecond
		settle = 200 * time.Millisecond
	)
	pin := func(tid, cpu int) {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			t.Fatalf("pinning %d to CPU %d: %v", tid, cpu, err)
		}
	}
	dir := t.TempDir()
	for _, c := range []struct {
		raw bool
		op  string
	}{{false, "pwrite"}, {false, "getppid"}, {true, "pwrite"}, {true, "getppid"}} {
		op, hook := c.op, hookName(c.raw)
		if !c.raw && !tracefs() {
			t.Logf("%s: skipped, tracefs is not mounted", hook)
			continue
		}
		setRaw(t, c.raw)
		const loopFor = 10 * time.Minute // killed at the end
		start := func(name string, cpu int) (*testtarget.Proc, func() int64) {
			file := filepath.Join(dir, hook+"-"+op+"-"+name)
			p := testtarget.Start(t, bin, "-loop", loopFor.String(), "-loop-op", op, "-loop-counter", file)
			pin(p.TID, cpu)
			return p, func() int64 {
				b, err := os.ReadFile(file)
				if err != nil || len(b) < 8 {
					t.Fatalf("reading %s: %v", file, err)
				}
				return int64(binary.LittleEndian.Uint64(b))
			}
		}
		a, countA := start("target", 0)
		b, countB := start("unrelated", 1)
		target, err := probes.OpenTarget(a.PID)
		if err != nil {
			t.Fatal(err)
		}
		rate := func() (float64, float64) {
			a0, b0, t0 := countA(), countB(), time.Now()
			time.Sleep(window)
			a1, b1, el := countA(), countB(), time.Since(t0).Seconds()
			return float64(a1-a0) / el, float64(b1-b0) / el
		}
		var rt, ro []float64
		time.Sleep(settle)
		offA, offB := rate()
		for i := range cycles {
			s, err := probes.Start(target, probes.Config{Probes: []string{"iostall"}, IOThreshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(settle)
			onA, onB := rate()
			t0 := time.Now()
			s.Stop("duration")
			if i == 0 {
				t.Logf("%s, %s: attached in %v, stopped in %v", hook, op, s.AttachDuration(), time.Since(t0))
			}
			time.Sleep(settle)
			nextA, nextB := rate()
			ra, rb := onA/((offA+nextA)/2), onB/((offB+nextB)/2)
			rt, ro = append(rt, ra), append(ro, rb)
			t.Logf("%s, %s, cycle %d: target %.0f/s with, %.0f and %.0f/s without (%.3f); unrelated %.0f/s with, %.0f and %.0f/s without (%.3f)",
				hook, op, i, onA, offA, nextA, ra, onB, offB, nextB, rb)
			offA, offB = nextA, nextB
		}
		target.Close()
		a.Cmd.Process.Kill()
		b.Cmd.Process.Kill()
		slices.Sort(rt)
		slices.Sort(ro)
		q := func(r []float64, f float64) float64 { return r[int(f*float64(len(r)-1)+0.5)] }
		t.Logf("%s, %s: throughput with/without the probe, median (quartiles): target %.3f (%.3f-%.3f), unrelated process %.3f (%.3f-%.3f)",
			hook, op, q(rt, .5), q(rt, .25), q(rt, .75), q(ro, .5), q(ro, .25), q(ro, .75))
	}
}

// A process blocked in read(2) for the whole window is reported as in
// flight at the end (its call never returns inside the window).
func TestInFlight(t *testing.T) {
	bpftest.Require(t)
	cat := exec.Command("cat")
	in, err := cat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(); err != nil {
		t.Skipf("no cat: %v", err)
	}
	t.Cleanup(func() {
		in.Close()
		cat.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for { // until cat sits in read
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cat.Process.Pid))
		if strings.HasPrefix(string(b), "0 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cat is not blocked in read: /proc/%d/syscall = %q", cat.Process.Pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := bpftest.Capture(t, cat.Process.Pid, probes.Config{Probes: []string{"iostall"}, IOThreshold: -1}, 300*time.Millisecond)
	if got := r.Capture.Counts["syscall_read_in_flight"]; got != 1 {
		t.Errorf("syscall_read_in_flight = %d, want 1; warnings %q", got, r.Capture.Warnings)
	}
	if h := r.Capture.Histograms["syscall_read"]; h != nil {
		t.Errorf("syscall_read histogram %+v: the read never returned, want none", h)
	}
}
