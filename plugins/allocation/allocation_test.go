package allocation_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/allocation"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 20% and 50%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "allocation", "runtime.mallocgc", 0.20, 0.50)
}

// The finding names the function that allocates most, splits out the
// assists and gives the GC's share besides; the profilers' allocations
// are left out.
func TestFigures(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"runtime.mallocgcSmallNoscan;runtime.mallocgc;runtime.makeslice;main.decode;main.main":            2e9,
		"runtime.gcDrainN;runtime.gcAssistAlloc;runtime.mallocgc;runtime.newobject;main.decode;main.main": 1e9,
		"runtime.mallocgc;runtime.growslice;runtime/pprof.(*profileBuilder).appendLocsForStack":           1e9,
		"runtime.gcDrain;runtime.gcBgMarkWorker":                                                          1e9,
		"main.neutral;main.main":                                                                          5e9,
	})
	f := plugintest.One(t, "allocation", ev)
	if f == nil || f.Share != 0.3 || f.Title != "30% of CPU time is memory allocation from main.decode" || f.Severity != plugins.Warning {
		t.Fatalf("finding %+v, want a 30%% warning from main.decode", f)
	}
	for k, v := range map[string]float64{"assist_share": 100.0 / 3, "gc_share": 20} {
		if got, _ := f.Figure(k); got < v-1e-6 || got > v+1e-6 {
			t.Errorf("figure %s = %v, want %v", k, got, v)
		}
	}
}
