package abrun

import (
	"io"
	"time"

	"github.com/perfprobe/perfprobe/internal/gate"
)

// Options configures Run.
type Options struct {
	Base, Head string // shell commands, run with sh -c
	// Pairs is the number of measured pairs (0: 10).
	Pairs int
	// Warmup is the number of warm-up runs of each side before the pairs,
	// discarded (DefaultOptions has 1; 0 runs none).
	Warmup int
	Dir    string   // working directory of the commands (default: the caller's)
	Env    []string // added to the caller's environment
	// Timeout bounds one run (0: none).
	Timeout time.Duration
	// Out receives a progress line per warm-up round and per pair (nil:
	// none).
	Out io.Writer
	// Parse reads a run's standard output into a set (default
	// gate.ParseData).
	Parse func(name string, data []byte, into *gate.Set) (ok bool, err error)
}

// DefaultOptions returns 10 pairs after one warm-up run of each side.
func DefaultOptions() Options {
	return Options{Pairs: 10, Warmup: 1}
}
