// Package allocation diagnoses allocation pressure: CPU time in the Go
// allocator (runtime.mallocgc and what calls it: newobject, makeslice,
// growslice, string and map growth, interface boxing), the GC assists it
// triggers, and in C/C++ malloc/free and jemalloc/tcmalloc/mimalloc
// (plugins.CatAllocation's frame rules).
//
// Thresholds are plugins.HotSpot's: a warning at 20% of the CPU, critical
// at 50%, and never above info under 200 ms of CPU, 20 samples or a 1 s
// window. The finding names the function that allocates most (the caller
// of the allocator) and, as figures, how much of the allocation time is
// assists and how much of the CPU the GC takes besides.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package allocation

import (
	"fmt"
	stdregexp "regexp"

	"github.com/perfprobe/perfprobe/plugins"
)

var assists = stdregexp.MustCompile(`^runtime\.(gcAssistAlloc1?|gcParkAssist)$`)

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "allocation",
		Category:   plugins.CatAllocation,
		Except:     []plugins.Category{plugins.CatProfilerCost},
		What:       "memory allocation",
		Thresholds: plugins.HotSpot,
		Advice: "Allocate less in the functions the stacks name: preallocate slices and maps with their final size, " +
			"reuse buffers (bytes.Buffer.Reset, append(x[:0], ...)), keep values on the stack (avoid pointers to " +
			"short-lived values and interface boxing in hot loops; `go build -gcflags=-m` shows what escapes), and " +
			"pool large short-lived objects with sync.Pool. `go tool pprof -sample_index=alloc_space` on a heap " +
			"profile ranks the allocation sites. Trading memory for CPU also works: a higher GOGC, or GOMEMLIMIT with " +
			"GOGC=off, makes the collection that the allocations trigger rarer.",
		Extra: extra,
	})
}

func extra(ev *plugins.Evidence, f *plugins.Finding, m plugins.Match) {
	a := ev.Where(m.Type, func(frames []string) bool {
		for _, fr := range frames {
			if assists.MatchString(fr) {
				return true
			}
		}
		return false
	}, nil)
	if m.Value > 0 {
		f.Figures = append(f.Figures, plugins.Fig("assist_share", 100*float64(a.Value)/float64(m.Value), "%", "of the allocation time"))
	}
	gc := ev.InCategory(m.Type, plugins.CatGC)
	f.Figures = append(f.Figures, plugins.Fig("gc_share", 100*gc.Share, "%", fmt.Sprintf("%s total %s", m.Type, plugins.Seconds(gc.Total))))
	if gc.Share >= 0.10 {
		f.Detail += fmt.Sprintf(" The garbage collection it drives takes %s of the CPU (assists included).", plugins.Pct(gc.Share))
	}
}
