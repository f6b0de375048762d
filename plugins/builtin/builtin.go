// Package builtin composes perfprobe's built-in diagnosis plugins: a blank
// import of this package registers every one of them.
package builtin

import (
	_ "github.com/perfprobe/perfprobe/plugins/allocation"      // allocation
	_ "github.com/perfprobe/perfprobe/plugins/compression"     // compression
	_ "github.com/perfprobe/perfprobe/plugins/crypto"          // crypto
	_ "github.com/perfprobe/perfprobe/plugins/fmtlogging"      // fmt-logging
	_ "github.com/perfprobe/perfprobe/plugins/gc"              // gc
	_ "github.com/perfprobe/perfprobe/plugins/goroutinegrowth" // goroutine-growth
	_ "github.com/perfprobe/perfprobe/plugins/hashing"         // hashing
	_ "github.com/perfprobe/perfprobe/plugins/profilercost"    // profiler-cost
	_ "github.com/perfprobe/perfprobe/plugins/reflection"      // reflection
	_ "github.com/perfprobe/perfprobe/plugins/regexp"          // regexp
	_ "github.com/perfprobe/perfprobe/plugins/runqueue"        // cpu-saturation
	_ "github.com/perfprobe/perfprobe/plugins/serialization"   // serialization
)
