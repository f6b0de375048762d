// Package hashing diagnoses CPU time spent computing digests: SHA-2, SHA-1,
// MD5, SHA-3, BLAKE, HMAC, CRC and the non-cryptographic hashes (xxhash,
// FNV), in Go, C, C++ and Rust (plugins.CatHashing's frame rules).
//
// Thresholds are plugins.HotSpot's: a warning at 20% of the CPU, critical
// at 50%, and never above info under 200 ms of CPU, 20 samples or a 1 s
// window. Hashing inside a TLS handshake is the tls-handshake plugin's,
// and the CRC a compressor computes over its input is compression's.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package hashing

import "github.com/perfprobe/perfprobe/plugins"

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "hashing",
		Category:   plugins.CatHashing,
		Except:     []plugins.Category{plugins.CatTLSHandshake, plugins.CatCompression, plugins.CatProfilerCost},
		What:       "hashing",
		Thresholds: plugins.HotSpot,
		Advice: "Hash less, or hash faster: cache digests of data that does not change (ETags, content addresses), " +
			"hash once per request instead of per layer, and hash only the bytes that need it. Where the digest need not " +
			"resist attackers (sharding, dedup keys, hash tables) use a fast non-cryptographic hash (hash/maphash, xxhash); " +
			"where it must, prefer SHA-256 with hardware support (SHA-NI, ARMv8 SHA2, which Go and OpenSSL use) or BLAKE3 " +
			"over SHA-1/MD5 in software, and check the call count behind the hot stack with the query.",
	})
}
