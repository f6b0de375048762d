// Package compression diagnoses CPU time spent compressing and
// decompressing: gzip, deflate, zlib, zstd, lz4, snappy, brotli, bzip2 and
// xz, in Go, C and Rust (plugins.CatCompression's frame rules; the CRC a
// gzip stream computes counts here, not as hashing).
//
// Thresholds are plugins.HotSpot's: a warning at 20% of the CPU, critical
// at 50%, and never above info under 200 ms of CPU, 20 samples or a 1 s
// window.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package compression

import "github.com/perfprobe/perfprobe/plugins"

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "compression",
		Category:   plugins.CatCompression,
		Except:     []plugins.Category{plugins.CatProfilerCost},
		What:       "compression",
		Thresholds: plugins.HotSpot,
		Advice: "Compress less, or at a cheaper level: skip payloads that are small (under ~1 KiB) or already " +
			"compressed (images, archives), cache compressed responses, and use a faster level (gzip.BestSpeed, zstd " +
			"level 1-3) where the ratio barely changes. Reuse compressors (gzip.Writer.Reset, a sync.Pool) instead of " +
			"creating one per message: their tables are large. For internal traffic prefer zstd, lz4 or snappy " +
			"(github.com/klauspost/compress has faster drop-in gzip/zstd for Go).",
	})
}
