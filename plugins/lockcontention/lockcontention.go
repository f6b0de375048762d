// Package lockcontention diagnoses time spent waiting for locks.
//
// Go parks a goroutine that waits for a sync.Mutex without blocking its
// thread, so the kernel (and the eBPF off-CPU stacks) do not see the
// wait; fgprof's wall-clock profile (go_wall) does, as goroutines sitting
// in sync.(*Mutex).Lock. The plugin reads, where the capture has them:
// go_wall per goroutine group, the Go block profile's lock waits
// (go_block_delay) and the mutex profile (go_mutex_delay: the stacks that
// held the lock, when the target turned mutex profiling on), and for
// other programs threads blocked off CPU in pthread mutexes and futex lock
// paths (offcpu_blocked).
package lockcontention

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of one goroutine group's (or one thread's) time
// spent waiting for a lock, a warning at 20% and critical at 50%, with at
// least 200 ms of waiting in 20 samples over 1 s.
var thresholds = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}

// Plugin is the lock-contention diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "lock-contention" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "time goroutines and threads wait for mutexes, with the waiting and the holding stacks"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{
		Any:    []string{"type:" + profile.TypeGoWall, "type:" + profile.TypeOffCPUBlocked, "type:" + profile.TypeGoMutexDelay, "type:" + profile.TypeGoBlockDelay},
		What:   "lock waits (off-CPU stacks, or the Go runtime's wall-clock, mutex or block profiles)",
		Enable: "run with --probes sched; for Go, serve net/http/pprof and fgprof (/debug/fgprof)",
	}}
}

// notLock are waits on sync primitives that are not a lock someone
// holds: a WaitGroup or a condition waits for work by design.
var notLock = []string{"sync.(*WaitGroup).", "sync.(*Cond).Wait", "golang.org/x/sync/semaphore.", "pthread_cond_", "pthread_barrier_"}

// lockWait reports whether a stack (leaf first) waits for a lock: a lock
// frame that is more than the runtime's own futex sleep, and nothing that
// says it waits for work.
func lockWait(frames []string) bool {
	lock := false
	for _, f := range frames {
		for _, n := range notLock {
			if strings.HasPrefix(f, n) {
				return false
			}
		}
		if !lock && !strings.HasSuffix(f, "_[k]") && f != "runtime.futexsleep" && plugins.FrameIn(f, plugins.CatLock) {
			lock = true
		}
	}
	return lock
}

// caller is the first frame toward the root outside the lock, the runtime
// and the kernel: the code that asked for the lock.
func caller(frames []string) string {
	seen := false
	for _, f := range frames {
		inLock := plugins.FrameIn(f, plugins.CatLock)
		if inLock {
			seen = true
			continue
		}
		if seen && !strings.HasSuffix(f, "_[k]") && !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") {
			return f
		}
	}
	return ""
}

// waiter is the largest lock wait found in one source.
type waiter struct {
	who    string // "goroutines main.worker", "thread db-writer (tid 12)"
	value  int64  // ns waiting
	whole  int64  // ns of the goroutines' wall or the window
	share  float64
	events int64
	stacks [][]string
	source string // the sample type
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	window := ev.Window()
	var found []waiter
	// Go: goroutines parked on a lock, from fgprof.
	if gs := ev.GoroutineShares(lockWait); len(gs) > 0 {
		g := gs[0]
		found = append(found, waiter{who: "goroutines " + g.Entry, value: g.Value, whole: g.Wall, share: g.Share,
			events: plugins.WallSamples(g.Value), stacks: g.Stacks, source: profile.TypeGoWall})
	}
	// Threads blocked in the kernel on a lock (C, C++, Rust; Go runtime
	// locks), per thread.
	if w, ok := threadWaits(ev, window); ok {
		found = append(found, w)
	}
	// Without a wall profile, the block profile's lock waits (all
	// goroutines together) over the window.
	block := ev.Where(profile.TypeGoBlockDelay, lockWait, func(f string) bool { return plugins.FrameIn(f, plugins.CatLock) })
	if block.Value > 0 && !ev.HasType(profile.TypeGoWall) && window > 0 {
		found = append(found, waiter{who: "goroutines (block profile)", value: block.Value, whole: int64(window),
			share: min(1, float64(block.Value)/float64(window)), events: block.Samples, stacks: block.StackFrames(), source: profile.TypeGoBlockDelay})
	}
	mutex := ev.Where(profile.TypeGoMutexDelay, func([]string) bool { return true }, nil)
	if len(found) == 0 && mutex.Value > 0 && window > 0 {
		found = append(found, waiter{who: "goroutines (mutex profile)", value: mutex.Value, whole: int64(window),
			share: min(1, float64(mutex.Value)/float64(window)), events: mutex.Samples, source: profile.TypeGoMutexDelay})
	}
	if len(found) == 0 {
		return nil, nil
	}
	sort.SliceStable(found, func(a, b int) bool { return found[a].share > found[b].share })
	w := found[0]
	score, gated := thresholds.Score(w.share, time.Duration(w.value), w.events, window)
	if score < plugins.ScoreInfo {
		return nil, nil
	}
	f := plugins.Finding{
		Category: string(plugins.CatLock),
		Score:    score,
		Share:    w.share,
		Title:    fmt.Sprintf("%s wait for a lock %s of their time", w.who, plugins.Pct(w.share)),
		Figures: []plugins.Figure{
			plugins.Fig("share", 100*w.share, "%", fmt.Sprintf("%s of %s, %s", w.source, w.who, plugins.Seconds(w.whole))),
			plugins.Fig("wait_ns", float64(w.value), "ns", w.source),
			plugins.Fig("window_ns", float64(window), "ns", ""),
		},
		Stacks: w.stacks,
		Query:  plugins.Query(w.source, plugins.CatLock.Focus()),
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s waited %s for locks (%s, %s of their %s)", w.who, plugins.Seconds(w.value), w.source, plugins.Pct(w.share), plugins.Seconds(w.whole))
	var at string
	for _, st := range w.stacks {
		if at = caller(st); at != "" {
			break
		}
	}
	if at != "" {
		fmt.Fprintf(&d, ", asking for it in %s", at)
		f.Key = []string{at}
		f.Title += " in " + plugins.ShortFunc(at)
	}
	for _, o := range found[1:] {
		fmt.Fprintf(&d, "; %s waited %s (%s, %s)", o.who, plugins.Seconds(o.value), o.source, plugins.Pct(o.share))
	}
	d.WriteString(".")
	signals := []plugins.Signal{{Name: w.source + " lock waits", Agrees: w.share >= thresholds.Warn, Detail: plugins.Pct(w.share) + " of " + w.who}}
	// The holders: the mutex profile records the stack that unlocked
	// after others had waited.
	switch {
	case mutex.Value > 0:
		held := ""
		for _, st := range mutex.Stacks {
			if c := holderFrame(st.Frames); c != "" {
				held = c
				break
			}
		}
		fmt.Fprintf(&d, " The mutex profile counts %s of waiting caused by the holders", plugins.Seconds(mutex.Value))
		if held != "" {
			fmt.Fprintf(&d, ", most by %s, which held the lock", held)
		}
		d.WriteString(".")
		f.Figures = append(f.Figures, plugins.Fig("mutex_delay_ns", float64(mutex.Value), "ns", "go_mutex_delay, at the holders' unlock"))
		if len(mutex.Stacks) > 0 {
			f.Stacks = append(f.Stacks[:min(2, len(f.Stacks))], mutex.Stacks[0].Frames)
		}
		signals = append(signals, plugins.Signal{Name: "Go mutex profile", Agrees: time.Duration(mutex.Value) >= thresholds.MinValue, Detail: plugins.Seconds(mutex.Value) + " of delay"})
	case ev.Go != nil && ev.HasType(profile.TypeGoWall):
		d.WriteString(" Mutex profiling is off in the target, so the holders are not known: runtime.SetMutexProfileFraction(5) names them.")
	}
	if block.Value > 0 {
		f.Figures = append(f.Figures, plugins.Fig("block_lock_ns", float64(block.Value), "ns", "go_block_delay in lock waits"))
		signals = append(signals, plugins.Signal{Name: "Go block profile", Agrees: time.Duration(block.Value) >= thresholds.MinValue, Detail: plugins.Seconds(block.Value) + " in lock waits"})
	}
	for _, o := range found[1:] {
		if w.source == profile.TypeGoWall && o.source == profile.TypeOffCPUBlocked {
			continue // Go parks goroutines on a lock: the kernel's view is not expected to agree
		}
		signals = append(signals, plugins.Signal{Name: o.source + " lock waits", Agrees: o.share >= thresholds.Warn/2, Detail: plugins.Pct(o.share) + " of " + o.who})
	}
	if gated != "" {
		fmt.Fprintf(&d, " Kept at info: %s.", gated)
	}
	f.Detail = d.String()
	f.Advice = "Hold the lock for less: move I/O, sleeps, allocation and logging out of the critical section, copy what you need and unlock; split the data so that one lock guards less (sharding), use sync.RWMutex (or a reader-writer lock) for read-mostly data, atomics for counters, or hand work to one owner over a channel or queue."
	f.Confidence = plugins.Agreement(signals...)
	return []plugins.Finding{f}, nil
}

// holderFrame is the code that held the lock on a mutex-profile stack:
// the first frame outside the lock and the runtime.
func holderFrame(frames []string) string {
	for _, f := range frames {
		if !plugins.FrameIn(f, plugins.CatLock) && !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") && !strings.HasPrefix(f, "sync.") {
			return f
		}
	}
	return ""
}

// threadWaits finds the thread blocked longest on locks in offcpu_blocked
// (idle Go runtime threads and the profilers left out).
func threadWaits(ev *plugins.Evidence, window time.Duration) (waiter, bool) {
	p := ev.Profile
	if p == nil || window <= 0 {
		return waiter{}, false
	}
	j := profile.ValueIndex(p, profile.TypeOffCPUBlocked)
	if j < 0 {
		return waiter{}, false
	}
	cnt := profile.ValueIndex(p, "samples")
	type acc struct {
		name   string
		value  int64
		events int64
		stacks map[string]int64
		frames map[string][]string
	}
	threads := map[int64]*acc{}
	for _, s := range p.Sample {
		v := s.Value[j]
		if v == 0 {
			continue
		}
		frames := profile.Frames(s)
		if profile.GoRuntimeIdle(frames) || profile.IsProfilerStack(frames) || !lockWait(frames) {
			continue
		}
		var tid int64
		if t := s.NumLabel["tid"]; len(t) > 0 {
			tid = t[0]
		}
		a := threads[tid]
		if a == nil {
			a = &acc{stacks: map[string]int64{}, frames: map[string][]string{}}
			if n := s.Label["thread"]; len(n) > 0 {
				a.name = n[0]
			}
			threads[tid] = a
		}
		a.value += v
		if cnt >= 0 {
			a.events += s.Value[cnt]
		}
		k := strings.Join(frames, "\x00")
		a.stacks[k] += v
		a.frames[k] = frames
	}
	var best *acc
	var bestTID int64
	for tid, a := range threads {
		if best == nil || a.value > best.value || a.value == best.value && tid < bestTID {
			best, bestTID = a, tid
		}
	}
	if best == nil {
		return waiter{}, false
	}
	keys := make([]string, 0, len(best.stacks))
	for k := range best.stacks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return best.stacks[keys[a]] > best.stacks[keys[b]] })
	w := waiter{who: fmt.Sprintf("thread %s (tid %d)", best.name, bestTID), value: best.value, whole: int64(window),
		share: min(1, float64(best.value)/float64(window)), events: best.events, source: profile.TypeOffCPUBlocked}
	if w.events == 0 {
		// Off-CPU time carries no event count: 10 ms counts as one
		// sample, as on-CPU sampling at 100 Hz would count it.
		w.events = best.value / int64(10*time.Millisecond)
	}
	for _, k := range keys[:min(3, len(keys))] {
		w.stacks = append(w.stacks, best.frames[k])
	}
	return w, true
}
