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
	"github.com/perfprobe/perfprobe/internal/tracefs"
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
	SlowReads    int    `json:"slow_reads"`
	SlowReadMin  int64  `json:"slow_read_min_ns"`
	FastReads    int    `json:"fast_reads"`
	FastReadMax  int64  `json:"fast_read_max_ns"`
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

func hookName(raw bool) string {
	if raw {
		return "raw"
	}
	return "tracepoints"
}

// eachHook runs test with each way of timing syscalls: the per-syscall
// tracepoints (the default; they need tracefs, which the probe mounts
// privately where the host has none) and the raw sys_enter/sys_exit ones.
// The tracepoints subtest fails when the probe fell back to the raw
// tracepoints, and under PERFPROBE_REQUIRE_BPF=1 when it cannot run.
func eachHook(t *testing.T, test func(t *testing.T) *profile.Capture) {
	for _, raw := range []bool{false, true} {
		t.Run(hookName(raw), func(t *testing.T) {
			if !raw {
				bpftest.RequireTracefs(t)
			}
			setRaw(t, raw)
			c := test(t)
			want := "syscalls timed from per-syscall tracepoints"
			if raw {
				want = "syscalls timed from raw sys_enter/sys_exit"
			}
			if path := c.Kernel.Paths["iostall"]; !strings.Contains(path, want) {
				t.Errorf("iostall path %q, want %q", path, want)
			}
		})
	}
}

func setRaw(t *testing.T, raw bool) {
	old := iostall.RawSyscalls
	iostall.RawSyscalls = raw
	t.Cleanup(func() { iostall.RawSyscalls = old })
}

// iowait sums the capture's iowait stacks of syscall: calls and ns.
func iowait(c *profile.Capture, syscall string) (calls, ns int64) {
	for _, s := range c.Stacks {
		if s.Type == profile.TypeIOWait && s.Labels["syscall"] == syscall {
			calls += s.Count
			ns += s.Value
		}
	}
	return calls, ns
}

// iowaitUnder returns the iowait ns of syscall whose stack holds fn, and
// all the iowait ns of syscall, from the symbolized profile.
func iowaitUnder(r bpftest.Result, syscall, fn string) (matched, total int64) {
	i := profile.ValueIndex(r.Profile, profile.TypeIOWait)
	for _, s := range r.Profile.Sample {
		if v := s.Value[i]; v != 0 && slices.Equal(s.Label["syscall"], []string{syscall}) {
			total += v
			if slices.Contains(profile.Frames(s), fn) {
				matched += v
			}
		}
	}
	return matched, total
}

// within reports whether got is within rel (a fraction) plus abs of want.
func within(got, want, rel float64, abs time.Duration) bool {
	return math.Abs(got-want) <= rel*want+float64(abs)
}

// clockSlack is how much longer the target's clock around a syscall runs
// than the probe's, which starts and stops inside the kernel: Go's
// entersyscall/exitsyscall, time.Now and the probe's own programs, a few
// µs (~2 µs here) on any disk. Comparisons with the target's figures allow
// it on top of their relative tolerance, so they hold as well for an fsync
// of 20 µs (a disk that acknowledges from a cache) as of 10 ms.
const clockSlack = 5 * time.Microsecond

// N fsyncs from main.doFsync, with either syscall hook and every syscall
// given its stack (threshold 0), so nothing depends on how fast the disk
// is: the probe counts exactly N fsyncs and N pwrite64s; its fsync p50 is
// within 25% (+ clockSlack) of the target's own p50 and its exact mean
// (sum/count) within 10% (+ clockSlack) of the target's; every fsync and
// all its time is in iowait under main.doFsync, every pwrite64 under
// main.writeSmall.
func TestFsync(t *testing.T) {
	bpftest.Require(t)
	eachHook(t, testFsync)
}

func testFsync(t *testing.T) *profile.Capture {
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	// Odd, so that the median is one call: with an even count it is the
	// mean of the two middle ones, which a loaded disk can put 50% apart
	// (seen under load: one at most 229 µs, the other over 400 µs), and no slot of the histogram holds it.
	const n = 51
	var sum summary
	r := captureWork(t, bin, probes.Config{Probes: []string{"iostall"}, IOThreshold: 0}, &sum, "-n", strconv.Itoa(n), "-dir", dir)
	c := r.Capture
	t.Logf("target: %+v; attached in %.0f ms", sum, 1000*c.SelfCost.AttachSeconds)

	h := c.Histograms["syscall_fsync"]
	if h == nil || h.Count != n || sum.Fsyncs != n {
		t.Fatalf("fsync histogram %+v, target did %d: want exactly %d fsyncs", h, sum.Fsyncs, n)
	}
	// The histogram's slots are at most 25% wide and interpolated, so its
	// p50 can be held to the target's own p50 directly; the exact mean
	// (sum/count) is checked too.
	p50, own := float64(h.Percentile(0.5)), float64(sum.FsyncP50NS)
	if !within(p50, own, 0.25, clockSlack) && !bpftest.Emulated() {
		t.Errorf("fsync p50 %.0f ns, target measured %.0f ns: off by %.1f%%, want <= 25%% + %v", p50, own, 100*(p50-own)/own, clockSlack)
	}
	mean, ownMean := float64(h.MeanNs()), float64(sum.FsyncMeanNS)
	if !within(mean, ownMean, 0.10, clockSlack) && !bpftest.Emulated() {
		t.Errorf("fsync mean %.0f ns (exact sum/count), target measured %.0f ns: off by %.1f%%, want <= 10%% + %v", mean, ownMean, 100*(mean-ownMean)/ownMean, clockSlack)
	}
	if c.Counts["syscall_fsync_errors"] != 0 {
		t.Errorf("%d fsync errors, want 0", c.Counts["syscall_fsync_errors"])
	}
	if w := c.Counts["syscall_pwrite64_calls"]; w != n {
		t.Errorf("%d pwrite64 calls, want %d", w, n)
	}
	if b := c.Counts["syscall_pwrite64_bytes"]; b != 64*n {
		t.Errorf("%d pwrite64 bytes, want %d", b, 64*n)
	}
	for k, v := range c.Drops {
		if v != 0 {
			t.Errorf("drop %s = %d, want 0", k, v)
		}
	}

	// Threshold 0: every call is in iowait, with the time the histogram has.
	calls, ns := iowait(c, "fsync")
	if calls != n || uint64(ns) != h.SumNs {
		t.Errorf("iowait has %d fsyncs, %d ns; want all %d, %d ns (the histogram's sum)", calls, ns, n, h.SumNs)
	}
	if under, all := iowaitUnder(r, "fsync", "main.doFsync"); all == 0 || under != all {
		t.Errorf("main.doFsync holds %d of %d ns of fsync iowait, want all of it", under, all)
	}
	if calls, _ := iowait(c, "pwrite64"); calls != n {
		t.Errorf("iowait has %d pwrite64s, want %d", calls, n)
	}
	if under, all := iowaitUnder(r, "pwrite64", "main.writeSmall"); all == 0 || under != all {
		t.Errorf("main.writeSmall holds %d of %d ns of pwrite64 iowait, want all of it", under, all)
	}
	t.Logf("fsync p50 %.0f ns (%+.0f%% vs own %.0f), mean %.0f ns (own %.0f), max %d ns; counts %v",
		p50, 100*(p50-own)/own, own, mean, ownMean, h.MaxNs, c.Counts)
	return c
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
// those at or over it do. The target plants its own slow calls, so this
// holds on any disk: K pipe reads that block slowWait (main.slowRead) and K
// that return at once (main.fastRead). With the threshold at slowWait/6
// exactly the K slow reads are in iowait, with at least the threshold
// each; with 1h none of its calls are; with 0 all of them are.
func TestThreshold(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	const (
		n, k      = 20, 5
		slowWait  = 60 * time.Millisecond
		threshold = slowWait / 6
	)
	capture := func(threshold time.Duration) (bpftest.Result, summary) {
		var sum summary
		r := captureWork(t, bin, probes.Config{Probes: []string{"iostall"}, IOThreshold: threshold}, &sum,
			"-n", strconv.Itoa(n), "-dir", dir, "-slow-reads", strconv.Itoa(k), "-slow-read-wait", slowWait.String())
		if sum.Fsyncs != n || sum.SlowReads != k || sum.FastReads != k {
			t.Fatalf("target: %+v; want %d fsyncs and %d slow and fast reads", sum, n, k)
		}
		return r, sum
	}

	r, sum := capture(threshold)
	c := r.Capture
	t.Logf("threshold %v: target %+v", threshold, sum)
	if sum.SlowReadMin < int64(threshold) || sum.FastReadMax >= int64(threshold) {
		t.Fatalf("target's reads: slow ones >= %d ns, fast ones <= %d ns; the test needs them on either side of the %v threshold", sum.SlowReadMin, sum.FastReadMax, threshold)
	}
	if got := c.Counts["syscall_read_calls"]; got < 2*k {
		t.Errorf("%d read calls counted, want >= %d", got, 2*k)
	}
	if calls, ns := iowait(c, "read"); calls != k || ns < k*int64(slowWait)*9/10 {
		t.Errorf("iowait has %d reads, %d ns; want the %d slow ones, >= %d ns", calls, ns, k, k*int64(slowWait)*9/10)
	}
	if under, all := iowaitUnder(r, "read", "main.slowRead"); all == 0 || under != all {
		t.Errorf("main.slowRead holds %d of %d ns of read iowait, want all of it", under, all)
	}
	for _, s := range c.Stacks {
		if s.Type == profile.TypeIOWait && s.Value < s.Count*int64(threshold) {
			t.Errorf("iowait %s: %d calls, %d ns: some under the %v threshold", s.Labels["syscall"], s.Count, s.Value, threshold)
		}
	}

	r, _ = capture(time.Hour)
	c = r.Capture
	for _, sc := range []string{"pwrite64", "fsync"} {
		if got := c.Counts["syscall_"+sc+"_calls"]; got != n {
			t.Errorf("threshold 1h: %d %s calls counted, want %d", got, sc, n)
		}
	}
	for _, s := range c.Stacks {
		if s.Type == profile.TypeIOWait {
			t.Errorf("threshold 1h: iowait stack for %d %s calls (%d ns), want none", s.Count, s.Labels["syscall"], s.Value)
		}
	}

	r, _ = capture(0)
	c = r.Capture
	for _, sc := range []string{"pwrite64", "fsync"} {
		if got, _ := iowait(c, sc); got != n {
			t.Errorf("threshold 0: %d %s calls in iowait, want all %d", got, sc, n)
		}
	}
	if got, _ := iowait(c, "read"); got < 2*k {
		t.Errorf("threshold 0: %d read calls in iowait, want >= %d", got, 2*k)
	}
	if under, _ := iowaitUnder(r, "read", "main.fastRead"); under == 0 {
		t.Error("threshold 0: no read iowait under main.fastRead")
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
		if fs, err := tracefs.Open(); !c.raw && err != nil {
			t.Logf("%s: skipped: %v", hook, err)
			continue
		} else if err == nil {
			fs.Close()
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

// N fsyncs from main.doFsync, drained every 10 ms while they run, with
// either syscall hook and every syscall given its stack: summed over the
// windows, the probe counts exactly N fsyncs and N pwrite64s, all in
// iowait with the time the histograms have, and no exit without its entry
// but the target's first (a syscall in flight at a switch counts, whole, in
// the window where it returns).
func TestDrain(t *testing.T) {
	bpftest.Require(t)
	eachHook(t, testDrain)
}

func testDrain(t *testing.T) *profile.Capture {
	bin := testtarget.Build(t, "fsyncer")
	dir, _, _ := bpftest.BlockDir(t)
	const n = 500
	p, release := testtarget.StartHeld(t, bin, "-n", strconv.Itoa(n), "-dir", dir)
	target, err := probes.OpenTarget(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	s, err := probes.Start(target, probes.Config{Probes: []string{"iostall"}, IOThreshold: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release()
	done := make(chan struct{})
	var sum summary
	go func() {
		defer close(done)
		if err := p.Wait(&sum); err != nil {
			t.Error(err)
		}
	}()
	windows := bpftest.Windows(t, s, 10*time.Millisecond, done)
	var fsyncs, writes, unpaired, histNs, with uint64
	var calls, ns int64
	for _, c := range windows {
		fsyncs += c.Counts["syscall_fsync_calls"]
		writes += c.Counts["syscall_pwrite64_calls"]
		unpaired += c.Counts["syscalls_unpaired_exits"]
		if h := c.Histograms["syscall_fsync"]; h != nil {
			histNs += h.SumNs
			with++
		}
		k, v := iowait(c, "fsync")
		calls, ns = calls+k, ns+v
		for k, v := range c.Drops {
			if v != 0 {
				t.Errorf("drop %s = %d", k, v)
			}
		}
	}
	t.Logf("target: %d fsyncs; %d windows, %d with fsyncs: %d fsyncs, %d pwrite64s, %d in iowait", sum.Fsyncs, len(windows), with, fsyncs, writes, calls)
	if sum.Fsyncs != n || fsyncs != n || writes != n || calls != n {
		t.Errorf("target did %d fsyncs; windows count %d fsyncs, %d pwrite64s, %d fsyncs in iowait: want exactly %d each", sum.Fsyncs, fsyncs, writes, calls, n)
	}
	if uint64(ns) != histNs {
		t.Errorf("fsync iowait %d ns over the windows, histograms %d ns: want the same", ns, histNs)
	}
	// The read of the line that releases the target began before the probe
	// attached: its exit is the one allowed without its entry.
	if unpaired > 1 {
		t.Errorf("%d syscall exits without their entry: a syscall in flight at a switch was lost", unpaired)
	}
	if with < 3 {
		t.Errorf("fsyncs in %d windows only: want them spread over several", with)
	}
	return windows[len(windows)-1]
}
