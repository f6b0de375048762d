// Package builtin composes perfprobe's built-in diagnosis plugins: a blank
// import of this package registers every one of them.
package builtin

import (
	_ "github.com/perfprobe/perfprobe/plugins/cpusaturation" // cpu-saturation
)
