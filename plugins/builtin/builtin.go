// Package builtin composes perfprobe's built-in diagnosis plugins: a blank
// import of this package registers every one of them.
package builtin

import (
	_ "github.com/perfprobe/perfprobe/plugins/blockedio"      // blocked-io
	_ "github.com/perfprobe/perfprobe/plugins/cpusaturation"  // cpu-saturation
	_ "github.com/perfprobe/perfprobe/plugins/cputhrottling"  // cpu-throttling
	_ "github.com/perfprobe/perfprobe/plugins/lockcontention" // lock-contention
	_ "github.com/perfprobe/perfprobe/plugins/smallsyscalls"  // small-syscalls
	_ "github.com/perfprobe/perfprobe/plugins/tlshandshake"   // tls-handshake
)
