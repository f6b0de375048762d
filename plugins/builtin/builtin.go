// Package builtin composes perfprobe's built-in diagnosis plugins: a blank
// import of this package registers every one of them.
package builtin

import (
	_ "github.com/perfprobe/perfprobe/plugins/allocation"      // allocation
	_ "github.com/perfprobe/perfprobe/plugins/blockedio"       // blocked-io
	_ "github.com/perfprobe/perfprobe/plugins/compression"     // compression
	_ "github.com/perfprobe/perfprobe/plugins/cpusaturation"   // cpu-saturation
	_ "github.com/perfprobe/perfprobe/plugins/cputhrottling"   // cpu-throttling
	_ "github.com/perfprobe/perfprobe/plugins/crypto"          // crypto
	_ "github.com/perfprobe/perfprobe/plugins/fmtlogging"      // fmt-logging
	_ "github.com/perfprobe/perfprobe/plugins/gc"              // gc
	_ "github.com/perfprobe/perfprobe/plugins/goroutinegrowth" // goroutine-growth
	_ "github.com/perfprobe/perfprobe/plugins/hashing"         // hashing
	_ "github.com/perfprobe/perfprobe/plugins/lockcontention"  // lock-contention
	_ "github.com/perfprobe/perfprobe/plugins/profilercost"    // profiler-cost
	_ "github.com/perfprobe/perfprobe/plugins/reflection"      // reflection
	_ "github.com/perfprobe/perfprobe/plugins/regexp"          // regexp
	_ "github.com/perfprobe/perfprobe/plugins/serialization"   // serialization
	_ "github.com/perfprobe/perfprobe/plugins/smallsyscalls"   // small-syscalls
	_ "github.com/perfprobe/perfprobe/plugins/tlshandshake"    // tls-handshake
)
