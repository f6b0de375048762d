// Package blockedio diagnoses threads that wait for the disk: time in
// uninterruptible sleep (D state: disk reads, writeback, journal commits)
// and in slow file I/O syscalls, named by syscall (fsync on every write is
// its own finding), with the stacks that made them.
//
// A read or write that waits for a pipe or a socket's peer is idle, not
// stalled, so the syscall time counted is that of the calls that only
// files have: positional reads and writes, fsync and friends, open,
// fallocate. Plain read/write count through the D state they cause.
//
// Two views are scored. Per thread: a thread's disk waiting over the
// window. Per calling function (the first frame outside the kernel, the
// syscall wrappers, os and the runtimes, e.g. main.persistRecord): the
// wall time it spends in file syscalls over its whole wall time (go_wall
// when the Go runtime's wall-clock profile is there, else its threads'
// on- and off-CPU time). The caller's view is what counts for Go, whose
// goroutines move between threads, and for any program whose threads share
// the work: there one thread's share of the window dilutes a function that
// spends most of its time in fsync. A caller's share scores only with its
// absolute evidence: 200 ms of waiting, 20 calls of its syscalls, and 5%
// of one thread over the window; critical also needs 20%. The score is the
// larger of the two views; the title and Share are the thread's when that
// alone reaches a warning, else the caller's.
//
// Fsync on every write: the process makes about as many fsync-family
// calls as file writes (pwrite and friends: plain write also counts
// sockets), or one function both writes a file and fsyncs it, with five
// fsyncs a second or more.
package blockedio

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of one thread's window (or of one function's wall
// time) spent waiting for the disk, a warning at 20% and critical at 50%,
// with at least 200 ms of it over 1 s. Waiting carries no event count: for
// a thread 10 ms counts as one sample; for a caller its syscalls' calls
// count.
var thresholds = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}

// A caller's waiting must be this part of the window (of one thread's
// time) before its share makes a warning, and callerCritical before it
// makes it critical: a wrapper around fsync spends all its time in it.
const (
	callerWarn     = 0.05
	callerCritical = 0.20
)

// fileSyscalls are the traced syscalls that only files have.
var fileSyscalls = map[string]bool{
	"pread64": true, "pwrite64": true, "preadv": true, "pwritev": true, "preadv2": true, "pwritev2": true,
	"fsync": true, "fdatasync": true, "sync_file_range": true, "sync": true, "syncfs": true, "msync": true,
	"open": true, "openat": true, "openat2": true, "fallocate": true, "ftruncate": true, "copy_file_range": true,
}

// durability are the syscalls that wait for data to reach the disk.
var durability = []string{"fsync", "fdatasync", "sync_file_range", "msync", "sync", "syncfs"}

// writes are the write syscalls an fsync may follow; fileWrites those of
// them only files have.
var (
	writes     = []string{"write", "pwrite64", "writev", "pwritev", "pwritev2"}
	fileWrites = []string{"pwrite64", "pwritev", "pwritev2"}
)

// writeFrame is a user-space frame that writes: Go's file and syscall
// writers, libc's.
var writeFrame = plugins.FrameMatcher(`^os\.\(\*File\)\.(Write|WriteAt|WriteString|write|pwrite)$|^internal/poll\.\(\*FD\)\.(Write|Pwrite|Writev)$|^syscall\.(Write|write|Pwrite|pwrite)$|^(write|pwrite|pwrite64|writev|pwritev|__libc_write|__libc_pwrite|__GI___libc_write)$`)

// Plugin is the blocked-I/O diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "blocked-io" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "threads and functions waiting for the disk: D state and slow file syscalls by type (fsync on every write)"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"type:" + profile.TypeOffCPUUninterruptible, "type:" + profile.TypeIOWait},
		What: "disk waits (D state or I/O syscall timing)", Enable: "run with --probes sched,iostall"}}
}

// thread is one thread's disk waiting.
type thread struct {
	tid       int64
	name      string
	dstate    int64            // ns in D state
	iowait    int64            // ns in slow file syscalls
	bySyscall map[string]int64 // slow syscall time by name
	stacks    map[string]int64 // iowait (or D-state) stacks by value
	frames    map[string][]string
}

func (t *thread) io() int64 { return max(t.dstate, t.iowait) }

// callerIO is one calling function's disk waiting.
type callerIO struct {
	fn        string
	dstate    int64 // ns in D state on its stacks
	iowait    int64 // ns in its slow file syscalls
	bySyscall map[string]int64
	byThread  map[int64]int64
	stacks    map[string]int64
	frames    map[string][]string
	writes    bool // it writes (a write syscall or writer frame on its stacks)
	syncs     bool // it fsyncs
	// Its wall time and the part in syscalls: go_wall, or without it its
	// threads' on- and off-CPU time through it.
	wall, inIO int64
	wallFrom   string
	share      float64
	calls      int64 // its syscalls' calls, process-wide (wait/10 ms for D state alone)
	score      int
}

func (c *callerIO) io() int64 { return max(c.dstate, c.iowait) }

// spread reports whether no thread holds half of the caller's waiting.
func (c *callerIO) spread() bool {
	var top, all int64
	for _, v := range c.byThread {
		top = max(top, v)
		all += v
	}
	return len(c.byThread) > 1 && 2*top < all
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	window := ev.Window()
	if window <= 0 {
		return nil, nil
	}
	threads := map[int64]*thread{}
	get := func(tid int64) *thread {
		t := threads[tid]
		if t == nil {
			t = &thread{tid: tid, bySyscall: map[string]int64{}, stacks: map[string]int64{}, frames: map[string][]string{}}
			threads[tid] = t
		}
		return t
	}
	callers := map[string]*callerIO{}
	getCaller := func(frames []string) *callerIO {
		fn := entry(frames)
		if fn == "" {
			return nil
		}
		c := callers[fn]
		if c == nil {
			c = &callerIO{fn: fn, bySyscall: map[string]int64{}, byThread: map[int64]int64{}, stacks: map[string]int64{}, frames: map[string][]string{}}
			callers[fn] = c
		}
		return c
	}
	if c := ev.Capture; c != nil {
		for tid, th := range c.Threads {
			if th.UninterruptibleNs > 0 {
				t := get(int64(tid))
				t.dstate, t.name = int64(th.UninterruptibleNs), th.Name
			}
		}
	}
	ioStacks := map[int64]bool{}
	eachSample(ev, profile.TypeIOWait, func(tid int64, name string, labels map[string][]string, frames []string, v int64) {
		sc := ""
		if l := labels["syscall"]; len(l) > 0 {
			sc = l[0]
		}
		t := get(tid)
		t.name = name
		t.bySyscall[sc] += v
		if fileSyscalls[sc] {
			t.iowait += v
		}
		k := sc + "\x00" + strings.Join(frames, "\x00")
		t.stacks[k] += v
		t.frames[k] = frames
		ioStacks[tid] = true
		if c := getCaller(frames); c != nil {
			c.bySyscall[sc] += v
			if fileSyscalls[sc] {
				c.iowait += v
				c.byThread[tid] += v
				c.stacks[k] += v
				c.frames[k] = frames
			}
			c.writes = c.writes || slices.Contains(writes, sc)
			c.syncs = c.syncs || slices.Contains(durability, sc)
		}
	})
	// Without slow syscalls, the D-state stacks prove the wait.
	eachSample(ev, profile.TypeOffCPUUninterruptible, func(tid int64, name string, _ map[string][]string, frames []string, v int64) {
		if c := getCaller(frames); c != nil {
			c.dstate += v
			if c.iowait == 0 {
				c.byThread[tid] += v
				k := strings.Join(frames, "\x00")
				c.stacks[k] += v
				c.frames[k] = frames
			}
			c.writes = c.writes || slices.ContainsFunc(frames, writeFrame)
			c.syncs = c.syncs || slices.ContainsFunc(frames, userFsync)
		}
		if ioStacks[tid] {
			return
		}
		t := get(tid)
		t.name = name
		if ev.Capture == nil || ev.Capture.Threads[uint32(tid)] == nil {
			t.dstate += v
		}
		k := strings.Join(frames, "\x00")
		t.stacks[k] += v
		t.frames[k] = frames
	})
	var worst *thread
	var total int64
	for _, t := range threads {
		total += t.io()
		if worst == nil || t.io() > worst.io() || t.io() == worst.io() && t.tid < worst.tid {
			worst = t
		}
	}
	// The thread's view.
	var share float64
	score, gated := 0, ""
	if worst != nil && worst.io() > 0 {
		share = min(1, float64(worst.io())/float64(window))
		score, gated = thresholds.Score(share, time.Duration(worst.io()), worst.io()/int64(10*time.Millisecond), window)
	}
	// The callers' view, for Go or for threads that share the work.
	best := scoreCallers(ev, callers, window)
	if best != nil && best.score > score {
		score, gated = best.score, ""
	}
	if score < plugins.ScoreInfo {
		return nil, nil
	}
	byCaller := best != nil && (worst == nil || share < thresholds.Warn) && best.score == score
	who := ""
	if worst != nil {
		who = fmt.Sprintf("thread %s (tid %d)", worst.name, worst.tid)
	}
	f := plugins.Finding{
		Category: string(plugins.CatBlockedIO),
		Score:    score,
		Query:    plugins.Query(profile.TypeIOWait, ""),
	}
	if worst != nil {
		f.Figures = []plugins.Figure{
			plugins.Fig("thread_share", 100*share, "%", fmt.Sprintf("window %s of %s", window.Round(time.Millisecond), who)),
			plugins.Fig("io_wait_ns", float64(worst.io()), "ns", who+": D state or slow file syscalls, the larger"),
			plugins.Fig("dstate_ns", float64(worst.dstate), "ns", who),
			plugins.Fig("file_syscalls_ns", float64(worst.iowait), "ns", who+", syscalls over the I/O threshold"),
			plugins.Fig("all_threads_ns", float64(total), "ns", fmt.Sprintf("%d threads", len(threads))),
		}
	}
	var d strings.Builder
	var names []string // the subject's slow syscalls, most time first
	var bySyscall map[string]int64
	var subject string
	if byCaller {
		f.Share = best.share
		subject = best.fn
		bySyscall = best.bySyscall
		f.Figures = append([]plugins.Figure{plugins.Fig("share", 100*best.share, "%", fmt.Sprintf("%s of %s, %s", best.wallFrom, best.fn, plugins.Seconds(best.wall)))}, f.Figures...)
		fmt.Fprintf(&d, "%s waited for the disk %s of its %s of wall time (%s in slow file syscalls, %s in D state, over %d threads)",
			best.fn, plugins.Pct(best.share), plugins.Seconds(best.wall), plugins.Seconds(best.iowait), plugins.Seconds(best.dstate), len(best.byThread))
		if worst != nil {
			fmt.Fprintf(&d, "; the thread that waited most, %s, %s of the window", who, plugins.Pct(share))
		}
	} else {
		f.Share = share
		subject = who
		bySyscall = worst.bySyscall
		f.Figures = append([]plugins.Figure{plugins.Fig("share", 100*share, "%", fmt.Sprintf("window %s of %s", window.Round(time.Millisecond), who))}, f.Figures...)
		fmt.Fprintf(&d, "%s waited for the disk %s of the %s window (%s in D state, %s in slow file syscalls)",
			who, plugins.Pct(share), window.Round(time.Millisecond), plugins.Seconds(worst.dstate), plugins.Seconds(worst.iowait))
	}
	for sc := range bySyscall {
		names = append(names, sc)
	}
	sort.Slice(names, func(a, b int) bool {
		if bySyscall[names[a]] != bySyscall[names[b]] {
			return bySyscall[names[a]] > bySyscall[names[b]]
		}
		return names[a] < names[b]
	})
	var parts []string
	for _, sc := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %s", sc, plugins.Seconds(bySyscall[sc])))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&d, "; slow syscalls: %s", strings.Join(parts, ", "))
	}
	d.WriteString(".")
	if best != nil {
		f.Figures = append(f.Figures,
			plugins.Fig("caller_share", 100*best.share, "%", best.wallFrom+" of "+best.fn),
			plugins.Fig("caller_io_wait_ns", float64(best.io()), "ns", best.fn+": D state or slow file syscalls, the larger"),
			plugins.Fig("caller_wall_ns", float64(best.wall), "ns", best.wallFrom+" through "+best.fn))
		if !byCaller {
			fmt.Fprintf(&d, " %s, which makes the calls, waited for the disk %s of its %s of wall time (%s).", best.fn, plugins.Pct(best.share), plugins.Seconds(best.wall), best.wallFrom)
		}
	}
	hs := syscallHists(ev)
	for _, h := range hs[:min(3, len(hs))] {
		f.Figures = append(f.Figures, plugins.Fig("syscall_"+h.name+"_ns", float64(h.h.SumNs), "ns",
			fmt.Sprintf("%d calls, p50 %s, p99 %s, all threads", h.h.Count, plugins.Seconds(int64(h.h.Percentile(0.5))), plugins.Seconds(int64(h.h.Percentile(0.99))))))
	}
	// fsync on every write: as many fsyncs as file writes process-wide,
	// or one function that writes and fsyncs.
	syncs, writeCalls, fileWriteCalls := calls(ev, durability), calls(ev, writes), calls(ev, fileWrites)
	rate := float64(syncs) / window.Seconds()
	ratio := syncs > 0 && writeCalls > 0 && float64(syncs) >= 0.5*float64(writeCalls)
	fileRatio := syncs > 0 && fileWriteCalls > 0 && float64(syncs) >= 0.5*float64(fileWriteCalls)
	sameCaller := best != nil && best.writes && best.syncs
	perWrite := syncs > 0 && rate >= 5 && (ratio || fileRatio || sameCaller)
	top := ""
	if len(names) > 0 {
		top = names[0]
	}
	subjectShare, of := share, "the time"
	if byCaller {
		subjectShare, of = best.share, "its time"
	}
	switch {
	case perWrite:
		f.Title = fmt.Sprintf("fsync on every write: %s waits for the disk %s of %s", subject, plugins.Pct(subjectShare), of)
		switch {
		case ratio:
			f.Title += fmt.Sprintf(" (%d fsyncs for %d writes)", syncs, writeCalls)
			fmt.Fprintf(&d, " It syncs on every write: %d fsync-family calls for %d writes (%.0f/s).", syncs, writeCalls, rate)
			f.Figures = append(f.Figures, plugins.Fig("fsyncs_per_write", float64(syncs)/float64(writeCalls), "count", fmt.Sprintf("%d fsyncs, %d writes", syncs, writeCalls)))
		case fileRatio:
			f.Title += fmt.Sprintf(" (%d fsyncs for %d file writes)", syncs, fileWriteCalls)
			fmt.Fprintf(&d, " It syncs on every write: %d fsync-family calls for %d positional file writes (%.0f/s).", syncs, fileWriteCalls, rate)
			f.Figures = append(f.Figures, plugins.Fig("fsyncs_per_write", float64(syncs)/float64(fileWriteCalls), "count", fmt.Sprintf("%d fsyncs, %d file writes", syncs, fileWriteCalls)))
		default:
			f.Title += fmt.Sprintf(" (%d fsyncs)", syncs)
			fmt.Fprintf(&d, " %s writes the file and fsyncs it: %d fsync-family calls (%.0f/s); the process's %d write calls include its sockets', so they are not compared.", best.fn, syncs, rate, writeCalls)
		}
		f.Figures = append(f.Figures, plugins.Fig("fsyncs_per_s", rate, "/s", fmt.Sprintf("%d fsync-family calls", syncs)))
		f.Advice = "Sync less often: write a batch of records, then fsync once for all of them (group commit), fsync on a timer if a few milliseconds of data may be lost, or use fdatasync when the file's size and times need not be durable; keep the fsync off the request path (one writer goroutine or thread that batches)."
	case top != "":
		f.Title = fmt.Sprintf("%s waits for the disk %s of %s, mostly in %s", subject, plugins.Pct(subjectShare), of, top)
	default:
		f.Title = fmt.Sprintf("%s waits for the disk %s of %s (D state)", subject, plugins.Pct(subjectShare), of)
	}
	if f.Advice == "" {
		f.Advice = "The thread waits for storage: read and write larger blocks, keep hot data in memory (a cache), prefetch (readahead, posix_fadvise), move the I/O off the latency path (a worker pool, io_uring), or use faster storage; the block_* histograms in capture.json show the disk's own latency."
	}
	var stacks map[string]int64
	var frames map[string][]string
	if byCaller {
		stacks, frames = best.stacks, best.frames
	} else {
		stacks, frames = worst.stacks, worst.frames
	}
	keys := make([]string, 0, len(stacks))
	for k := range stacks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if stacks[keys[a]] != stacks[keys[b]] {
			return stacks[keys[a]] > stacks[keys[b]]
		}
		return keys[a] < keys[b]
	})
	for _, k := range keys[:min(3, len(keys))] {
		f.Stacks = append(f.Stacks, frames[k])
	}
	switch {
	case byCaller:
		f.Key = []string{best.fn}
		f.Query = plugins.Query(profile.TypeIOWait, "^"+regexp.QuoteMeta(best.fn)+"$")
	case len(f.Stacks) > 0:
		if e := entry(f.Stacks[0]); e != "" {
			f.Key = []string{e}
			f.Title += " from " + plugins.ShortFunc(e)
			f.Query = plugins.Query(profile.TypeIOWait, "^"+regexp.QuoteMeta(e)+"$")
		}
	}
	if gated != "" {
		fmt.Fprintf(&d, " Kept at info: %s.", gated)
	}
	f.Detail = d.String()
	targetIOs := uint64(0)
	if c := ev.Capture; c != nil {
		for name, h := range c.Histograms {
			if strings.HasPrefix(name, "block_") && strings.HasSuffix(name, "_target") {
				targetIOs += h.Count
			}
		}
	}
	var dstate, iowait int64
	if byCaller {
		dstate, iowait = best.dstate, best.iowait
	} else {
		dstate, iowait = worst.dstate, worst.iowait
	}
	signals := []plugins.Signal{
		{Name: "D state", Agrees: dstate >= int64(thresholds.MinValue), Detail: plugins.Seconds(dstate)},
		{Name: "slow file syscalls", Agrees: iowait >= int64(thresholds.MinValue), Detail: plugins.Seconds(iowait)},
		{Name: "block requests of the target", Agrees: targetIOs > 0, Detail: fmt.Sprintf("%d requests", targetIOs)},
	}
	if best != nil && best.wallFrom == profile.TypeGoWall {
		signals = append(signals, plugins.Signal{Name: "go_wall in file syscalls", Agrees: float64(best.inIO) >= thresholds.Warn*float64(best.wall), Detail: fmt.Sprintf("%s of %s's %s", plugins.Seconds(best.inIO), best.fn, plugins.Seconds(best.wall))})
	}
	f.Confidence = plugins.Agreement(signals...)
	return []plugins.Finding{f}, nil
}

// userFsync is a user-space fsync-family frame.
func userFsync(f string) bool {
	return !strings.HasSuffix(f, "_[k]") && plugins.FrameIn(f, plugins.CatFsync)
}

// scoreCallers scores the callers' view where it applies (go_wall, or the
// caller's waiting spread over threads) and returns the caller with the
// highest score (then most waiting) whose absolute evidence is there, or
// nil.
func scoreCallers(ev *plugins.Evidence, callers map[string]*callerIO, window time.Duration) *callerIO {
	goWall := ev.HasType(profile.TypeGoWall)
	var cands []*callerIO
	for _, c := range callers {
		if c.io() > 0 && (goWall || c.spread()) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	// The callers' wall time: go_wall of every stack through them, and
	// the part of it in a syscall made below them; without go_wall their
	// threads' on- and off-CPU time through them.
	types := []string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeOffCPURunqueue}
	from := "on- and off-CPU time"
	if goWall {
		types, from = []string{profile.TypeGoWall}, profile.TypeGoWall
	}
	for _, typ := range types {
		ev.Each(typ, func(_ *pprof.Sample, frames []string, v int64) {
			if profile.IsProfilerStack(frames) {
				return
			}
			for i, fr := range frames {
				c := callers[fr]
				if c == nil || slices.Contains(frames[:i], fr) {
					continue
				}
				c.wall += v
				below := frames[:i]
				if goWall && slices.ContainsFunc(below, inSyscall) && !slices.Contains(below, "runtime.gopark") {
					c.inIO += v
					c.writes = c.writes || slices.ContainsFunc(below, writeFrame)
					c.syncs = c.syncs || slices.ContainsFunc(below, userFsync)
				}
			}
		})
	}
	var best *callerIO
	for _, c := range cands {
		c.wallFrom = from
		wait := c.io()
		if goWall {
			// go_wall samples at 99 Hz: the exact syscall time counts
			// when it says more.
			wait = max(c.inIO, min(c.io(), c.wall))
		}
		c.share = float64(wait) / float64(max(c.wall, wait))
		for sc := range c.bySyscall {
			if fileSyscalls[sc] {
				c.calls += int64(ev.Count("syscall_" + sc + "_calls"))
			}
		}
		if c.calls == 0 {
			c.calls = c.io() / int64(10*time.Millisecond)
		}
		s, g := thresholds.Score(c.share, time.Duration(c.io()), c.calls, window)
		switch {
		case g != "":
		case float64(c.io()) < callerWarn*float64(window):
			g = "under " + plugins.Pct(callerWarn) + " of the window"
		case float64(c.io()) < callerCritical*float64(window) && s >= plugins.ScoreCritical:
			s = plugins.ScoreCritical - 1
		}
		if g != "" {
			continue // a caller's share counts only with its evidence
		}
		c.score = s
		if best == nil || c.score > best.score || c.score == best.score && (c.io() > best.io() || c.io() == best.io() && c.fn < best.fn) {
			best = c
		}
	}
	if best == nil || best.score < plugins.ScoreInfo {
		return nil
	}
	return best
}

// inSyscall is a user-space frame that enters the kernel.
func inSyscall(f string) bool {
	return !strings.HasSuffix(f, "_[k]") && plugins.FrameIn(f, plugins.CatSyscall)
}

// eachSample calls fn for every sample of typ with a value, with its
// thread and the evidence's cached frames.
func eachSample(ev *plugins.Evidence, typ string, fn func(tid int64, thread string, labels map[string][]string, frames []string, v int64)) {
	ev.Each(typ, func(s *pprof.Sample, frames []string, v int64) {
		var tid int64
		if t := s.NumLabel["tid"]; len(t) > 0 {
			tid = t[0]
		}
		name := ""
		if n := s.Label["thread"]; len(n) > 0 {
			name = n[0]
		}
		fn(tid, name, s.Label, frames, v)
	})
}

type namedHist struct {
	name string
	h    *profile.Histogram
}

// syscallHists are the I/O syscall histograms with time in them, most
// time first.
func syscallHists(ev *plugins.Evidence) []namedHist {
	var out []namedHist
	if ev.Capture == nil {
		return nil
	}
	for name, h := range ev.Capture.Histograms {
		if sc, ok := strings.CutPrefix(name, "syscall_"); ok && h.SumNs > 0 {
			out = append(out, namedHist{sc, h})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].h.SumNs != out[b].h.SumNs {
			return out[a].h.SumNs > out[b].h.SumNs
		}
		return out[a].name < out[b].name
	})
	return out
}

// calls sums the calls of the named syscalls.
func calls(ev *plugins.Evidence, names []string) uint64 {
	var n uint64
	for _, sc := range names {
		n += ev.Count("syscall_" + sc + "_calls")
	}
	return n
}

// entry is the first frame from the leaf outside the kernel, the syscall
// wrappers and the runtimes: the code that asked for the I/O.
func entry(frames []string) string {
	for _, f := range frames {
		if strings.HasSuffix(f, "_[k]") || plugins.FrameIn(f, plugins.CatSyscall) || plugins.FrameIn(f, plugins.CatFsync) ||
			strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "internal/") || strings.HasPrefix(f, "syscall.") ||
			strings.HasPrefix(f, "os.") || strings.HasPrefix(f, "__") || f == "[unknown]" {
			continue
		}
		return f
	}
	return ""
}
