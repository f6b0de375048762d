package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

// A Go service that adds profile/serve (servedemo, hashing in
// main.hotLoop) is found and scraped by the agent with --go-profiles on a
// 1 s of every 2 s duty cycle: the windows that end a scrape carry the
// go_cpu, go_wall and heap types with main.hotLoop over 80% of go_cpu,
// the windows between carry none (the profilers were off), and the raw
// Go profiles reach Pyroscope as process_cpu with source="go".
func TestAgentScrapesGoService(t *testing.T) {
	bpftest.Require(t)
	srv := pyroscopetest.New(t)
	p := testtarget.Start(t, testtarget.Build(t, "servedemo"))
	cfg := testConfig(t)
	cfg.Targets.PIDs = []int{p.PID}
	cfg.Interval = 500 * time.Millisecond
	cfg.Probes = []string{"cpu"}
	cfg.Pyroscope.URL = srv.URL
	cfg.Go = GoConfig{Enabled: true, Every: 2 * time.Second, Duration: time.Second, Kinds: GoKinds}
	_, windows := runAgent(t, cfg, 16)

	scraped := 0
	for i, w := range windows {
		if w.GoRaw == nil {
			if profile.ValueIndex(w.Profile, profile.TypeGoCPU) >= 0 {
				t.Errorf("window %d has go_cpu without a scrape", i)
			}
			continue
		}
		scraped++
		for _, typ := range []string{profile.TypeGoCPU, profile.TypeGoWall, profile.TypeGoInuseSpace} {
			if profile.ValueIndex(w.Profile, typ) < 0 {
				t.Errorf("window %d: scraped, but no %s type in its profile", i, typ)
			}
		}
		i := profile.ValueIndex(w.Profile, profile.TypeGoCPU)
		var hot, all int64
		for _, s := range w.Profile.Sample {
			all += s.Value[i]
			if slices.Contains(profile.Frames(s), "main.hotLoop") {
				hot += s.Value[i]
			}
		}
		if all == 0 || float64(hot) < 0.8*float64(all) {
			t.Errorf("window %d: main.hotLoop is %v of %v go_cpu, want over 80%%", i, time.Duration(hot), time.Duration(all))
		}
	}
	// 16 windows of 500 ms are 8 s: a scrape starts at most every 2 s
	// (after the first window and the endpoint's discovery) and lasts 1 s,
	// so 2 to 4 of them end within the run.
	if scraped < 2 || scraped > 4 {
		t.Errorf("%d windows carry a Go scrape over %d windows, want 2 to 4 (1 s of every 2 s)", scraped, len(windows))
	}
	goSeries := 0
	for _, st := range srv.Stored() {
		if st.Labels["source"] == "go" && st.TypeID == "process_cpu:cpu:nanoseconds:cpu:nanoseconds" {
			goSeries++
		}
	}
	if goSeries < 2 {
		t.Errorf("%d Go CPU profiles in Pyroscope (process_cpu, source=go), want one per scrape (at least 2)", goSeries)
	}
}
