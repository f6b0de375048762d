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
//
// A goroutine group such as net/http.(*conn).serve runs every handler, so
// a lock one handler takes is a small share of the group's wall time even
// when that handler spends most of its own time waiting. The plugin also
// judges the code that asks for the lock (the caller, e.g.
// main.lockedWork): the go_wall of its lock-wait stacks (or the block
// profile's time in them, when larger: it records every wait of its rate
// or longer, where fgprof samples 99 times a second) over the go_wall of
// all stacks through it. A caller's share is scored (a warning at 10% of
// its time, critical at 40%) only with the absolute evidence behind it:
// 200 ms of waiting in 20 samples over 1 s, and for critical 20% of the
// window; a function that only locks waits all its life. The score is the larger of the group's (or
// thread's) and the callers'; a group whose own share reaches a warning
// gets the finding (Share is its share, the title names it and the caller
// on its top stack), and every other caller that scores gets its own
// (Share is the caller's). The mutex profile's delay at the caller's
// unlocks is one more signal for the confidence: the runtime samples the
// contention events it records (runtime.SetMutexProfileFraction) and
// scales them up, so it is an estimate, shown as the profile gives it.
package lockcontention

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of one goroutine group's (or one thread's) time
// spent waiting for a lock, a warning at 20% and critical at 50%, with at
// least 200 ms of waiting in 20 samples over 1 s.
var thresholds = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}

// callerThresholds score the caller's share of its own wall time spent
// waiting for a lock: a warning at 10%, critical at 40%, lower than a
// goroutine group's bands because a call site's waiting is pure loss on
// its own latency and grows faster than linearly with the load; the same
// absolute gates.
var callerThresholds = plugins.Thresholds{Warn: 0.10, Critical: 0.40, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}

// callerCritical is the part of the window a caller must have waited for
// its share to make it critical: a function that does nothing but lock
// waits all of its time, however little that is.
const callerCritical = 0.20

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

// callerWait is the lock waiting of the code that asks for a lock, in
// go_wall: its lock-wait stacks' wall time over that of all stacks
// through it.
type callerWait struct {
	fn       string
	wait     int64 // ns waiting for a lock asked for by fn: the larger of wallWait and blockWait
	wallWait int64 // ns of go_wall in those waits
	// blockWait is the block profile's time in them: it records every
	// wait of the block profile rate or longer (and scales the shorter
	// ones it samples), where go_wall samples goroutines 99 times a
	// second.
	blockWait int64
	wall      int64 // ns of go_wall of every stack through fn, with wait for wallWait
	share     float64
	stacks    [][]string
	score     int // the share's score when the absolute evidence is there, else 0
}

// callerWaits groups the lock waits by caller (see caller), most waiting
// first, with each caller's whole wall time: go_wall's waits, or the block
// profile's where they are larger, over go_wall of every stack through
// the caller. The goroutines serving the profile requests are left out,
// as GoroutineShares leaves them out. Without go_wall there is no wall
// time to compare with: nil.
func callerWaits(ev *plugins.Evidence) []callerWait {
	if !ev.HasType(profile.TypeGoWall) {
		return nil
	}
	type acc struct {
		callerWait
		byStack map[string]int64
		frames  map[string][]string
	}
	byFn := map[string]*acc{}
	ev.Each(profile.TypeGoWall, func(_ *pprof.Sample, frames []string, v int64) {
		if profile.IsProfilerStack(frames) || !lockWait(frames) {
			return
		}
		fn := caller(frames)
		if fn == "" {
			return
		}
		a := byFn[fn]
		if a == nil {
			a = &acc{callerWait: callerWait{fn: fn}, byStack: map[string]int64{}, frames: map[string][]string{}}
			byFn[fn] = a
		}
		a.wallWait += v
		k := strings.Join(frames, "\x00")
		a.byStack[k] += v
		a.frames[k] = frames
	})
	ev.Each(profile.TypeGoBlockDelay, func(_ *pprof.Sample, frames []string, v int64) {
		if !lockWait(frames) {
			return
		}
		if a := byFn[caller(frames)]; a != nil {
			a.blockWait += v
		}
	})
	if len(byFn) == 0 {
		return nil
	}
	ev.Each(profile.TypeGoWall, func(_ *pprof.Sample, frames []string, v int64) {
		if profile.IsProfilerStack(frames) {
			return
		}
		for i, f := range frames {
			a := byFn[f]
			if a == nil || slices.Contains(frames[:i], f) {
				continue // not a caller, or counted once already (recursion)
			}
			a.wall += v
		}
	})
	out := make([]callerWait, 0, len(byFn))
	for _, a := range byFn {
		a.wait = max(a.wallWait, a.blockWait)
		a.wall += a.wait - a.wallWait
		a.share = float64(a.wait) / float64(max(a.wall, a.wait))
		keys := make([]string, 0, len(a.byStack))
		for k := range a.byStack {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(x, y int) bool {
			if a.byStack[keys[x]] != a.byStack[keys[y]] {
				return a.byStack[keys[x]] > a.byStack[keys[y]]
			}
			return keys[x] < keys[y]
		})
		for _, k := range keys[:min(3, len(keys))] {
			a.stacks = append(a.stacks, a.frames[k])
		}
		out = append(out, a.callerWait)
	}
	sort.Slice(out, func(x, y int) bool {
		if out[x].wait != out[y].wait {
			return out[x].wait > out[y].wait
		}
		return out[x].fn < out[y].fn
	})
	return out
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
	callers := callerWaits(ev)
	if len(found) == 0 && len(callers) == 0 {
		return nil, nil
	}
	c := &diagnosis{ev: ev, window: window, callers: callers, mutex: mutex, block: block}
	if len(found) > 0 {
		sort.SliceStable(found, func(a, b int) bool { return found[a].share > found[b].share })
		c.found = found
	}
	// The callers whose own share, with the absolute evidence behind it,
	// scores: a function that only locks waits all its life, so a caller
	// counts only when it waited 200 ms in 20 samples over 1 s.
	var scored []int
	for i := range callers[:min(3, len(callers))] {
		cw := &callers[i]
		s, g := callerThresholds.Score(cw.share, time.Duration(cw.wait), plugins.WallSamples(cw.wait), window)
		if s >= plugins.ScoreCritical && float64(cw.wait) < callerCritical*float64(window) {
			s = plugins.ScoreCritical - 1
		}
		if g == "" && s >= plugins.ScoreInfo {
			cw.score = s
			scored = append(scored, i)
		}
	}
	var out []plugins.Finding
	// The group's (or thread's) finding, when its own share scores: it
	// names the caller on its top stack, whose score it takes when that
	// is higher.
	if len(found) > 0 {
		w := found[0]
		score, gated := thresholds.Score(w.share, time.Duration(w.value), w.events, window)
		at := ""
		for _, st := range w.stacks {
			if at = caller(st); at != "" {
				break
			}
		}
		var cw *callerWait
		for _, i := range scored {
			if callers[i].fn == at {
				cw = &callers[i]
			}
		}
		if cw == nil && at != "" {
			for i := range callers {
				if callers[i].fn == at {
					cw = &callers[i]
				}
			}
		}
		if w.share >= thresholds.Warn || len(scored) == 0 {
			if cw != nil && cw.score > score {
				score, gated = cw.score, ""
			}
			if score >= plugins.ScoreInfo {
				out = append(out, c.finding(score, gated, at, cw, false))
			}
		}
	}
	// One finding per caller whose share scores, unless the group's
	// finding already names it.
	for _, i := range scored {
		cw := &callers[i]
		if len(out) > 0 && slices.Equal(out[0].Key, []string{cw.fn}) {
			continue
		}
		out = append(out, c.finding(cw.score, "", cw.fn, cw, true))
	}
	return out, nil
}

// diagnosis is what every lock-contention finding of one capture draws on.
type diagnosis struct {
	ev           *plugins.Evidence
	window       time.Duration
	found        []waiter // by share, most first
	callers      []callerWait
	mutex, block plugins.Match
}

// finding builds one finding: of the group's (or thread's) share asking
// for the lock in at, or (byCaller) of caller cw's own share. cw may be
// nil for the group's.
func (c *diagnosis) finding(score int, gated, at string, cw *callerWait, byCaller bool) plugins.Finding {
	ev, window, found, mutex, block := c.ev, c.window, c.found, c.mutex, c.block
	var w waiter
	if len(found) > 0 {
		w = found[0]
	}
	f := plugins.Finding{
		Category: string(plugins.CatLock),
		Score:    score,
		Query:    plugins.Query(profile.TypeGoWall, plugins.CatLock.Focus()),
	}
	var d strings.Builder
	if len(found) > 0 {
		f.Figures = append(f.Figures,
			plugins.Fig("group_share", 100*w.share, "%", fmt.Sprintf("%s of %s, %s", w.source, w.who, plugins.Seconds(w.whole))),
			plugins.Fig("wait_ns", float64(w.value), "ns", w.source))
		fmt.Fprintf(&d, "%s waited %s for locks (%s, %s of their %s)", w.who, plugins.Seconds(w.value), w.source, plugins.Pct(w.share), plugins.Seconds(w.whole))
		f.Query = plugins.Query(w.source, plugins.CatLock.Focus())
	}
	if byCaller {
		f.Share = cw.share
		f.Title = fmt.Sprintf("%s waits for a lock %s of its time", plugins.ShortFunc(cw.fn), plugins.Pct(cw.share))
		// Beside it, the goroutine group it runs in, whose share it
		// stands out from.
		for _, o := range found {
			if o.source == profile.TypeGoWall {
				f.Title += fmt.Sprintf(" (%s: %s of theirs)", o.who, plugins.Pct(o.share))
				break
			}
		}
		f.Stacks = cw.stacks
		f.Figures = append([]plugins.Figure{plugins.Fig("share", 100*cw.share, "%", fmt.Sprintf("go_wall of %s, %s", cw.fn, plugins.Seconds(cw.wall)))}, f.Figures...)
	} else {
		f.Share = w.share
		f.Title = fmt.Sprintf("%s wait for a lock %s of their time", w.who, plugins.Pct(w.share))
		f.Stacks = w.stacks
		f.Figures = append([]plugins.Figure{plugins.Fig("share", 100*w.share, "%", fmt.Sprintf("%s of %s, %s", w.source, w.who, plugins.Seconds(w.whole)))}, f.Figures...)
		if at != "" {
			fmt.Fprintf(&d, ", asking for it in %s", at)
			f.Title += " in " + plugins.ShortFunc(at)
		}
	}
	if at != "" {
		f.Key = []string{at}
	}
	f.Figures = append(f.Figures, plugins.Fig("window_ns", float64(window), "ns", ""))
	for _, o := range found[min(1, len(found)):] {
		fmt.Fprintf(&d, "; %s waited %s (%s, %s)", o.who, plugins.Seconds(o.value), o.source, plugins.Pct(o.share))
	}
	if len(found) > 0 {
		d.WriteString(".")
	}
	var signals []plugins.Signal
	if len(found) > 0 && !byCaller {
		signals = append(signals, plugins.Signal{Name: w.source + " lock waits", Agrees: w.share >= thresholds.Warn, Detail: plugins.Pct(w.share) + " of " + w.who})
	}
	if cw != nil {
		if d.Len() > 0 {
			d.WriteString(" ")
		}
		fmt.Fprintf(&d, "%s, which asks for the lock, spent %s of its %s of wall time waiting for it (%s",
			cw.fn, plugins.Pct(cw.share), plugins.Seconds(cw.wall), plugins.Seconds(cw.wait))
		if cw.blockWait > 0 {
			fmt.Fprintf(&d, ", the larger of go_wall's %s and the block profile's %s", plugins.Seconds(cw.wallWait), plugins.Seconds(cw.blockWait))
		}
		d.WriteString(", over the go_wall of every stack through it).")
		f.Figures = append(f.Figures,
			plugins.Fig("caller_share", 100*cw.share, "%", "go_wall of "+cw.fn),
			plugins.Fig("caller_wait_ns", float64(cw.wait), "ns", "go_wall of "+cw.fn+" in lock waits"),
			plugins.Fig("caller_wall_ns", float64(cw.wall), "ns", "go_wall of every stack through "+cw.fn))
		signals = append(signals, plugins.Signal{Name: "lock waits of the caller", Agrees: cw.share >= callerThresholds.Warn, Detail: plugins.Pct(cw.share) + " of " + cw.fn})
	}
	// The holders: the mutex profile records the stack that unlocked
	// after others had waited. The runtime samples the contention events
	// it records, so its delay is shown as the profile gives it and
	// judged against a tenth of the minimum.
	switch {
	case mutex.Value > 0:
		holders := mutex.Stacks
		fmt.Fprintf(&d, " The mutex profile (sampled: the runtime records a fraction of the contention events and scales them up) counts %s of waiting caused by the holders", plugins.Seconds(mutex.Value))
		delay, stack := mutex.Value, []string(nil)
		if len(mutex.Stacks) > 0 {
			stack = mutex.Stacks[0].Frames
		}
		if cw != nil {
			m := ev.Where(profile.TypeGoMutexDelay, func(frames []string) bool { return slices.Contains(frames, cw.fn) }, nil)
			if m.Value > 0 {
				delay, stack, holders = m.Value, m.Stacks[0].Frames, m.Stacks
				fmt.Fprintf(&d, ", %s of it where %s unlocked", plugins.Seconds(m.Value), cw.fn)
				f.Figures = append(f.Figures, plugins.Fig("caller_mutex_delay_ns", float64(m.Value), "ns", "go_mutex_delay at the unlocks in "+cw.fn+", sampled"))
			}
		}
		held := ""
		for _, st := range holders {
			if h := holderFrame(st.Frames); h != "" {
				held = h
				break
			}
		}
		if held != "" {
			fmt.Fprintf(&d, "; most by %s, which held the lock", held)
		}
		d.WriteString(".")
		f.Figures = append(f.Figures, plugins.Fig("mutex_delay_ns", float64(mutex.Value), "ns", "go_mutex_delay, at the holders' unlock, sampled"))
		if stack != nil {
			f.Stacks = append(f.Stacks[:min(2, len(f.Stacks)):min(2, len(f.Stacks))], stack)
		}
		signals = append(signals, plugins.Signal{Name: "Go mutex profile", Agrees: time.Duration(delay) >= thresholds.MinValue/10, Detail: plugins.Seconds(delay) + " of delay, sampled"})
	case ev.Go != nil && ev.HasType(profile.TypeGoWall):
		d.WriteString(" Mutex profiling is off in the target, so the holders are not known: runtime.SetMutexProfileFraction(5) names them.")
	}
	if block.Value > 0 {
		f.Figures = append(f.Figures, plugins.Fig("block_lock_ns", float64(block.Value), "ns", "go_block_delay in lock waits"))
		signals = append(signals, plugins.Signal{Name: "Go block profile", Agrees: time.Duration(block.Value) >= thresholds.MinValue, Detail: plugins.Seconds(block.Value) + " in lock waits"})
	}
	for _, o := range found[min(1, len(found)):] {
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
	return f
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
	// A goroutine locked to its thread and parked on a lock is filed on
	// the thread under its own stack (the sched probe, from g.sched): with
	// a wall profile the goroutines' finding has that wait already, with
	// its holders; two views of one wait tied and took turns.
	goWall := ev.HasType(profile.TypeGoWall)
	ev.Each(profile.TypeOffCPUBlocked, func(s *pprof.Sample, frames []string, v int64) {
		if profile.GoRuntimeIdle(frames) || profile.IsProfilerStack(frames) || !lockWait(frames) || goWall && slices.Contains(frames, "runtime.gopark") {
			return
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
	})
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
