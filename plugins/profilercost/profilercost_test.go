package profilercost_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/profilercost"
	"github.com/perfprobe/perfprobe/profile"
)

// capture is a hand-made capture of window with the target's threads on
// CPU for targetCPU and the self-cost sc.
func capture(window, targetCPU time.Duration, sc profile.SelfCost) *profile.Capture {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return &profile.Capture{
		Start: start, End: start.Add(window), Probes: []string{"cpu", "sched"},
		Threads:  map[uint32]*profile.Thread{7: {TID: 7, OnCPUNs: uint64(targetCPU)}},
		SelfCost: sc,
	}
}

// The thresholds: BPF time as a share of one CPU (10%, 30%) or of a busy
// target's CPU (5%, 20%; at least 100 ms; no higher than 5%, 15% of one
// CPU says), missed runs (1%, 10%), the Go
// profilers' share of the target's CPU (5%, 20%) but no more than their
// share of one CPU says (10%, 25%), each with its absolute gate (an idle
// target's Go profilers by one CPU, info from 20%, never more); perfprobe's
// own CPU time is a figure, never a finding. The demo's
// measured cost, 2% of one CPU and 1% of its CPU, is nothing.
func TestBands(t *testing.T) {
	const w = 10 * time.Second
	profilers := func(ns int64) *plugins.Evidence {
		return &plugins.Evidence{Profile: plugintest.Profile([]string{profile.TypeOnCPU}, plugintest.Stacks(profile.TypeOnCPU, map[string]int64{
			"runtime/pprof.(*profileBuilder).build;runtime/pprof.profileWriter": ns / 2,
			"runtime.sigprof;runtime.sighandler;runtime.sigtrampgo":             ns / 2,
			"main.work;main.main": 10e9 - ns,
		})...)}
	}
	for _, c := range []struct {
		name    string
		ev      *plugins.Evidence
		sc      profile.SelfCost
		window  time.Duration
		target  time.Duration
		sev     plugins.Severity
		none    bool
		title   string
		figure  string
		figureV float64
	}{
		{name: "cheap", sc: profile.SelfCost{BPFRunNs: 10e6, BPFRunCount: 1e5}, window: w, target: 5 * time.Second, none: true},
		{name: "BPF 12% of one CPU, idle target", sc: profile.SelfCost{BPFRunNs: 1200e6, BPFRunCount: 1e6}, window: w, target: 500 * time.Millisecond,
			sev: plugins.Warning, title: "perfprobe's BPF programs took 12% of one CPU", figure: "bpf_cpus", figureV: 0.12},
		{name: "BPF 6% of a busy target's CPU", sc: profile.SelfCost{BPFRunNs: 600e6, BPFRunCount: 1e6}, window: w, target: 10 * time.Second,
			sev: plugins.Warning, title: "perfprobe's BPF programs took 6% of the target's CPU", figure: "bpf_share_of_target", figureV: 6},
		{name: "BPF 6% of a busy target's CPU, 60 ms", sc: profile.SelfCost{BPFRunNs: 60e6, BPFRunCount: 1e6}, window: w, target: time.Second,
			sev: plugins.Info, title: "perfprobe's BPF programs took 6% of the target's CPU"},
		{name: "the demo: BPF 2% of one CPU, 1% of the target's", sc: profile.SelfCost{BPFRunNs: 133e6, BPFRunCount: 3e5}, window: 6 * time.Second, target: 12 * time.Second, none: true},
		{name: "BPF 25% of a busy target's CPU", sc: profile.SelfCost{BPFRunNs: 2500e6, BPFRunCount: 1e6}, window: w, target: 10 * time.Second,
			sev: plugins.Critical, title: "perfprobe's BPF programs took 25% of the target's CPU", figure: "bpf_share_of_target", figureV: 25},
		// A fifth of a CPU: the machine paid 5% of one CPU.
		{name: "BPF 25% of a light target's CPU, 5% of one CPU", sc: profile.SelfCost{BPFRunNs: 500e6, BPFRunCount: 1e6}, window: w, target: 2 * time.Second,
			sev: plugins.Warning, title: "perfprobe's BPF programs took 25% of the target's CPU", figure: "bpf_share_of_target", figureV: 25},
		// A healthy keepalive service under a busy machine: said, at info.
		{name: "BPF 29% of a light target's CPU, 3.5% of one CPU", sc: profile.SelfCost{BPFRunNs: 104e6, BPFRunCount: 41087}, window: 3 * time.Second, target: 355 * time.Millisecond,
			sev: plugins.Info, title: "perfprobe's BPF programs took 29% of the target's CPU"},
		{name: "BPF 6% of one CPU, 120% of an idle target", sc: profile.SelfCost{BPFRunNs: 600e6, BPFRunCount: 1e6}, window: w, target: 500 * time.Millisecond,
			sev: plugins.Info, title: "perfprobe's BPF programs took 6% of one CPU"},
		{name: "BPF 6% of one CPU over 500 ms", sc: profile.SelfCost{BPFRunNs: 30e6, BPFRunCount: 1e5}, window: 500 * time.Millisecond, target: 500 * time.Millisecond,
			sev: plugins.Info},
		{name: "5% of runs missed", sc: profile.SelfCost{BPFRunNs: 10e6, BPFRunCount: 95_000, BPFMissedRuns: 5_000}, window: w, target: 5 * time.Second,
			sev: plugins.Warning, title: "the kernel skipped 5% of perfprobe's BPF program runs", figure: "missed_share", figureV: 5},
		{name: "a few missed runs", sc: profile.SelfCost{BPFRunNs: 10e6, BPFRunCount: 95_000, BPFMissedRuns: 50}, window: w, target: 5 * time.Second, none: true},
		{name: "Go profilers 12% of a busy target", ev: profilers(1200e6), window: w, target: 10 * time.Second,
			sev: plugins.Warning, title: "the Go profilers took 12% of the target's CPU", figure: "go_profilers_share", figureV: 12},
		{name: "Go profilers 30% of a busy target", ev: profilers(3000e6), window: w, target: 10 * time.Second,
			sev: plugins.Critical, title: "the Go profilers took 30% of the target's CPU"},
		// 8% of a busy target is 8% of one CPU: the machine pays little
		// and the profilers' samples are left out of every hot spot.
		{name: "Go profilers 8% of a busy target, 8% of one CPU", ev: profilers(800e6), window: w, target: 10 * time.Second,
			sev: plugins.Info, title: "the Go profilers took 8% of the target's CPU"},
		// A CI run: a healthy keepalive service using 0.2 CPU, 23% of it
		// fgprof's, 4.7% of one CPU.
		{name: "Go profilers 23% of a light target, 4.7% of one CPU", ev: profilers(141e6), window: 3 * time.Second, target: 615 * time.Millisecond,
			sev: plugins.Info, title: "the Go profilers took 23% of the target's CPU"},
		// Light, but the profilers take a sixth of a CPU beside it.
		{name: "Go profilers 45% of a light target, 17% of one CPU", ev: profilers(510e6), window: 3 * time.Second, target: 1130 * time.Millisecond,
			sev: plugins.Warning, title: "the Go profilers took 45% of the target's CPU"},
		{name: "Go profilers 50 ms", ev: profilers(50e6), window: w, target: 2 * time.Second, sev: plugins.Info},
		// A healthy service using 4% of a CPU, most of it fgprof's
		// (measured: the samples counted more than the scheduler).
		{name: "Go profilers 144% of an idle target, 5% of one CPU", ev: profilers(160e6), window: 3 * time.Second, target: 112 * time.Millisecond, none: true},
		// The same service in a CI run: fgprof took 13.5% of one CPU.
		{name: "Go profilers 13% of one CPU, idle target", ev: profilers(404e6), window: 3 * time.Second, target: 190 * time.Millisecond,
			sev: plugins.Info, title: "the Go profilers took 13% of one CPU"},
		// ... and an idle target in another: 21%. Said, at info: an idle
		// program has no hot path to distort.
		{name: "Go profilers 25% of one CPU, idle target", ev: profilers(750e6), window: 3 * time.Second, target: 250 * time.Millisecond,
			sev: plugins.Info, title: "the Go profilers took 25% of one CPU", figure: "go_profilers_share", figureV: 100},
		// A CI run: all of an idle service's 768 ms were fgprof's (25% of
		// one CPU): idle is judged without the profilers' own CPU.
		{name: "Go profilers all of an idle target's 25% of one CPU", ev: profilers(767e6), window: 3 * time.Second, target: 767 * time.Millisecond,
			sev: plugins.Info, title: "the Go profilers took 26% of one CPU"},
		{name: "Go profilers 60% of one CPU, idle target", ev: profilers(1800e6), window: 3 * time.Second, target: 290 * time.Millisecond,
			sev: plugins.Info, title: "the Go profilers took 60% of one CPU"},
		{name: "perfprobe's CPU since its start", sc: profile.SelfCost{UserCPUNs: 20e9, SystemCPUNs: 5e9}, window: w, target: 5 * time.Second, none: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := c.ev
			if ev == nil {
				ev = &plugins.Evidence{}
			}
			ev.Capture = capture(c.window, c.target, c.sc)
			f := plugintest.One(t, "profiler-cost", ev)
			if c.none {
				if f != nil {
					t.Errorf("finding %s %q, want none", f.Severity, f.Title)
				}
				return
			}
			if f == nil || f.Severity != c.sev {
				t.Fatalf("finding %+v, want %s", f, c.sev)
			}
			if c.title != "" && f.Title != "Capture cost may distort it: "+c.title {
				t.Errorf("title %q, want %q", f.Title, c.title)
			}
			if c.figure != "" {
				if v, ok := f.Figure(c.figure); !ok || v < c.figureV-1e-9 || v > c.figureV+1e-9 {
					t.Errorf("figure %s = %v, want %v", c.figure, v, c.figureV)
				}
			}
			if v, _ := f.Figure("perfprobe_cpu_ns"); v != float64(c.sc.UserCPUNs+c.sc.SystemCPUNs) {
				t.Errorf("perfprobe_cpu_ns %v", v)
			}
			if f.Severity > plugins.Info && f.Advice == "" {
				t.Error("no advice")
			}
		})
	}
}

// A profile file has no self-cost: not applicable.
func TestNotApplicable(t *testing.T) {
	ev := plugintest.CPU(profile.TypeGoCPU, 10*time.Second, map[string]int64{"runtime/pprof.profileWriter": 5e9})
	st, _ := plugintest.Run(t, "profiler-cost", ev)
	if st.Status != plugins.StatusNotApplicable || !strings.Contains(st.Enable, "perfprobe attach") {
		t.Errorf("status %s (%s, %q)", st.Status, st.Reason, st.Enable)
	}
}
