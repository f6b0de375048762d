// Package plugintest builds the hand-made evidence plugin tests diagnose:
// profiles of named stacks in any sample types, and captures with a
// window.
package plugintest

import (
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// S is one sample: Stack is its frames leaf first, ";"-separated (a frame
// ending in "_[k]" is a kernel frame), Value its value in Type, Count its
// events (the "samples" column; 0 for none), TID and Labels its labels.
type S struct {
	Type   string
	Stack  string
	Value  int64
	Count  int64
	TID    int64
	Labels map[string]string
}

var kernel = &pprof.Mapping{ID: 1, File: "[kernel.kallsyms]"}

// Profile builds a profile with "samples" and types (in that order) out
// of ss.
func Profile(types []string, ss ...S) *pprof.Profile {
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "samples", Unit: "count"}}, Mapping: []*pprof.Mapping{kernel}}
	for _, t := range types {
		p.SampleType = append(p.SampleType, &pprof.ValueType{Type: t, Unit: "nanoseconds"})
	}
	funcs := map[string]*pprof.Function{}
	locs := map[string]*pprof.Location{}
	for _, s := range ss {
		j := profile.ValueIndex(p, s.Type)
		if j < 0 {
			panic("plugintest: sample type " + s.Type + " not among the profile's")
		}
		smp := &pprof.Sample{Value: make([]int64, len(p.SampleType)), NumLabel: map[string][]int64{}, Label: map[string][]string{}}
		smp.Value[0], smp.Value[j] = s.Count, s.Value
		if s.TID != 0 {
			smp.NumLabel["tid"] = []int64{s.TID}
		}
		for k, v := range s.Labels {
			smp.Label[k] = []string{v}
		}
		for _, name := range strings.Split(s.Stack, ";") {
			l := locs[name]
			if l == nil {
				fn, isKernel := strings.CutSuffix(name, "_[k]")
				f := funcs[fn]
				if f == nil {
					f = &pprof.Function{ID: uint64(len(funcs) + 1), Name: fn}
					funcs[fn] = f
					p.Function = append(p.Function, f)
				}
				l = &pprof.Location{ID: uint64(len(p.Location) + 1), Line: []pprof.Line{{Function: f}}}
				if isKernel {
					l.Mapping = kernel
				}
				locs[name] = l
				p.Location = append(p.Location, l)
			}
			smp.Location = append(smp.Location, l)
		}
		p.Sample = append(p.Sample, smp)
	}
	return p
}

// Start is the start of every window Capture makes.
var Start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// Capture is an empty capture of window that ran probes.
func Capture(window time.Duration, probes ...string) *profile.Capture {
	return &profile.Capture{
		Start: Start, End: Start.Add(window), Probes: probes,
		Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{},
		Drops: map[string]uint64{}, Threads: map[uint32]*profile.Thread{},
	}
}

// Hist is a histogram of n values of ns each.
func Hist(n int, ns uint64) *profile.Histogram {
	h := &profile.Histogram{}
	for range n {
		h.Record(ns)
	}
	return h
}

// Run runs every registered plugin over ev and returns plugin name's
// findings and status.
func Run(t testing.TB, ev *plugins.Evidence, name string) ([]plugins.Finding, plugins.PluginStatus) {
	t.Helper()
	rep := plugins.Run(ev)
	var fs []plugins.Finding
	for _, f := range rep.Findings {
		if f.Plugin == name {
			fs = append(fs, f)
		}
	}
	for _, st := range rep.Plugins {
		if st.Name == name {
			return fs, st
		}
	}
	t.Fatalf("plugin %s is not registered", name)
	return nil, plugins.PluginStatus{}
}

// Figure returns f's figure name or fails the test.
func Figure(t testing.TB, f plugins.Finding, name string) float64 {
	t.Helper()
	v, ok := f.Figure(name)
	if !ok {
		t.Fatalf("finding %q has no figure %s (has %+v)", f.Title, name, f.Figures)
	}
	return v
}
