// Package crypto diagnoses CPU time spent in cryptography other than
// hashing: ciphers (AES, ChaCha20), signatures and key exchange (RSA,
// ECDSA, Ed25519, X25519, ML-KEM), and the big-number arithmetic under
// them (plugins.CatCrypto's frame rules).
//
// Thresholds are plugins.HotSpot's: a warning at 20% of the CPU, critical
// at 50%, and never above info under 200 ms of CPU, 20 samples or a 1 s
// window. Stacks that are also hashing belong to the hashing plugin, and
// those under a TLS handshake to tls-handshake.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package crypto

import "github.com/perfprobe/perfprobe/plugins"

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "crypto",
		Category:   plugins.CatCrypto,
		Except:     []plugins.Category{plugins.CatHashing, plugins.CatTLSHandshake, plugins.CatProfilerCost},
		What:       "cryptography",
		Thresholds: plugins.HotSpot,
		Advice: "Find which operation the stacks show. Bulk encryption: use AES-GCM where the CPU has AES-NI/PMULL " +
			"(ChaCha20-Poly1305 where it does not), and large buffers rather than many small Seal/Open calls. " +
			"Signatures and key exchange: sign or verify once and cache the result (tokens, certificates), prefer " +
			"ECDSA P-256 or Ed25519 over RSA for signing, keep RSA keys at 2048 bits where policy allows, and reuse " +
			"connections so fewer keys are agreed. math/big on the stack outside crypto/ means a hand-rolled scheme: " +
			"replace it with the standard library's constant-time implementations.",
	})
}
