package capture

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// WriteSummary says in plain words what the capture found, and where
// WriteDir put the files when it has run.
func (r *Result) WriteSummary(w io.Writer) {
	c, p, findings, dir := r.Capture, r.Profile, r.Findings, r.Dir
	var g *profile.GoReport
	if r.Go != nil {
		g = r.Go.Report
	}
	window := c.End.Sub(c.Start)
	fmt.Fprintf(w, "\nperfprobe: pid %d (%s), %s window (ended by %s), probes %s\n",
		c.Target.PID, c.Target.Comm, window.Round(time.Millisecond), c.EndCause, strings.Join(c.Probes, ","))
	if len(findings) > 0 {
		fmt.Fprintln(w, "\nFindings:")
		for _, f := range findings {
			fmt.Fprintf(w, "  [%s] %s\n    %s\n    Try: %s\n", strings.ToUpper(f.Severity.String()), f.Title, f.Detail, f.Advice)
		}
	}
	if p != nil {
		if n := c.Counts["oncpu_samples"]; n > 0 || slices.Contains(c.Probes, "cpu") {
			fmt.Fprintf(w, "\nOn CPU: %s of CPU time (%d samples at %d Hz)\n", FormatNs(profile.Total(p, profile.TypeOnCPU)), n, c.Hz)
			printTopFunctions(w, p, profile.TypeOnCPU, 10)
		}
		if slices.Contains(c.Probes, "sched") {
			threads := 0
			for _, t := range c.Threads {
				if t.BlockedNs > 0 {
					threads++
				}
			}
			total := profile.Total(p, profile.TypeOffCPUBlocked)
			fmt.Fprintf(w, "\nBlocked off CPU: %s across %d threads (sleeping, waiting on locks, I/O or other threads)\n", FormatNs(total), threads)
			var idle, prof int64
			for _, st := range profile.TopStacks(p, profile.TypeOffCPUBlocked, -1) {
				if st.GoIdle {
					idle += st.Value
				} else if st.Profiler {
					prof += st.Value
				}
			}
			if prof > 0 {
				fmt.Fprintf(w, "  %s of it is the Go runtime's profilers serving perfprobe's requests (left out below)\n", FormatNs(prof))
			}
			if idle > 0 {
				fmt.Fprintf(w, "  %s of it is idle Go runtime threads (no goroutine ready to run); %s is the program waiting:\n", FormatNs(idle), FormatNs(total-idle-prof))
			}
			printTopStacks(w, p, profile.TypeOffCPUBlocked, 5, true)
			if d := profile.Total(p, profile.TypeOffCPUUninterruptible); d > 0 {
				fmt.Fprintf(w, "  %s of it uninterruptible (D state: disk I/O, page faults, some locks):\n", FormatNs(d))
				printTopStacks(w, p, profile.TypeOffCPUUninterruptible, 3, false)
			}
			fmt.Fprintf(w, "\nRun queue: %s runnable but waiting for a CPU\n", FormatNs(profile.Total(p, profile.TypeOffCPURunqueue)))
			if h := c.Histograms["runqueue"]; h != nil && h.Count > 0 {
				fmt.Fprintf(w, "  latency p50 %s  p95 %s  p99 %s  max %s  (%d waits)\n",
					FormatNs(int64(h.Percentile(.5))), FormatNs(int64(h.Percentile(.95))), FormatNs(int64(h.Percentile(.99))), FormatNs(int64(h.MaxNs)), h.Count)
			}
			printTopStacks(w, p, profile.TypeOffCPURunqueue, 3, false)
			fmt.Fprintf(w, "\nContext switches: %d voluntary, %d involuntary (preempted while runnable)\n",
				c.Counts["voluntary_switches"], c.Counts["involuntary_switches"])
		}
		if slices.Contains(c.Probes, "iostall") {
			printIO(w, c, p)
		}
		if slices.Contains(c.Probes, "tls") {
			printTLS(w, c, p)
		}
	}
	printGo(w, p, g)
	var drops []string
	for name, n := range c.Drops {
		if n > 0 {
			drops = append(drops, fmt.Sprintf("%s %d", name, n))
		}
	}
	sort.Strings(drops)
	if len(drops) > 0 {
		fmt.Fprintf(w, "Drops: %s\n", strings.Join(drops, ", "))
	} else {
		fmt.Fprintln(w, "Drops: none")
	}
	sc := c.SelfCost
	fmt.Fprintf(w, "Self-cost: BPF %s (%.3f%% of one CPU), perfprobe CPU %s, peak RSS %.0f MiB, attached in %s\n",
		FormatNs(int64(sc.BPFRunNs)), 100*float64(sc.BPFRunNs)/float64(max(window, 1)),
		FormatNs(int64(sc.UserCPUNs+sc.SystemCPUNs)), float64(sc.PeakRSSBytes)/(1<<20),
		time.Duration(sc.AttachSeconds*float64(time.Second)).Round(time.Millisecond))
	for _, warn := range c.Warnings {
		fmt.Fprintln(w, "Warning:", warn)
	}
	if dir == "" {
		return
	}
	prof := filepath.Join(dir, "profile.pb.gz")
	fmt.Fprintf(w, "\nWrote %s/ (profile.pb.gz, capture.json, *.folded, flamegraph.html)\n", dir)
	fmt.Fprintf(w, "Flamegraph: %s   (opens offline in any browser)\n", filepath.Join(dir, "flamegraph.html"))
	var types []string
	if p != nil {
		for _, st := range p.SampleType[1:] {
			if profile.Total(p, st.Type) != 0 && st.Type != profile.TypeOnCPU {
				types = append(types, st.Type)
			}
		}
	}
	fmt.Fprintf(w, "Dig further: go tool pprof -http=: %s", prof)
	if len(types) > 0 {
		fmt.Fprintf(w, "   (-sample_index=%s)", strings.Join(types, ", "))
	}
	fmt.Fprintln(w)
}

// printGo prints what the Go runtime's own profiles add: whether they
// agree with eBPF about CPU, and where each goroutine's wall time went.
func printGo(w io.Writer, p *pprof.Profile, g *profile.GoReport) {
	if g == nil || len(g.Types) == 0 {
		return
	}
	fmt.Fprintf(w, "\nGo runtime profiles from %s, %.1f s of the window: %s\n", g.Endpoint, g.CoveredSeconds, strings.Join(g.Types, ", "))
	if cs := g.Consistency; cs != nil {
		verdict := "agree"
		if !cs.Agree {
			verdict = "disagree"
		}
		fmt.Fprintf(w, "  eBPF and the Go CPU profile %s: top function %s vs %s, largest share difference %.1f points (%s)\n",
			verdict, firstFunc(cs.EBPF), firstFunc(cs.GoCPU), cs.MaxDiffPts, cs.MaxDiffFn)
	}
	if len(g.WallByGoroutine) > 0 {
		fmt.Fprintln(w, "  Wall time by goroutine (fgprof), and what the kernel saw its threads do:")
		fmt.Fprintf(w, "  %6s %9s %7s %7s %7s %7s  %s\n", "wall", "", "on-CPU", "runq", "syscall", "parked", "goroutines started at (mostly in)")
		for i, row := range g.WallByGoroutine {
			if i == 8 {
				break
			}
			pct := func(v int64) string { return fmt.Sprintf("%.0f%%", 100*float64(v)/float64(max(row.WallNs, 1))) }
			fmt.Fprintf(w, "  %5.1f%% %9s %7s %7s %7s %7s  %s (%s)\n", row.WallPct, FormatNs(row.WallNs),
				pct(row.OnCPUNs), pct(row.RunqueueNs), pct(row.BlockedNs), pct(row.ParkedNs), row.Entry, row.TopWait)
		}
		fmt.Fprintln(w, "  parked = waiting in the Go runtime (channels, locks, timers, network): no thread busy or blocked for it")
	}
}

func firstFunc(list []profile.FuncShare) string {
	if len(list) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.0f%%)", list[0].Function, list[0].FlatPct)
}

// printIO prints the I/O syscalls and block devices the iostall probe saw,
// and the stacks of the slow syscalls.
func printIO(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	fmt.Fprintf(w, "\nI/O: %s in slow syscalls (over the I/O threshold), by the stack that made them\n", FormatNs(profile.Total(p, profile.TypeIOWait)))
	var names []string
	for name, h := range c.Histograms {
		if (strings.HasPrefix(name, "syscall_") || strings.HasPrefix(name, "block_")) && h.Count > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintf(w, "  %-22s %8s %9s %9s %9s %10s %7s\n", "", "calls", "p50", "p99", "max", "bytes", "errors")
	}
	for _, name := range names {
		h := c.Histograms[name]
		fmt.Fprintf(w, "  %-22s %8d %9s %9s %9s %10s %7d\n", name, h.Count, FormatNs(int64(h.Percentile(.5))), FormatNs(int64(h.Percentile(.99))),
			FormatNs(int64(h.MaxNs)), FormatBytes(c.Counts[name+"_bytes"]), c.Counts[name+"_errors"])
	}
	printTopStacks(w, p, profile.TypeIOWait, 5, false)
}

// printTLS prints the TLS handshakes the tls probe saw.
func printTLS(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	ok, failed := c.Counts["tls_handshakes_ok"], c.Counts["tls_handshakes_failed"]
	fmt.Fprintf(w, "\nTLS handshakes: %d ok (client %d, server %d), %d failed; %s in handshakes\n",
		ok, c.Counts["tls_client_ok"], c.Counts["tls_server_ok"], failed, FormatNs(profile.Total(p, profile.TypeTLSHandshake)))
	if h := c.Histograms["tls_handshake"]; h != nil && h.Count > 0 {
		fmt.Fprintf(w, "  duration p50 %s  p95 %s  p99 %s  max %s\n",
			FormatNs(int64(h.Percentile(.5))), FormatNs(int64(h.Percentile(.95))), FormatNs(int64(h.Percentile(.99))), FormatNs(int64(h.MaxNs)))
	}
	printTopStacks(w, p, profile.TypeTLSHandshake, 3, false)
}

// FormatBytes writes a byte count in B, KiB, MiB or GiB.
func FormatBytes(n uint64) string {
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

func printTopFunctions(w io.Writer, p *pprof.Profile, typ string, n int) {
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

// printTopStacks prints the heaviest stacks by their user frames, leaf
// first (the kernel part of a blocked stack is nearly always schedule()),
// leaving out idle Go runtime threads and the Go profilers at work when
// skipIdle.
func printTopStacks(w io.Writer, p *pprof.Profile, typ string, n int, skipIdle bool) {
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
		fmt.Fprintf(w, "  %5.1f%% %9s  %s\n", merged[k].Pct, FormatNs(merged[k].Value), k)
	}
}

// FormatNs writes a duration in nanoseconds rounded for reading: 1.23s,
// 45.67ms, 890µs.
func FormatNs(ns int64) string {
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
