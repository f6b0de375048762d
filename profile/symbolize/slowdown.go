package symbolize

import "time"

// testSlowdown is the fraction by which Process.Symbolize slows itself down:
// 0, except in builds with the perfgate_slow tag (slow_perfgate.go), which
// make perf-gate's own test plant a regression for the gate to catch.
var testSlowdown float64

// burn busy-waits for testSlowdown times the time since start: a CPU cost,
// as a real regression would be, not a sleep. Its clock reads add ~3 of
// time.Now's cost on top, which matters only for the cached path's ~50 ns.
func burn(start time.Time) {
	now := time.Now()
	deadline := now.Add(time.Duration(float64(now.Sub(start)) * testSlowdown))
	for time.Now().Before(deadline) {
	}
}
