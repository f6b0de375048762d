// Package plugintest builds hand-made evidence for the built-in plugins'
// tests (profiles from ";"-joined stacks, no root, no capture) and checks
// the bands every on-CPU hot-spot plugin shares.
package plugintest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// Profile is an empty profile with a "samples" count and the sample types
// given (counts for go_goroutines, nanoseconds for the others).
func Profile(types ...string) *pprof.Profile {
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "samples", Unit: "count"}}}
	for _, typ := range types {
		unit := "nanoseconds"
		if typ == profile.TypeGoGoroutines {
			unit = "count"
		}
		p.SampleType = append(p.SampleType, &pprof.ValueType{Type: typ, Unit: unit})
	}
	return p
}

// Add adds one sample of type typ per stack (frames leaf first,
// ";"-separated). A time type's sample counts value/10 ms events, as a
// 100 Hz sampler takes them.
func Add(p *pprof.Profile, typ string, byStack map[string]int64) *pprof.Profile {
	idx := profile.ValueIndex(p, typ)
	if idx < 0 {
		panic("plugintest: the profile has no type " + typ)
	}
	funcs := map[string]*pprof.Function{}
	for _, f := range p.Function {
		funcs[f.Name] = f
	}
	for stack, v := range byStack {
		s := &pprof.Sample{Value: make([]int64, len(p.SampleType))}
		s.Value[idx] = v
		s.Value[0] = v
		if p.SampleType[idx].Unit == "nanoseconds" {
			s.Value[0] = max(1, v/10e6)
		}
		for _, name := range strings.Split(stack, ";") {
			f := funcs[name]
			if f == nil {
				f = &pprof.Function{ID: uint64(len(p.Function) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			l := &pprof.Location{ID: uint64(len(p.Location) + 1), Line: []pprof.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			s.Location = append(s.Location, l)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// CPU is evidence of one CPU type over window: the stacks, leaf first.
func CPU(typ string, window time.Duration, byStack map[string]int64) *plugins.Evidence {
	return &plugins.Evidence{Profile: Add(Profile(typ), typ, byStack), Duration: window, Source: "test"}
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
		ev := &plugins.Evidence{Capture: &profile.Capture{Probes: []string{"sched"}}, Profile: Add(Profile(profile.TypeOffCPUBlocked), profile.TypeOffCPUBlocked, map[string]int64{planted: 1e9})}
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
