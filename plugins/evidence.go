package plugins

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// Evidence is what plugins read. A live capture has all of it; an offline
// profile file (diagnose on `go test -cpuprofile` output) has only Profile.
type Evidence struct {
	// Capture is the capture: targets with their metadata, window,
	// histograms, counts, threads, self-cost. Nil for a bare profile.
	Capture *profile.Capture
	// Profile is the merged profile: the eBPF types and the go_* types
	// when the Go runtime's profiles were fetched. Nil when none.
	Profile *pprof.Profile
	// Go is capture.json's Go section when the Go profiles were fetched
	// (or tried).
	Go *profile.GoReport
	// Source names what is diagnosed, for the report.
	Source string
	// ProfilePath is the profile's file, for queries and external
	// plugins ("" when not written).
	ProfilePath string
	// Duration is the window when there is no capture (a bare profile's
	// DurationNanos); with a capture the capture's window wins.
	Duration time.Duration

	once    sync.Once
	samples []sampleInfo // per Profile.Sample: frames and category mask
	totals  map[string]int64
}

type sampleInfo struct {
	frames []string // leaf first
	cats   uint64   // inclusive: a bit per category any frame is in
	stack  uint64   // a hash of the locations: samples of one stack (other labels) share it
}

// Window is the time the evidence covers.
func (ev *Evidence) Window() time.Duration {
	if c := ev.Capture; c != nil && c.End.After(c.Start) {
		return c.End.Sub(c.Start)
	}
	if ev.Duration > 0 {
		return ev.Duration
	}
	if ev.Profile != nil && ev.Profile.DurationNanos > 0 {
		return time.Duration(ev.Profile.DurationNanos)
	}
	return 0
}

// HasType reports whether the profile carries sample type typ (a probe
// that ran and found nothing still declares its type).
func (ev *Evidence) HasType(typ string) bool {
	return ev.Profile != nil && profile.ValueIndex(ev.Profile, typ) >= 0
}

// HasProbe reports whether the capture ran probe name.
func (ev *Evidence) HasProbe(name string) bool {
	return ev.Capture != nil && slices.Contains(ev.Capture.Probes, name)
}

// Histogram returns the capture's histogram name, or nil.
func (ev *Evidence) Histogram(name string) *profile.Histogram {
	if ev.Capture == nil {
		return nil
	}
	return ev.Capture.Histograms[name]
}

// Count returns the capture's count name (0 when absent).
func (ev *Evidence) Count(name string) uint64 {
	if ev.Capture == nil {
		return 0
	}
	return ev.Capture.Counts[name]
}

// Satisfies reports whether the evidence meets n.
func (ev *Evidence) Satisfies(n Need) bool {
	for _, a := range n.Any {
		kind, name, _ := strings.Cut(a, ":")
		switch kind {
		case "type":
			if ev.HasType(name) {
				return true
			}
		case "probe":
			if ev.HasProbe(name) {
				return true
			}
		case "histogram":
			if ev.Histogram(name) != nil {
				return true
			}
		case "capture":
			if ev.Capture != nil {
				return true
			}
		case "cgroup":
			if ev.Capture != nil {
				for _, t := range ev.Capture.Targets {
					if t.Meta != nil && t.Meta.Cgroup != nil {
						return true
					}
				}
			}
		}
	}
	return false
}

// CPUType is the sample type that best says where CPU time went: the eBPF
// "oncpu" (every thread, C and kernel frames too) when captured, else the
// Go runtime's "go_cpu", else "" (no CPU evidence).
func (ev *Evidence) CPUType() string {
	switch {
	case ev.HasType(profile.TypeOnCPU):
		return profile.TypeOnCPU
	case ev.HasType(profile.TypeGoCPU):
		return profile.TypeGoCPU
	}
	return ""
}

// CPUNeed is the Need of every on-CPU hot-spot plugin.
var CPUNeed = Need{
	Any:    []string{"type:" + profile.TypeOnCPU, "type:" + profile.TypeGoCPU},
	What:   "on-CPU samples",
	Enable: "run with --probes cpu (or give a CPU profile)",
}

func (ev *Evidence) index() {
	ev.once.Do(func() {
		ev.totals = map[string]int64{}
		if ev.Profile == nil {
			return
		}
		ev.samples = make([]sampleInfo, len(ev.Profile.Sample))
		memo := map[*pprof.Location]locInfo{}
		n := 0
		for _, s := range ev.Profile.Sample {
			for _, l := range s.Location {
				li, ok := memo[l]
				if !ok {
					li = classifyLocation(l)
					memo[l] = li
				}
				n += len(li.frames)
			}
		}
		// One backing array for every sample's frames: a large profile
		// holds millions of them.
		all := make([]string, 0, n)
		for i, s := range ev.Profile.Sample {
			si := sampleInfo{stack: 0xcbf29ce484222325}
			start := len(all)
			for _, l := range s.Location {
				li := memo[l]
				all = append(all, li.frames...)
				si.cats |= li.cats
				si.stack = (si.stack ^ l.ID) * 0x100000001b3 // FNV-1a over location ids
			}
			si.frames = all[start:len(all):len(all)]
			ev.samples[i] = si
		}
		for j, st := range ev.Profile.SampleType {
			var t int64
			for _, s := range ev.Profile.Sample {
				t += s.Value[j]
			}
			ev.totals[st.Type] = t
		}
	})
}

type locInfo struct {
	frames []string
	cats   uint64
}

func classifyLocation(l *pprof.Location) locInfo {
	var li locInfo
	kernel := l.Mapping != nil && strings.HasPrefix(l.Mapping.File, "[kernel")
	for _, ln := range l.Line {
		name, file := "[unknown]", ""
		if ln.Function != nil {
			if ln.Function.Name != "" {
				name = ln.Function.Name
			}
			file = ln.Function.Filename
		}
		if kernel {
			li.cats |= classifyKernel(name)
			name += "_[k]"
		} else {
			li.cats |= classify(name, file)
		}
		li.frames = append(li.frames, name)
	}
	if len(l.Line) == 0 {
		li.frames = append(li.frames, "[unknown]")
	}
	return li
}

// Total sums sample type typ over the profile.
func (ev *Evidence) Total(typ string) int64 {
	ev.index()
	return ev.totals[typ]
}

// Match is what part of one sample type a set of stacks accounts for.
type Match struct {
	Type  string
	Value int64 // in the type's unit (nanoseconds for time types)
	// Samples counts the events behind Value: the profile's "samples"
	// count where the matched samples carry one, else the pprof samples
	// (stacks) that matched.
	Samples int64
	Total   int64   // the type's total
	Share   float64 // Value / Total, 0..1
	// Stacks are the matching stacks with most value, leaf first, at
	// most 3; Entries the function that called into the matched frames
	// on each (the first frame toward the root that does not match),
	// most value first.
	Stacks  []profile.StackShare
	Entries []string
	// Frames are the matching functions with most value on the matched
	// stacks (leafmost matching frame), most first.
	Frames []string
}

// InCategory matches the stacks of type typ with a frame in category cat
// anywhere (inclusive, like pprof's -focus).
func (ev *Evidence) InCategory(typ string, cat Category) Match {
	bit := cat.bit()
	return ev.match(typ, func(si *sampleInfo) bool { return si.cats&bit != 0 }, func(f string) bool { return FrameIn(f, cat) })
}

// InCategoryExcept is InCategory without the stacks that also have a frame
// in one of except (crypto that is not hashing or a TLS handshake).
func (ev *Evidence) InCategoryExcept(typ string, cat Category, except ...Category) Match {
	bit, ex := cat.bit(), uint64(0)
	for _, e := range except {
		ex |= e.bit()
	}
	return ev.match(typ, func(si *sampleInfo) bool { return si.cats&bit != 0 && si.cats&ex == 0 }, func(f string) bool { return FrameIn(f, cat) })
}

// Matching matches the stacks of type typ with a function matching re
// anywhere.
func (ev *Evidence) Matching(typ string, re *regexp.Regexp) Match {
	memo := map[string]bool{}
	is := func(f string) bool {
		v, ok := memo[f]
		if !ok {
			v = re.MatchString(f)
			memo[f] = v
		}
		return v
	}
	return ev.match(typ, func(si *sampleInfo) bool { return slices.ContainsFunc(si.frames, is) }, is)
}

// Where matches the stacks of type typ that keep returns true for (frames
// leaf first); frame picks the frames that count as the match's own for
// Entries and Frames (nil: the leaf).
func (ev *Evidence) Where(typ string, keep func(frames []string) bool, frame func(string) bool) Match {
	return ev.match(typ, func(si *sampleInfo) bool { return keep(si.frames) }, frame)
}

func (ev *Evidence) match(typ string, keep func(*sampleInfo) bool, frame func(string) bool) Match {
	ev.index()
	m := Match{Type: typ, Total: ev.totals[typ]}
	if ev.Profile == nil {
		return m
	}
	j := profile.ValueIndex(ev.Profile, typ)
	if j < 0 {
		return m
	}
	cnt := profile.ValueIndex(ev.Profile, "samples")
	var events int64
	type acc struct {
		frames []string
		value  int64
	}
	stacks := map[uint64]*acc{}
	entries, leaves := map[string]int64{}, map[string]int64{}
	for i, s := range ev.Profile.Sample {
		v := s.Value[j]
		if v == 0 {
			continue
		}
		si := &ev.samples[i]
		if !keep(si) {
			continue
		}
		m.Value += v
		m.Samples++
		if cnt >= 0 {
			events += s.Value[cnt]
		}
		a := stacks[si.stack]
		if a == nil {
			a = &acc{frames: si.frames}
			stacks[si.stack] = a
		}
		a.value += v
		leaf, entry := -1, ""
		for x, f := range si.frames {
			own := frame == nil && x == 0 || frame != nil && frame(f)
			if own {
				if leaf < 0 {
					leaves[f] += v
					leaf = x
				}
				entry = ""
				continue
			}
			if leaf >= 0 && entry == "" && !unknownFrame(f) {
				entry = f
			}
		}
		if entry != "" {
			entries[entry] += v
		}
	}
	if events > 0 {
		m.Samples = events
	}
	if m.Total > 0 {
		m.Share = float64(m.Value) / float64(m.Total)
	}
	all := make([]*acc, 0, len(stacks))
	for _, a := range stacks {
		all = append(all, a)
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].value != all[b].value {
			return all[a].value > all[b].value
		}
		return slices.Compare(all[a].frames, all[b].frames) < 0
	})
	for _, a := range all[:min(3, len(all))] {
		st := profile.StackShare{Frames: a.frames, Value: a.value}
		if m.Total > 0 {
			st.Pct = 100 * float64(a.value) / float64(m.Total)
		}
		m.Stacks = append(m.Stacks, st)
	}
	m.Entries = byValue(entries)
	m.Frames = byValue(leaves)
	return m
}

// unknownFrame is a frame the symbolizer could not name ("[unknown]",
// "[unknown]+0x...", a bare address): a frame pointer walk that left the
// stack through code without frame pointers gives those, and they are
// nobody's entry.
func unknownFrame(f string) bool {
	return strings.HasPrefix(f, "[unknown]") || strings.HasPrefix(f, "0x")
}

func byValue(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(a, b int) bool {
		if m[out[a]] != m[out[b]] {
			return m[out[a]] > m[out[b]]
		}
		return out[a] < out[b]
	})
	return out
}

// StackFrames returns m's proving stacks as a Finding wants them.
func (m Match) StackFrames() [][]string {
	out := make([][]string, 0, len(m.Stacks))
	for _, s := range m.Stacks {
		out = append(out, s.Frames)
	}
	return out
}

// Query is the go tool pprof command line that shows m: its type as the
// sample index and focus as the -focus regexp.
func Query(typ, focus string) string {
	q := "go tool pprof -sample_index=" + typ
	if focus != "" {
		q += " -focus='" + strings.ReplaceAll(focus, "'", `'\''`) + "'"
	}
	return q + " -top profile.pb.gz"
}

// Seconds formats nanoseconds for a detail line: "1.23 s", "45.6 ms".
func Seconds(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// Each calls fn for every sample with a non-zero value of type typ, with
// its frames (leaf first, as profile.Frames names them; shared with the
// other plugins: never modify them) and that value.
func (ev *Evidence) Each(typ string, fn func(s *pprof.Sample, frames []string, v int64)) {
	ev.index()
	if ev.Profile == nil {
		return
	}
	j := profile.ValueIndex(ev.Profile, typ)
	if j < 0 {
		return
	}
	for i, s := range ev.Profile.Sample {
		if v := s.Value[j]; v != 0 {
			fn(s, ev.samples[i].frames, v)
		}
	}
}
