// Package plugintest builds hand-made evidence for the built-in plugins'
// tests (profiles of named stacks in any sample types, captures with a
// window, histograms), runs one plugin over it, and checks the bands every
// on-CPU hot-spot plugin shares.
package plugintest

import (
	"fmt"
	"math"
	"sort"
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

// unit is the unit of sample type typ: a count for go_goroutines,
// nanoseconds for the others.
func unit(typ string) string {
	if typ == profile.TypeGoGoroutines {
		return "count"
	}
	return "nanoseconds"
}

// Profile builds a profile with "samples" and types (in that order) out
// of ss; go_goroutines is in counts, the other types in nanoseconds.
func Profile(types []string, ss ...S) *pprof.Profile {
	kernel := &pprof.Mapping{ID: 1, File: "[kernel.kallsyms]"}
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "samples", Unit: "count"}}, Mapping: []*pprof.Mapping{kernel}}
	for _, t := range types {
		p.SampleType = append(p.SampleType, &pprof.ValueType{Type: t, Unit: unit(t)})
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

// Stacks is one sample of type typ per stack of byStack (in stack order),
// its value the stack's. Its count is the value for a count type; for a
// time type value/10 ms events (at least one), as a 100 Hz sampler takes
// them.
func Stacks(typ string, byStack map[string]int64) []S {
	ss := make([]S, 0, len(byStack))
	for stack, v := range byStack {
		n := v
		if unit(typ) == "nanoseconds" {
			n = max(1, v/10e6)
		}
		ss = append(ss, S{Type: typ, Stack: stack, Value: v, Count: n})
	}
	sort.Slice(ss, func(a, b int) bool { return ss[a].Stack < ss[b].Stack })
	return ss
}

// CPU is evidence of one CPU type over window: the stacks, leaf first.
func CPU(typ string, window time.Duration, byStack map[string]int64) *plugins.Evidence {
	return &plugins.Evidence{Profile: Profile([]string{typ}, Stacks(typ, byStack)...), Duration: window, Source: "test"}
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

// Run runs the registered plugin name over ev: its status and findings.
func Run(t testing.TB, name string, ev *plugins.Evidence) (plugins.PluginStatus, []plugins.Finding) {
	t.Helper()
	for _, p := range plugins.Registered() {
		if p.Name() == name {
			rep := plugins.RunPlugins(ev, []plugins.Plugin{p})
			return rep.Plugins[0], rep.Findings
		}
	}
	t.Fatalf("no plugin %q is registered", name)
	return plugins.PluginStatus{}, nil
}

// One runs plugin name over ev and returns its one finding, or nil when it
// found nothing; it fails the test on more than one, or a failed status.
func One(t testing.TB, name string, ev *plugins.Evidence) *plugins.Finding {
	t.Helper()
	st, fs := Run(t, name, ev)
	if st.Status != plugins.StatusOK {
		t.Fatalf("%s: status %s (%s)", name, st.Status, st.Reason)
	}
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return &fs[0]
	}
	t.Fatalf("%s: %d findings, want at most one: %+v", name, len(fs), fs)
	return nil
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

// HotSpotBands checks an on-CPU hot-spot plugin: frame (a function in its
// category) called from main.caller over 10 s of oncpu in a 10 s window
// gives no finding under half the warning share, info just under it, a
// warning at it and just under the critical share, critical at that; the
// share reproduces; the absolute gates keep a large share of a few milliseconds,
// of a short window or of too little CPU at info; the Go runtime's CPU
// profile alone (an offline profile) is evidence too; and without CPU
// evidence the plugin is not applicable.
func HotSpotBands(t *testing.T, name, frame string, warn, critical float64) {
	t.Helper()
	planted := frame + ";main.caller;main.main"
	at := func(typ string, share float64, total, window time.Duration) *plugins.Evidence {
		v := int64(share * float64(total))
		return CPU(typ, window, map[string]int64{planted: v, "main.neutral;main.main": int64(total) - v})
	}
	const total, window = 10 * time.Second, 10 * time.Second
	for _, c := range []struct {
		name  string
		ev    *plugins.Evidence
		share float64
		sev   plugins.Severity
		none  bool
		gated bool
	}{
		{name: "under half the warning share", ev: at(profile.TypeOnCPU, warn/2-0.02, total, window), none: true},
		{name: "just under the warning share", ev: at(profile.TypeOnCPU, warn-0.01, total, window), share: warn - 0.01, sev: plugins.Info},
		{name: "at the warning share", ev: at(profile.TypeOnCPU, warn, total, window), share: warn, sev: plugins.Warning},
		{name: "just under the critical share", ev: at(profile.TypeOnCPU, critical-0.01, total, window), share: critical - 0.01, sev: plugins.Warning},
		{name: "at the critical share", ev: at(profile.TypeOnCPU, critical, total, window), share: critical, sev: plugins.Critical},
		{name: "40% of a 5 ms capture", ev: at(profile.TypeOnCPU, 0.4, 5*time.Millisecond, 5*time.Millisecond), share: 0.4, sev: plugins.Info, gated: true},
		{name: "60% of 100 ms of CPU over 10 s", ev: at(profile.TypeOnCPU, 0.6, 100*time.Millisecond, window), share: 0.6, sev: plugins.Info, gated: true},
		{name: "go_cpu alone", ev: at(profile.TypeGoCPU, (warn+critical)/2, total, window), share: (warn + critical) / 2, sev: plugins.Warning},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := One(t, name, c.ev)
			if c.none {
				if f != nil {
					t.Errorf("finding %q (%s), want none", f.Title, f.Severity)
				}
				return
			}
			if f == nil {
				t.Fatalf("no finding at %.0f%%", 100*c.share)
			}
			if f.Severity != c.sev || math.Abs(f.Share-c.share) > 1e-6 {
				t.Errorf("%s at %.1f%%, want %s at %.1f%%: %s", f.Severity, 100*f.Share, c.sev, 100*c.share, f.Detail)
			}
			if gated := strings.Contains(f.Detail, "Kept at info"); gated != c.gated {
				t.Errorf("detail %q: gated %v, want %v", f.Detail, gated, c.gated)
			}
			if !strings.Contains(f.Title, "main.caller") || f.Advice == "" || len(f.Stacks) == 0 || f.Query == "" {
				t.Errorf("finding lacks the caller, advice, stacks or query: %+v", f)
			}
		})
	}
	t.Run("no CPU evidence", func(t *testing.T) {
		ev := &plugins.Evidence{Capture: &profile.Capture{Probes: []string{"sched"}}, Profile: Profile([]string{profile.TypeOffCPUBlocked}, Stacks(profile.TypeOffCPUBlocked, map[string]int64{planted: 1e9})...)}
		st, fs := Run(t, name, ev)
		if st.Status != plugins.StatusNotApplicable || st.Enable == "" || len(fs) != 0 {
			t.Errorf("status %s (%s; enable %q), %d findings; want not_applicable with what to enable", st.Status, st.Reason, st.Enable, len(fs))
		}
	})
}

// Share is the share of the one finding plugin name reports over ev, or
// -1 when it reports none.
func Share(t testing.TB, name string, ev *plugins.Evidence) float64 {
	t.Helper()
	f := One(t, name, ev)
	if f == nil {
		return -1
	}
	return f.Share
}

// Pct formats a share for a test message.
func Pct(share float64) string { return fmt.Sprintf("%.1f%%", 100*share) }
