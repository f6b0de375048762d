package profile

import (
	"fmt"
	"slices"
	"sync"
)

// SampleType is one quantity a capture measures: a probe declares its own
// (probes.Description), and this package declares "samples" and the Go
// runtime's types it merges. The registry is how every output (pprof,
// folded files, the flamegraph's legend) learns what a type is.
type SampleType struct {
	Name string // pprof sample type, e.g. "oncpu"
	Unit string // pprof unit: "nanoseconds", "count" or "bytes"
	Desc string // one line for people: what the quantity is
	// Core types get a folded file even when empty: their absence is
	// news ("no time blocked").
	Core bool
	// Samples: a stack of this type also counts its Count in "samples"
	// (the on-CPU type: samples are what was taken).
	Samples bool
	// Rank orders the types in a profile (lower first); ties by name.
	Rank int
}

// SampleCount is the "samples" type every perfprobe profile has first.
var SampleCount = SampleType{Name: "samples", Unit: "count", Desc: "Sampled stacks", Rank: -1}

var (
	typesMu sync.RWMutex
	types   = map[string]SampleType{}
)

// RegisterSampleType declares a sample type; declaring one name twice with
// different facts is a programming error.
func RegisterSampleType(t SampleType) {
	typesMu.Lock()
	defer typesMu.Unlock()
	if old, ok := types[t.Name]; ok && old != t {
		panic(fmt.Sprintf("sample type %q declared twice, differently", t.Name))
	}
	types[t.Name] = t
}

// LookupSampleType returns what was declared about a type.
func LookupSampleType(name string) (SampleType, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// RegisteredSampleTypes lists every declared type in profile order.
func RegisteredSampleTypes() []SampleType {
	typesMu.RLock()
	out := make([]SampleType, 0, len(types))
	for _, t := range types {
		out = append(out, t)
	}
	typesMu.RUnlock()
	sortTypes(out)
	return out
}

func sortTypes(ts []SampleType) {
	slices.SortFunc(ts, func(a, b SampleType) int {
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
}

func init() {
	RegisterSampleType(SampleCount)
	for _, t := range []SampleType{
		{Name: TypeGoCPU, Unit: "nanoseconds", Desc: "Go CPU profile (runtime/pprof): on-CPU time of Go code", Rank: 100},
		{Name: TypeGoWall, Unit: "nanoseconds", Desc: "Go wall clock (fgprof): every goroutine, running or waiting", Rank: 101},
		{Name: TypeGoMutexDelay, Unit: "nanoseconds", Desc: "Go mutex contention: time goroutines waited for a sync.Mutex or RWMutex", Rank: 102},
		{Name: TypeGoBlockDelay, Unit: "nanoseconds", Desc: "Go blocking: time goroutines waited on channels, select and sync primitives", Rank: 103},
		{Name: TypeGoGoroutines, Unit: "count", Desc: "Goroutines by stack, at capture time", Rank: 104},
		{Name: TypeGoAllocSpace, Unit: "bytes", Desc: "Go heap: bytes allocated during the window", Rank: 105},
		{Name: TypeGoAllocObjects, Unit: "count", Desc: "Go heap: objects allocated during the window", Rank: 106},
		{Name: TypeGoInuseSpace, Unit: "bytes", Desc: "Go heap: bytes live at the end of the window (as of the last GC)", Rank: 107},
		{Name: TypeGoInuseObjects, Unit: "count", Desc: "Go heap: objects live at the end of the window (as of the last GC)", Rank: 108},
	} {
		RegisterSampleType(t)
	}
}
