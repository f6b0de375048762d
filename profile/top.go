package profile

import (
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// FuncShare is one function's share of one sample type.
type FuncShare struct {
	Function string  `json:"function"`
	Flat     int64   `json:"flat"`     // value with the function as the leaf
	Cum      int64   `json:"cum"`      // value with the function anywhere on the stack
	FlatPct  float64 `json:"flat_pct"` // of the type's total
	CumPct   float64 `json:"cum_pct"`  // of the type's total
}

// StackShare is one whole stack's share of one sample type.
type StackShare struct {
	Frames []string `json:"frames"` // leaf first
	Thread string   `json:"thread,omitempty"`
	Value  int64    `json:"value"`
	Pct    float64  `json:"pct"`
	GoIdle bool     `json:"go_idle,omitempty"` // an idle Go runtime thread (see GoRuntimeIdle)
	// Profiler marks the Go runtime's profilers at work (runtime/pprof,
	// net/http/pprof, fgprof): time perfprobe's own requests caused.
	Profiler bool `json:"profiler,omitempty"`
}

// ValueIndex returns the index of sample type typ in p, or -1.
func ValueIndex(p *profile.Profile, typ string) int {
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return -1
}

// Total sums sample type typ over p.
func Total(p *profile.Profile, typ string) int64 {
	i := ValueIndex(p, typ)
	if i < 0 {
		return 0
	}
	var t int64
	for _, s := range p.Sample {
		t += s.Value[i]
	}
	return t
}

// Frames lists a sample's function names leaf first, inlined frames
// included; kernel frames end in "_[k]" so they read apart from user ones.
func Frames(s *profile.Sample) []string {
	var out []string
	for _, l := range s.Location {
		kernel := l.Mapping != nil && strings.HasPrefix(l.Mapping.File, "[kernel")
		for _, ln := range l.Line {
			name := "[unknown]"
			if ln.Function != nil && ln.Function.Name != "" {
				name = ln.Function.Name
			}
			if kernel {
				name += "_[k]"
			}
			out = append(out, name)
		}
		if len(l.Line) == 0 {
			out = append(out, "[unknown]")
		}
	}
	return out
}

// TopFunctions ranks functions by flat value of sample type typ, largest
// first, and returns at most n.
func TopFunctions(p *profile.Profile, typ string, n int) []FuncShare {
	i := ValueIndex(p, typ)
	if i < 0 {
		return nil
	}
	total := Total(p, typ)
	byName := map[string]*FuncShare{}
	get := func(name string) *FuncShare {
		f, ok := byName[name]
		if !ok {
			f = &FuncShare{Function: name}
			byName[name] = f
		}
		return f
	}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		frames := Frames(s)
		if len(frames) == 0 {
			continue
		}
		get(frames[0]).Flat += v
		seen := map[string]bool{}
		for _, f := range frames {
			if !seen[f] {
				seen[f] = true
				get(f).Cum += v
			}
		}
	}
	out := make([]FuncShare, 0, len(byName))
	for _, f := range byName {
		if total > 0 {
			f.FlatPct = 100 * float64(f.Flat) / float64(total)
			f.CumPct = 100 * float64(f.Cum) / float64(total)
		}
		out = append(out, *f)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Flat != out[b].Flat {
			return out[a].Flat > out[b].Flat
		}
		if out[a].Cum != out[b].Cum {
			return out[a].Cum > out[b].Cum
		}
		return out[a].Function < out[b].Function
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// TopStacks ranks whole stacks (merged across threads of the same name) by
// value of sample type typ and returns at most n (all when n < 0).
func TopStacks(p *profile.Profile, typ string, n int) []StackShare {
	i := ValueIndex(p, typ)
	if i < 0 {
		return nil
	}
	total := Total(p, typ)
	byKey := map[string]*StackShare{}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		frames := Frames(s)
		thread := ""
		if t := s.Label["thread"]; len(t) > 0 {
			thread = t[0]
		}
		k := thread + "\x00" + strings.Join(frames, "\x00")
		st, ok := byKey[k]
		if !ok {
			st = &StackShare{Frames: frames, Thread: thread, GoIdle: GoRuntimeIdle(frames), Profiler: IsProfilerStack(frames)}
			byKey[k] = st
		}
		st.Value += v
	}
	out := make([]StackShare, 0, len(byKey))
	for _, st := range byKey {
		if total > 0 {
			st.Pct = 100 * float64(st.Value) / float64(total)
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Value != out[b].Value {
			return out[a].Value > out[b].Value
		}
		return strings.Join(out[a].Frames, ";") < strings.Join(out[b].Frames, ";")
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
