package profile

import (
	"fmt"
	"slices"

	"github.com/google/pprof/profile"
)

// ProcessShare is one process's part of a profile.
type ProcessShare struct {
	PID    int
	Comm   string
	Totals map[string]int64 // by sample type
}

// ByProcess sums every sample type per process (the "pid" label), largest
// first by the first of types that has data; samples without a pid are
// left out.
func ByProcess(p *profile.Profile, types ...string) []ProcessShare {
	by := map[int]*ProcessShare{}
	for _, s := range p.Sample {
		if len(s.NumLabel["pid"]) != 1 {
			continue
		}
		pid := int(s.NumLabel["pid"][0])
		ps := by[pid]
		if ps == nil {
			ps = &ProcessShare{PID: pid, Totals: map[string]int64{}}
			if c := s.Label["comm"]; len(c) == 1 {
				ps.Comm = c[0]
			}
			by[pid] = ps
		}
		for i, st := range p.SampleType {
			ps.Totals[st.Type] += s.Value[i]
		}
	}
	out := make([]ProcessShare, 0, len(by))
	for _, ps := range by {
		out = append(out, *ps)
	}
	slices.SortFunc(out, func(a, b ProcessShare) int {
		for _, t := range types {
			if a.Totals[t] != b.Totals[t] {
				if a.Totals[t] > b.Totals[t] {
					return -1
				}
				return 1
			}
		}
		return a.PID - b.PID
	})
	return out
}

// GroupByProcess returns a copy of p where every sample with a pid label
// gets one more root frame naming its process, "comm (pid N)": a
// flamegraph of it has one tower per process.
func GroupByProcess(p *profile.Profile) *profile.Profile {
	q := p.Copy()
	roots := map[int64]*profile.Location{}
	nextLoc, nextFn := uint64(len(q.Location)+1), uint64(len(q.Function)+1)
	for _, l := range q.Location {
		nextLoc = max(nextLoc, l.ID+1)
	}
	for _, f := range q.Function {
		nextFn = max(nextFn, f.ID+1)
	}
	for _, s := range q.Sample {
		if len(s.NumLabel["pid"]) != 1 {
			continue
		}
		pid := s.NumLabel["pid"][0]
		root := roots[pid]
		if root == nil {
			name := fmt.Sprintf("pid %d", pid)
			if c := s.Label["comm"]; len(c) == 1 {
				name = fmt.Sprintf("%s (pid %d)", c[0], pid)
			}
			fn := &profile.Function{ID: nextFn, Name: name, SystemName: name}
			nextFn++
			root = &profile.Location{ID: nextLoc, Line: []profile.Line{{Function: fn}}}
			nextLoc++
			q.Function = append(q.Function, fn)
			q.Location = append(q.Location, root)
			roots[pid] = root
		}
		s.Location = append(s.Location, root)
	}
	return q
}
