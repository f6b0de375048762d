package capture

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/diagnosis"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/text"
)

// WriteSummary says in plain words what the capture found, and where
// WriteDir put the files when it has run.
func (r *Result) WriteSummary(w io.Writer) {
	c, p, dir := r.Capture, r.Profile, r.Dir
	var g *profile.GoReport
	if r.Go != nil {
		g = r.Go.Report
	}
	window := c.End.Sub(c.Start)
	fmt.Fprintf(w, "\nperfprobe: %s, %s window (ended by %s), probes %s\n",
		who(c), window.Round(time.Millisecond), c.EndCause, strings.Join(c.Probes, ","))
	if r.Diagnosis != nil {
		diagnosis.WriteText(w, r.Diagnosis, false)
	}
	if len(c.Targets) > 1 && p != nil {
		printProcesses(w, p)
	}
	for _, d := range probes.Described(c.Probes) {
		if d.Summary != nil {
			d.Summary(w, c, p)
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
		text.Ns(int64(sc.BPFRunNs)), 100*float64(sc.BPFRunNs)/float64(max(window, 1)),
		text.Ns(int64(sc.UserCPUNs+sc.SystemCPUNs)), float64(sc.PeakRSSBytes)/(1<<20),
		time.Duration(sc.AttachSeconds*float64(time.Second)).Round(time.Millisecond))
	for _, warn := range c.Warnings {
		fmt.Fprintln(w, "Warning:", warn)
	}
	if dir == "" {
		return
	}
	prof := filepath.Join(dir, "profile.pb.gz")
	fmt.Fprintf(w, "\nWrote %s/ (profile.pb.gz, capture.json, report.md, report.json, *.folded, flamegraph.html)\n", dir)
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
			fmt.Fprintf(w, "  %5.1f%% %9s %7s %7s %7s %7s  %s (%s)\n", row.WallPct, text.Ns(row.WallNs),
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

// who names the capture's processes: "pid 12 (app)", or "3 processes".
func who(c *profile.Capture) string {
	if len(c.Targets) > 1 {
		return fmt.Sprintf("%d processes", len(c.Targets))
	}
	return fmt.Sprintf("pid %d (%s)", c.Target.PID, c.Target.Comm)
}

// printProcesses prints each process's on-CPU and off-CPU time, the most
// busy first.
func printProcesses(w io.Writer, p *pprof.Profile) {
	types := []string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeOffCPURunqueue, profile.TypeIOWait}
	rows := profile.ByProcess(p, types...)
	if len(rows) == 0 {
		return
	}
	var total int64
	for _, r := range rows {
		total += r.Totals[profile.TypeOnCPU]
	}
	fmt.Fprintln(w, "\nProcesses:")
	fmt.Fprintf(w, "  %8s %-16s %7s %9s %9s %9s %9s\n", "pid", "comm", "cpu%", "on-CPU", "blocked", "runqueue", "iowait")
	for i, r := range rows {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more (the pid label in profile.pb.gz has them all)\n", len(rows)-i)
			break
		}
		fmt.Fprintf(w, "  %8d %-16s %6.1f%% %9s %9s %9s %9s\n", r.PID, r.Comm, 100*float64(r.Totals[profile.TypeOnCPU])/float64(max(total, 1)),
			text.Ns(r.Totals[profile.TypeOnCPU]), text.Ns(r.Totals[profile.TypeOffCPUBlocked]), text.Ns(r.Totals[profile.TypeOffCPURunqueue]), text.Ns(r.Totals[profile.TypeIOWait]))
	}
}
