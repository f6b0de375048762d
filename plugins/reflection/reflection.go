// Package reflection diagnoses CPU time spent in reflection (package
// reflect and internal/reflectlite) on hot paths: DeepEqual, Value.Call,
// walking structs field by field.
//
// Reflection that an encoder does (encoding/json and the other
// serialization frames) is the serialization plugin's, and reflection
// that fmt does to print a value (%v of a struct) is fmt-logging's; both
// are left out here, so each CPU second has one advice.
//
// Thresholds: a warning at 10% of the CPU, critical at 30% (reflection is
// rarely the work itself, so a tenth of the CPU in it is already worth
// removing), and never above info under 200 ms of CPU, 20 samples or a
// 1 s window.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package reflection

import "github.com/perfprobe/perfprobe/plugins"

// thresholds of the reflection plugin.
var thresholds = plugins.Thresholds{Warn: 0.10, Critical: 0.30, MinValue: plugins.DefaultMinValue, MinSamples: plugins.DefaultMinSamples, MinWindow: plugins.DefaultMinWindow}

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "reflection",
		Category:   plugins.CatReflection,
		Except:     []plugins.Category{plugins.CatSerialization, plugins.CatFmtLogging, plugins.CatProfilerCost},
		What:       "reflection",
		Thresholds: thresholds,
		Advice: "Take reflection out of the hot path: replace reflect.DeepEqual with a typed comparison (==, " +
			"slices.Equal, maps.Equal, a generated Equal method), Value.Call and MethodByName with interfaces or " +
			"function values, and per-call walks over struct fields with code generation or generics. Where reflection " +
			"must stay, inspect a type once and cache what it found (field indexes, setters) by reflect.Type.",
	})
}
