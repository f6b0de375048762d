package profile

import (
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Consistency compares the top on-CPU functions seen by eBPF sampling with
// those of the Go CPU profile over the same window: two independent
// samplers of one process should name the same hot functions with similar
// shares. Functions are compared by their flat share at the first user
// frame (kernel frames are folded into the user function that entered
// the kernel, which is how the Go profiler sees them).
type Consistency struct {
	TopN  int         `json:"top_n"`
	EBPF  []FuncShare `json:"ebpf"`   // by oncpu, first user frame
	GoCPU []FuncShare `json:"go_cpu"` // by go_cpu
	// Overlap counts functions in both top-N lists.
	Overlap int `json:"overlap"`
	// MaxDiffPts is the largest difference in flat share, in percentage
	// points, over the functions in either top-N list.
	MaxDiffPts float64 `json:"max_diff_pts"`
	MaxDiffFn  string  `json:"max_diff_function"`
	// Agree is MaxDiffPts <= 10: no function's share differs by more.
	Agree bool `json:"agree"`
}

// CheckConsistency builds the comparison of p's oncpu and go_cpu types, or
// returns nil when p lacks either.
func CheckConsistency(p *profile.Profile, n int) *Consistency {
	if Total(p, TypeOnCPU) == 0 || Total(p, TypeGoCPU) == 0 {
		return nil
	}
	e := userFlat(p, TypeOnCPU)
	g := userFlat(p, TypeGoCPU)
	c := &Consistency{TopN: n, EBPF: topOf(e, n), GoCPU: topOf(g, n)}
	inG := map[string]bool{}
	for _, f := range c.GoCPU {
		inG[f.Function] = true
	}
	union := map[string]bool{}
	for _, f := range c.EBPF {
		union[f.Function] = true
		if inG[f.Function] {
			c.Overlap++
		}
	}
	for _, f := range c.GoCPU {
		union[f.Function] = true
	}
	names := make([]string, 0, len(union))
	for name := range union {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := math.Abs(e[name] - g[name])
		if d > c.MaxDiffPts {
			c.MaxDiffPts, c.MaxDiffFn = d, name
		}
	}
	c.Agree = c.MaxDiffPts <= 10
	return c
}

// userFlat returns each function's flat share (percent) of type typ,
// taking the first frame that is not a kernel frame (nor the runtime's
// preemption handler) as the leaf.
func userFlat(p *profile.Profile, typ string) map[string]float64 {
	i := ValueIndex(p, typ)
	total := Total(p, typ)
	out := map[string]float64{}
	if i < 0 || total == 0 {
		return out
	}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		leaf := "[kernel]"
		for _, f := range Frames(s) {
			if !strings.HasSuffix(f, "_[k]") && !preemptFrames[f] {
				leaf = f
				break
			}
		}
		out[leaf] += 100 * float64(v) / float64(total)
	}
	return out
}

func topOf(shares map[string]float64, n int) []FuncShare {
	out := make([]FuncShare, 0, len(shares))
	for name, pct := range shares {
		out = append(out, FuncShare{Function: name, FlatPct: round2(pct)})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].FlatPct != out[b].FlatPct {
			return out[a].FlatPct > out[b].FlatPct
		}
		return out[a].Function < out[b].Function
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// GoroutineWall is the "wall explained" view of one group of goroutines,
// those started at the same function: fgprof's wall time for them, and
// the part of it the eBPF probes can account for, from stacks that carry
// the same goroutine entry function. What remains is time the goroutines
// were parked in the Go runtime (channels, locks, timers, network poll):
// no thread was busy or blocked on their behalf.
type GoroutineWall struct {
	Entry      string  `json:"entry"`       // the function the goroutines started at
	WallNs     int64   `json:"wall_ns"`     // go_wall: every goroutine of the group, running or not
	GoCPUNs    int64   `json:"go_cpu_ns"`   // the Go CPU profile
	OnCPUNs    int64   `json:"oncpu_ns"`    // eBPF: a thread ran one of them
	RunqueueNs int64   `json:"runqueue_ns"` // eBPF: its thread was runnable, waiting for a CPU
	BlockedNs  int64   `json:"blocked_ns"`  // eBPF: its thread was blocked in the kernel (syscalls)
	IOWaitNs   int64   `json:"iowait_ns"`   // eBPF: inside slow I/O syscalls (overlaps on-CPU and blocked)
	ParkedNs   int64   `json:"parked_ns"`   // wall - (oncpu + runqueue + blocked), at least 0
	WallPct    float64 `json:"wall_pct"`    // of all goroutines' wall time
	// ExplainedPct is (oncpu + runqueue + blocked) / wall: how much of the
	// goroutines' wall time the kernel saw them use a thread for.
	ExplainedPct float64 `json:"explained_pct"`
	TopWait      string  `json:"top_wait,omitempty"` // where most of the group's wall time is: the first non-runtime frame from the leaf
}

// goroutineRoots are the frames a goroutine's stack starts with that say
// nothing about what it does.
var goroutineRoots = map[string]bool{"runtime.goexit": true, "runtime.main": true}

// goWrapper matches the wrappers the compiler makes for `go f(args)`
// (main.main.gowrap2): the Go runtime's tracebacks hide them, frame
// pointer walks do not, so they are skipped to match the two.
var goWrapper = regexp.MustCompile(`\.gowrap\d+$`)

// preemptFrames are injected by the Go runtime at an asynchronous
// preemption point; the function that was running is their caller.
var preemptFrames = map[string]bool{"runtime.asyncPreempt": true, "runtime.asyncPreempt2": true}

// GoroutineEntry returns the entry function of a stack given root first:
// the first frame below the runtime's goroutine start (and the compiler's
// go-statement wrapper), or "" when the stack does not start like a
// goroutine's (a runtime system stack such as runtime.mstart). The Go CPU
// profile leaves runtime.goexit out, so a stack that starts outside the
// runtime starts at its entry.
func GoroutineEntry(rootFirst []string) string {
	for i, f := range rootFirst {
		if goroutineRoots[f] || goWrapper.MatchString(f) {
			continue
		}
		if i == 0 && (strings.HasPrefix(f, "runtime.") || strings.HasSuffix(f, "_[k]")) {
			return "" // a runtime system stack, not a goroutine's
		}
		return f
	}
	return ""
}

// profilerFrames mark the goroutines serving the profile requests
// themselves: they are perfprobe's own doing, not the target's.
var profilerFrames = []string{"net/http/pprof.", "github.com/felixge/fgprof.", "runtime/pprof."}

// IsProfilerStack reports whether a stack (as from Frames) is the Go
// runtime's profilers at work, serving a profile request.
func IsProfilerStack(frames []string) bool {
	for _, f := range frames {
		for _, p := range profilerFrames {
			if strings.HasPrefix(f, p) {
				return true
			}
		}
	}
	return false
}

// waitLeaf names where a goroutine stack spends its time: the first frame
// from the leaf outside the runtime's own (gopark, futex, preemption), so
// a sleep reads as time.Sleep and a lock wait as sync.(*Mutex).Lock.
func waitLeaf(leafFirst []string) string {
	for _, f := range leafFirst {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/runtime/") {
			return f
		}
	}
	if len(leafFirst) > 0 {
		return leafFirst[0]
	}
	return ""
}

// parkedInRuntime reports whether a stack, leaf first, is a goroutine
// parked by the Go runtime (its saved context is in runtime.gopark). The
// sched probe files the wait of a thread locked to a goroutine under that
// goroutine's stack; when the goroutine is parked (a lock, a channel, a
// timer), its wait is the Go runtime's, as for any goroutine: parked, not
// blocked in the kernel.
func parkedInRuntime(leafFirst []string) bool {
	return len(leafFirst) > 0 && leafFirst[0] == "runtime.gopark"
}

// WallByGoroutine builds the wall-explained view from a merged profile
// with a go_wall type, largest wall first, at most n groups (all when
// n < 0). It returns nil when p has no go_wall samples.
func WallByGoroutine(p *profile.Profile, n int) []GoroutineWall {
	wi := ValueIndex(p, TypeGoWall)
	total := Total(p, TypeGoWall)
	if wi < 0 || total == 0 {
		return nil
	}
	idx := map[string]int{}
	for _, t := range []string{TypeGoCPU, TypeOnCPU, TypeOffCPURunqueue, TypeOffCPUBlocked, TypeIOWait} {
		idx[t] = ValueIndex(p, t)
	}
	groups := map[string]*GoroutineWall{}
	leaves := map[string]map[string]int64{}
	for _, s := range p.Sample {
		frames := Frames(s)
		var user []string
		for _, f := range frames {
			if !strings.HasSuffix(f, "_[k]") {
				user = append(user, f)
			}
		}
		rootFirst := make([]string, len(user))
		for i, f := range user {
			rootFirst[len(user)-1-i] = f
		}
		entry := GoroutineEntry(rootFirst)
		if entry == "" || IsProfilerStack(user) {
			continue
		}
		g, ok := groups[entry]
		if !ok {
			g = &GoroutineWall{Entry: entry}
			groups[entry] = g
			leaves[entry] = map[string]int64{}
		}
		val := func(t string) int64 {
			if i := idx[t]; i >= 0 {
				return s.Value[i]
			}
			return 0
		}
		if v := s.Value[wi]; v != 0 {
			g.WallNs += v
			if leaf := waitLeaf(user); leaf != "" {
				leaves[entry][leaf] += v
			}
		}
		g.GoCPUNs += val(TypeGoCPU)
		g.OnCPUNs += val(TypeOnCPU)
		g.RunqueueNs += val(TypeOffCPURunqueue)
		if !parkedInRuntime(user) {
			g.BlockedNs += val(TypeOffCPUBlocked)
		}
		g.IOWaitNs += val(TypeIOWait)
	}
	out := make([]GoroutineWall, 0, len(groups))
	for entry, g := range groups {
		if g.WallNs == 0 {
			continue // eBPF saw it, fgprof did not: nothing to explain
		}
		used := g.OnCPUNs + g.RunqueueNs + g.BlockedNs
		g.ParkedNs = max(0, g.WallNs-used)
		g.WallPct = round2(100 * float64(g.WallNs) / float64(total))
		g.ExplainedPct = round2(100 * float64(used) / float64(g.WallNs))
		var best int64
		for leaf, v := range leaves[entry] {
			if v > best || (v == best && leaf < g.TopWait) {
				best, g.TopWait = v, leaf
			}
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].WallNs != out[b].WallNs {
			return out[a].WallNs > out[b].WallNs
		}
		return out[a].Entry < out[b].Entry
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
