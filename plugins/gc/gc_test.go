package gc_test

import (
	"strings"
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/plugins/gc"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"

	"github.com/perfprobe/perfprobe/plugins"
)

// Bands at 15% and 35%, the absolute gates, and no CPU evidence (the
// plant is an assist, so the title names the allocating caller).
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "gc", "runtime.gcAssistAlloc", 0.15, 0.35)
}

// The split into mark workers, assists and sweeping comes from go_cpu
// when the capture has it; the title names where assists happen only when
// they are a large part; the id does not depend on the stacks.
func TestSplit(t *testing.T) {
	ss := plugintest.Stacks(profile.TypeOnCPU, map[string]int64{
		"runtime.scanObject;runtime.gcDrain;runtime.gcBgMarkWorker": 3e9,
		"main.neutral;main.main":                                    7e9,
	})
	ss = append(ss, plugintest.Stacks(profile.TypeGoCPU, map[string]int64{
		"runtime.scanObject;runtime.gcDrain;runtime.gcBgMarkWorker":                                 15e8,
		"runtime.gcDrainN;runtime.gcAssistAlloc1;runtime.gcAssistAlloc;runtime.mallocgc;main.build": 1e9,
		"runtime.sweepone;runtime.bgsweep":                                                          5e8,
		"main.neutral;main.main":                                                                    7e9,
	})...)
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeGoCPU}, ss...)
	f := plugintest.One(t, "gc", &plugins.Evidence{Profile: p, Duration: 10 * time.Second})
	if f == nil {
		t.Fatal("no finding for 30% GC")
	}
	want := map[string]float64{"mark_workers_share": 50, "assists_share": 100.0 / 3, "sweep_share": 50.0 / 3, "go_cpu_share": 30}
	for k, v := range want {
		if got, _ := f.Figure(k); got < v-1e-6 || got > v+1e-6 {
			t.Errorf("figure %s = %v, want %v", k, got, v)
		}
	}
	if f.Title != "30% of CPU time is garbage collection, 33% of it assists, most in main.build" || f.Severity != plugins.Warning {
		t.Errorf("%s %q", f.Severity, f.Title)
	}
	if !strings.Contains(f.Detail, "mark workers 50%, assists 33%, sweeping 17%") {
		t.Errorf("detail %q lacks the split", f.Detail)
	}
	// Without assists: no caller, the same id.
	q := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"runtime.gcDrain;runtime.gcBgMarkWorker": 3e9, "main.other;main.main": 7e9,
	})
	g := plugintest.One(t, "gc", q)
	if g == nil || g.Title != "30% of CPU time is garbage collection" || g.ID != f.ID {
		t.Errorf("finding %+v, want the title without assists and the id %s", g, f.ID)
	}
}
