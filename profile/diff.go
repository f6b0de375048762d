package profile

import (
	"math"
	"sort"

	"github.com/google/pprof/profile"
)

// Mover is one function's change between two profiles of one sample type,
// each normalized to its own total: shares are compared, not raw values,
// so captures of different lengths or loads compare fairly.
type Mover struct {
	Function    string  `json:"function"`
	BaseFlatPct float64 `json:"base_flat_pct"`
	NewFlatPct  float64 `json:"new_flat_pct"`
	FlatDelta   float64 `json:"flat_delta_pts"` // new - base, percentage points
	BaseCumPct  float64 `json:"base_cum_pct"`
	NewCumPct   float64 `json:"new_cum_pct"`
	CumDelta    float64 `json:"cum_delta_pts"`
}

// Movers ranks functions by how much their flat share of type typ moved
// from base to cur (largest absolute change first; on ties growth first,
// then by cumulative change, then name) and returns at most n (all when n < 0).
func Movers(base, cur *profile.Profile, typ string, n int) []Mover {
	by := map[string]*Mover{}
	get := func(name string) *Mover {
		m, ok := by[name]
		if !ok {
			m = &Mover{Function: name}
			by[name] = m
		}
		return m
	}
	for _, f := range TopFunctions(base, typ, -1) {
		m := get(f.Function)
		m.BaseFlatPct, m.BaseCumPct = f.FlatPct, f.CumPct
	}
	for _, f := range TopFunctions(cur, typ, -1) {
		m := get(f.Function)
		m.NewFlatPct, m.NewCumPct = f.FlatPct, f.CumPct
	}
	out := make([]Mover, 0, len(by))
	for _, m := range by {
		m.FlatDelta = round2(m.NewFlatPct - m.BaseFlatPct)
		m.CumDelta = round2(m.NewCumPct - m.BaseCumPct)
		m.BaseFlatPct, m.NewFlatPct = round2(m.BaseFlatPct), round2(m.NewFlatPct)
		m.BaseCumPct, m.NewCumPct = round2(m.BaseCumPct), round2(m.NewCumPct)
		out = append(out, *m)
	}
	sort.Slice(out, func(a, b int) bool {
		fa, fb := math.Abs(out[a].FlatDelta), math.Abs(out[b].FlatDelta)
		if fa != fb {
			return fa > fb
		}
		if out[a].FlatDelta != out[b].FlatDelta {
			return out[a].FlatDelta > out[b].FlatDelta // growth before shrinkage
		}
		ca, cb := math.Abs(out[a].CumDelta), math.Abs(out[b].CumDelta)
		if ca != cb {
			return ca > cb
		}
		return out[a].Function < out[b].Function
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// CommonTypes lists the sample types both profiles have with a non-zero
// total, in cur's order.
func CommonTypes(base, cur *profile.Profile) []string {
	var out []string
	for _, st := range cur.SampleType {
		if Total(cur, st.Type) != 0 && Total(base, st.Type) != 0 {
			out = append(out, st.Type)
		}
	}
	return out
}

// PreferredType picks the type to show first: want when p has it, else
// p's default sample type when non-empty, else the first type with data.
// It returns "" when p has no data at all.
func PreferredType(p *profile.Profile, want string) string {
	if want != "" {
		if ValueIndex(p, want) >= 0 {
			return want
		}
		return ""
	}
	if p.DefaultSampleType != "" && Total(p, p.DefaultSampleType) != 0 {
		return p.DefaultSampleType
	}
	for _, st := range p.SampleType {
		if Total(p, st.Type) != 0 {
			return st.Type
		}
	}
	return ""
}
