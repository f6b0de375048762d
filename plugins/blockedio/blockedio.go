// Package blockedio diagnoses threads that wait for the disk: time in
// uninterruptible sleep (D state: disk reads, writeback, journal commits)
// and in slow file I/O syscalls, named by syscall (fsync on every write is
// its own finding), with the stacks that made them.
//
// A read or write that waits for a pipe or a socket's peer is idle, not
// stalled, so the syscall time counted is that of the calls that only
// files have: positional reads and writes, fsync and friends, open,
// fallocate. Plain read/write count through the D state they cause.
package blockedio

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of one thread's window spent waiting for the
// disk, a warning at 20% and critical at 50%, with at least 200 ms of it
// over 1 s. Waiting carries no event count: 10 ms counts as one sample.
var thresholds = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}

// fileSyscalls are the traced syscalls that only files have.
var fileSyscalls = map[string]bool{
	"pread64": true, "pwrite64": true, "preadv": true, "pwritev": true, "preadv2": true, "pwritev2": true,
	"fsync": true, "fdatasync": true, "sync_file_range": true, "sync": true, "syncfs": true, "msync": true,
	"open": true, "openat": true, "openat2": true, "fallocate": true, "ftruncate": true, "copy_file_range": true,
}

// durability are the syscalls that wait for data to reach the disk.
var durability = []string{"fsync", "fdatasync", "sync_file_range", "msync", "sync", "syncfs"}

// writes are the write syscalls an fsync may follow.
var writes = []string{"write", "pwrite64", "writev", "pwritev", "pwritev2"}

// Plugin is the blocked-I/O diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "blocked-io" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "threads waiting for the disk: D state and slow file syscalls by type (fsync on every write)"
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
	})
	// Without slow syscalls, the D-state stacks prove the wait.
	eachSample(ev, profile.TypeOffCPUUninterruptible, func(tid int64, name string, _ map[string][]string, frames []string, v int64) {
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
	if worst == nil || worst.io() == 0 {
		return nil, nil
	}
	share := min(1, float64(worst.io())/float64(window))
	score, gated := thresholds.Score(share, time.Duration(worst.io()), worst.io()/int64(10*time.Millisecond), window)
	if score < plugins.ScoreInfo {
		return nil, nil
	}
	who := fmt.Sprintf("thread %s (tid %d)", worst.name, worst.tid)
	f := plugins.Finding{
		Category: string(plugins.CatBlockedIO),
		Score:    score,
		Share:    share,
		Figures: []plugins.Figure{
			plugins.Fig("share", 100*share, "%", fmt.Sprintf("window %s of %s", window.Round(time.Millisecond), who)),
			plugins.Fig("io_wait_ns", float64(worst.io()), "ns", who+": D state or slow file syscalls, the larger"),
			plugins.Fig("dstate_ns", float64(worst.dstate), "ns", who),
			plugins.Fig("file_syscalls_ns", float64(worst.iowait), "ns", who+", syscalls over the I/O threshold"),
			plugins.Fig("all_threads_ns", float64(total), "ns", fmt.Sprintf("%d threads", len(threads))),
		},
		Query: plugins.Query(profile.TypeIOWait, ""),
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s waited for the disk %s of the %s window (%s in D state, %s in slow file syscalls)",
		who, plugins.Pct(share), window.Round(time.Millisecond), plugins.Seconds(worst.dstate), plugins.Seconds(worst.iowait))
	// By syscall: this thread's slow calls, and the process's histograms.
	var names []string
	for sc := range worst.bySyscall {
		names = append(names, sc)
	}
	sort.Slice(names, func(a, b int) bool { return worst.bySyscall[names[a]] > worst.bySyscall[names[b]] })
	var parts []string
	for _, sc := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %s", sc, plugins.Seconds(worst.bySyscall[sc])))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&d, "; slow syscalls: %s", strings.Join(parts, ", "))
	}
	hs := syscallHists(ev)
	for _, h := range hs[:min(3, len(hs))] {
		f.Figures = append(f.Figures, plugins.Fig("syscall_"+h.name+"_ns", float64(h.h.SumNs), "ns",
			fmt.Sprintf("%d calls, p50 %s, p99 %s, all threads", h.h.Count, plugins.Seconds(int64(h.h.Percentile(0.5))), plugins.Seconds(int64(h.h.Percentile(0.99))))))
	}
	d.WriteString(".")
	// fsync on every write.
	syncs, writeCalls := calls(ev, durability), calls(ev, writes)
	perWrite := syncs > 0 && writeCalls > 0 && float64(syncs) >= 0.5*float64(writeCalls) && float64(syncs)/window.Seconds() >= 5
	top := ""
	if len(names) > 0 {
		top = names[0]
	}
	switch {
	case perWrite:
		f.Title = fmt.Sprintf("fsync on every write: %s waits for the disk %s of the time (%d fsyncs for %d writes)", who, plugins.Pct(share), syncs, writeCalls)
		fmt.Fprintf(&d, " It syncs on every write: %d fsync-family calls for %d writes (%.0f/s).", syncs, writeCalls, float64(syncs)/window.Seconds())
		f.Advice = "Sync less often: write a batch of records, then fsync once for all of them (group commit), fsync on a timer if a few milliseconds of data may be lost, or use fdatasync when the file's size and times need not be durable; keep the fsync off the request path (one writer goroutine or thread that batches)."
		f.Figures = append(f.Figures, plugins.Fig("fsyncs_per_write", float64(syncs)/float64(writeCalls), "count", fmt.Sprintf("%d fsyncs, %d writes", syncs, writeCalls)))
	case top != "":
		f.Title = fmt.Sprintf("%s waits for the disk %s of the time, mostly in %s", who, plugins.Pct(share), top)
	default:
		f.Title = fmt.Sprintf("%s waits for the disk %s of the time (D state)", who, plugins.Pct(share))
	}
	if f.Advice == "" {
		f.Advice = "The thread waits for storage: read and write larger blocks, keep hot data in memory (a cache), prefetch (readahead, posix_fadvise), move the I/O off the latency path (a worker pool, io_uring), or use faster storage; the block_* histograms in capture.json show the disk's own latency."
	}
	keys := make([]string, 0, len(worst.stacks))
	for k := range worst.stacks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if worst.stacks[keys[a]] != worst.stacks[keys[b]] {
			return worst.stacks[keys[a]] > worst.stacks[keys[b]]
		}
		return keys[a] < keys[b]
	})
	for _, k := range keys[:min(3, len(keys))] {
		f.Stacks = append(f.Stacks, worst.frames[k])
	}
	if len(f.Stacks) > 0 {
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
	f.Confidence = plugins.Agreement(
		plugins.Signal{Name: "D state", Agrees: worst.dstate >= int64(thresholds.MinValue), Detail: plugins.Seconds(worst.dstate)},
		plugins.Signal{Name: "slow file syscalls", Agrees: worst.iowait >= int64(thresholds.MinValue), Detail: plugins.Seconds(worst.iowait)},
		plugins.Signal{Name: "block requests of the target", Agrees: targetIOs > 0, Detail: fmt.Sprintf("%d requests", targetIOs)},
	)
	return []plugins.Finding{f}, nil
}

// eachSample calls fn for every sample of typ with a value.
func eachSample(ev *plugins.Evidence, typ string, fn func(tid int64, thread string, labels map[string][]string, frames []string, v int64)) {
	p := ev.Profile
	if p == nil {
		return
	}
	j := profile.ValueIndex(p, typ)
	if j < 0 {
		return
	}
	for _, s := range p.Sample {
		v := s.Value[j]
		if v == 0 {
			continue
		}
		var tid int64
		if t := s.NumLabel["tid"]; len(t) > 0 {
			tid = t[0]
		}
		name := ""
		if n := s.Label["thread"]; len(n) > 0 {
			name = n[0]
		}
		fn(tid, name, s.Label, profile.Frames(s), v)
	}
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
