// Package serialization diagnoses CPU time spent encoding and decoding
// data: encoding/json (v1 and v2), protobuf, gob, xml, YAML, msgpack, CBOR
// and their reflection-based encoders, in Go, C, C++ and Rust
// (plugins.CatSerialization's frame rules). Reflection under an encoder is
// counted here, not by the reflection plugin.
//
// Thresholds are plugins.HotSpot's: a warning at 20% of the CPU, critical
// at 50%, and never above info under 200 ms of CPU, 20 samples or a 1 s
// window.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package serialization

import "github.com/perfprobe/perfprobe/plugins"

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "serialization",
		Category:   plugins.CatSerialization,
		Except:     []plugins.Category{plugins.CatProfilerCost},
		What:       "serialization (JSON, protobuf, gob, XML)",
		Thresholds: plugins.HotSpot,
		Advice: "Encode and decode less: cache the encoded bytes of responses that do not change, avoid decoding into " +
			"interface{}/map[string]any (decode into structs), and do not round-trip data through JSON between " +
			"components of one process. Then make each encoding cheaper: stream with json.Encoder/Decoder instead of " +
			"Marshal into intermediate buffers, use code-generated codecs (protobuf with vtprotobuf, easyjson, msgp) " +
			"instead of reflection-based ones, or encoding/json/v2, and consider a binary format for internal traffic.",
	})
}
