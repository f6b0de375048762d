// Package gc diagnoses CPU time the Go garbage collector takes: background
// mark workers (runtime.gcBgMarkWorker), mark assists charged to
// allocating goroutines, sweeping and scavenging (plugins.CatGC's frame
// rules; C runtimes' GC_* and mark/sweep frames too).
//
// Thresholds: a warning at 15% of the CPU, critical at 35%. The Go GC aims
// at 25% of GOMAXPROCS while a cycle runs and far less on average, so a
// sustained 15% means the heap is cycled much faster than it is
// collected cheaply. Never above info under 200 ms of CPU, 20 samples or
// a 1 s window.
//
// Extra figures split the GC time into mark workers, assists and sweeping,
// from the Go CPU profile when the capture has it (the Go runtime unwinds
// its own system-stack frames best), else from the eBPF samples.
package gc

import (
	"fmt"
	stdregexp "regexp"
	"slices"
	"strings"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

var thresholds = plugins.Thresholds{Warn: 0.15, Critical: 0.35, MinValue: plugins.DefaultMinValue, MinSamples: plugins.DefaultMinSamples, MinWindow: plugins.DefaultMinWindow}

// parts split GC time by what does it.
var parts = []struct {
	name string
	re   *stdregexp.Regexp
}{
	{"mark_workers", stdregexp.MustCompile(`^runtime\.gcBgMarkWorker`)},
	{"assists", stdregexp.MustCompile(`^runtime\.(gcAssistAlloc1?|gcParkAssist)$`)},
	{"sweep", stdregexp.MustCompile(`^runtime\.(bgsweep|sweepone|gcSweep|\(\*mspan\)\.sweep|\(\*sweepLocked\)\.sweep)$`)},
}

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "gc",
		Category:   plugins.CatGC,
		What:       "garbage collection",
		Thresholds: thresholds,
		Advice: "Make the collector's work smaller or rarer. Allocate less (see the allocation finding and " +
			"`go tool pprof -sample_index=alloc_space` on the heap profile): reuse buffers, preallocate slices and " +
			"maps, pool short-lived objects with sync.Pool. Keep fewer pointers in the live heap (slices of values " +
			"instead of pointers, indexes instead of pointer graphs): marking follows pointers. With memory to spare, " +
			"raise GOGC (e.g. 200-400), or set GOMEMLIMIT near the memory you can give and GOGC=off so the GC runs " +
			"only near the limit.",
		Extra: extra,
	})
}

func extra(ev *plugins.Evidence, f *plugins.Finding, m plugins.Match) {
	// The GC has no caller to name: the mark workers are the runtime's
	// own goroutines, and an assist's caller is the allocator.
	f.Title = fmt.Sprintf("%s of CPU time is garbage collection", plugins.Pct(m.Share))
	f.Key = []string{"gc"}
	typ := m.Type
	if ev.HasType(profile.TypeGoCPU) && ev.Total(profile.TypeGoCPU) > 0 {
		typ = profile.TypeGoCPU
	}
	gc := ev.InCategory(typ, plugins.CatGC)
	if gc.Value == 0 {
		return
	}
	of := fmt.Sprintf("%s in gc %s", typ, plugins.Seconds(gc.Value))
	shares := map[string]float64{}
	for _, p := range parts {
		pm := ev.Matching(typ, p.re)
		shares[p.name] = float64(pm.Value) / float64(gc.Value)
		f.Figures = append(f.Figures, plugins.Fig(p.name+"_share", 100*shares[p.name], "%", of))
	}
	f.Detail += fmt.Sprintf(" Of the GC time (%s): mark workers %s, assists %s, sweeping %s.", typ,
		plugins.Pct(shares["mark_workers"]), plugins.Pct(shares["assists"]), plugins.Pct(shares["sweep"]))
	if shares["assists"] >= 0.25 {
		a := ev.Where(typ, func(frames []string) bool { return slices.ContainsFunc(frames, parts[1].re.MatchString) }, isRuntime)
		if len(a.Entries) > 0 {
			f.Title += fmt.Sprintf(", %s of it assists, most in %s", plugins.Pct(shares["assists"]), plugins.ShortFunc(a.Entries[0]))
		}
		f.Advice += " Assists are a large part: allocating goroutines are made to mark before they may allocate, " +
			"which adds to their latency; allocating less in the functions named fixes this first."
	}
}

// isRuntime reports whether a frame is the Go runtime's.
func isRuntime(f string) bool {
	return strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "internal/runtime/") || strings.HasPrefix(f, "gcWriteBarrier")
}
