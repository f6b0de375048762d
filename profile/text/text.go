// Package text writes the figures of a capture in plain words: durations
// and sizes rounded for reading, top functions and top stacks. The summary
// and each probe's section of it use it.
package text

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// Bytes writes a byte count in B, KiB, MiB or GiB.
func Bytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// TopFunctions prints the n functions with the most self time of type typ.
func TopFunctions(w io.Writer, p *pprof.Profile, typ string, n int) {
	top := profile.TopFunctions(p, typ, n)
	if len(top) == 0 {
		fmt.Fprintln(w, "  (no samples)")
		return
	}
	fmt.Fprintf(w, "  %6s %6s  %s\n", "flat%", "cum%", "function")
	for _, f := range top {
		fmt.Fprintf(w, "  %5.1f%% %5.1f%%  %s\n", f.FlatPct, f.CumPct, f.Function)
	}
}

// TopStacks prints the heaviest stacks by their user frames, leaf
// first (the kernel part of a blocked stack is nearly always schedule()),
// leaving out idle Go runtime threads and the Go profilers at work when
// skipIdle.
func TopStacks(w io.Writer, p *pprof.Profile, typ string, n int, skipIdle bool) {
	top := profile.TopStacks(p, typ, -1)
	merged := map[string]*profile.StackShare{}
	var order []string
	for _, s := range top {
		if skipIdle && (s.GoIdle || s.Profiler) {
			continue
		}
		var user []string
		for _, f := range s.Frames {
			if !strings.HasSuffix(f, "_[k]") {
				user = append(user, f)
			}
		}
		if len(user) > 5 {
			user = user[:5]
		}
		key := s.Thread + ": " + strings.Join(user, " < ")
		if len(user) == 0 {
			key = s.Thread + ": (kernel only)"
		}
		if m, ok := merged[key]; ok {
			m.Value += s.Value
			m.Pct += s.Pct
			continue
		}
		cp := s
		merged[key] = &cp
		order = append(order, key)
	}
	sort.SliceStable(order, func(a, b int) bool { return merged[order[a]].Value > merged[order[b]].Value })
	if len(order) > n {
		order = order[:n]
	}
	if len(order) == 0 {
		fmt.Fprintln(w, "  (nothing)")
	}
	for _, k := range order {
		fmt.Fprintf(w, "  %5.1f%% %9s  %s\n", merged[k].Pct, Ns(merged[k].Value), k)
	}
}

// Ns writes a duration in nanoseconds rounded for reading: 1.23s,
// 45.67ms, 890µs.
func Ns(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(time.Microsecond).String()
	}
	return d.String()
}

// Percentiles writes "p50 X  p95 Y  p99 Z  max W" of a histogram.
func Percentiles(h *profile.Histogram) string {
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s",
		Ns(int64(h.Percentile(.5))), Ns(int64(h.Percentile(.95))), Ns(int64(h.Percentile(.99))), Ns(int64(h.MaxNs)))
}
