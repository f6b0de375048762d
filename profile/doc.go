// Package profile is perfprobe's data API: the Capture a probe session
// produces (raw stacks, histograms, counters, drops, self-cost), its
// conversion into one symbolized pprof profile with one sample type per
// quantity, the capture.json report, and the per-type views (top
// functions, top stacks) the terminal summary prints.
package profile
