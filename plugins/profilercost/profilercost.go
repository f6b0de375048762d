// Package profilercost diagnoses a capture whose own cost is large enough
// to distort it: perfprobe's BPF programs, which run on the target's CPUs
// in its context; BPF runs the kernel skipped (events lost, so counts and
// shares are biased); and the Go runtime's profilers that perfprobe asks
// the target to run (runtime/pprof, net/http/pprof, fgprof, and the CPU
// profiler's signal handler runtime.sigprof), whose CPU time is in the
// target's own samples.
//
// A cost distorts a capture when it is a meaningful share of the target's
// own CPU, or of the machine: a few percent of one CPU of BPF time beside a
// target that uses several CPUs changes none of its shares. Thresholds
// (each also needs a window of at least 1 s):
//
//	BPF run time       warning at 5% of the target's CPU (and at least
//	                   100 ms) or at 10% of one CPU, critical at 20% of the
//	                   target's CPU or 30% of one CPU, the target's share
//	                   scored no higher than 5% / 15% of one CPU would be
//	                   (a light target's share says its size, not the
//	                   capture's distortion); at least 100 runs
//	                   (the share of the target's CPU only counts when the
//	                   target used a tenth of a CPU or more)
//	missed BPF runs    warning at 1% of the runs, critical at 10%; at
//	                   least 100 missed
//	Go profilers       warning at 5% of the target's CPU, critical at 20%,
//	                   but only as far as their share of one CPU also
//	                   reaches (warning 10%, critical 25%; below, said at
//	                   info: their samples are labelled and left out of
//	                   every hot spot, so a light target's findings are not
//	                   what they distort, the CPU they take beside it is);
//	                   at least 100 ms and 10 samples (of a target that
//	                   used under a tenth of a CPU besides them, whose CPU is then
//	                   mostly the profilers': info from 20% of one CPU,
//	                   never more, since an idle program has no hot path
//	                   to distort; fgprof alone took 13-21% of one CPU of
//	                   idle services here)
//
// The target's CPU is the scheduler's exact per-thread on-CPU time when the
// capture has it, else the CPU samples' total. BPF run time is the whole
// machine's: the programs run on every process's context switches and
// syscalls and filter for the target in the kernel, so a busy neighbour
// raises it too; the share of one CPU says what the machine paid. perfprobe's own user and
// system CPU time is reported as a figure but not scored: it is counted
// from perfprobe's start (the attach and its BTF loading included, and
// every earlier capture of a long-lived process), not over the window, and
// it runs beside the target, not in it.
package profilercost

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

func init() { plugins.Register(Plugin{}) }

var (
	bpfOfTarget = plugins.Thresholds{Warn: 0.05, Critical: 0.20, MinValue: 100 * time.Millisecond, MinSamples: 100, MinWindow: time.Second}
	bpfOfCPU    = plugins.Thresholds{Warn: 0.10, Critical: 0.30, MinValue: 100 * time.Millisecond, MinSamples: 100, MinWindow: time.Second}
	// bpfMachine bounds the score by the target's share with what the
	// machine paid: a healthy 0.1-CPU service's own context switches
	// cost it 20-30% more CPU in BPF time (3% of one CPU), which changes
	// none of its findings (a critical in CI, on a healthy program).
	bpfMachine  = plugins.Thresholds{Warn: 0.05, Critical: 0.15}
	missed      = plugins.Thresholds{Warn: 0.01, Critical: 0.10, MinSamples: 100, MinWindow: time.Second}
	goProfilers = plugins.Thresholds{Warn: 0.05, Critical: 0.20, MinValue: 100 * time.Millisecond, MinSamples: 10, MinWindow: time.Second}
	// goProfilersOfCPU judge the Go profilers of an idle target, by the
	// machine's CPU, at most at info: idle services paid fgprof 5% to 21%
	// of one CPU from capture to capture here, which distorts none of the
	// program's findings; from a fifth of a CPU it is said.
	goProfilersOfCPU = plugins.Thresholds{Warn: 0.20, Critical: 0.40, MinValue: 100 * time.Millisecond, MinSamples: 10, MinWindow: time.Second}
	// goProfilersMachine bounds the score of a target that is not idle by
	// what the profilers took of one CPU: their samples are labelled and
	// every hot-spot plugin leaves them out, so a light service's shares
	// are not what they distort; the CPU they take beside it is. fgprof
	// took 23% of a 0.2-CPU healthy service's CPU in CI, 4.7% of one CPU.
	goProfilersMachine = plugins.Thresholds{Warn: 0.10, Critical: 0.25}
)

// Plugin is the capture's self-cost diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return string(plugins.CatProfilerCost) }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "the capture's own cost (BPF run time, missed BPF runs, the Go profilers in the target) against the target's CPU"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"capture"}, What: "capture self-cost", Enable: "capture with perfprobe attach or run (a profile file has no self-cost)"}}
}

// part is one cost, scored.
type part struct {
	name   string
	score  int
	share  float64
	title  string
	detail string
	advice string
}

// targetCPU is the target's CPU time in the window and where it came from.
func targetCPU(ev *plugins.Evidence) (int64, string) {
	var ns uint64
	for _, t := range ev.Capture.Threads {
		ns += t.OnCPUNs
	}
	if ns > 0 {
		return int64(ns), "the scheduler's on-CPU time"
	}
	if typ := ev.CPUType(); typ != "" {
		return ev.Total(typ), typ + " samples"
	}
	return 0, ""
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	sc := ev.Capture.SelfCost
	window := ev.Window()
	cpu, cpuFrom := targetCPU(ev)
	var parts []part
	figs := []plugins.Figure{
		plugins.Fig("window_ns", float64(window), "ns", ""),
		plugins.Fig("target_cpu_ns", float64(cpu), "ns", cpuFrom),
		plugins.Fig("bpf_run_ns", float64(sc.BPFRunNs), "ns", fmt.Sprintf("%d runs", sc.BPFRunCount)),
		plugins.Fig("bpf_missed_runs", float64(sc.BPFMissedRuns), "count", ""),
		plugins.Fig("perfprobe_cpu_ns", float64(sc.UserCPUNs+sc.SystemCPUNs), "ns", "user+system since perfprobe started"),
	}

	if sc.BPFRunNs > 0 && window > 0 {
		ofCPU := float64(sc.BPFRunNs) / float64(window)
		s, gated := bpfOfCPU.Score(ofCPU, time.Duration(sc.BPFRunNs), int64(sc.BPFRunCount), window)
		share, of := ofCPU, "of one CPU"
		// A share of an idle target's CPU says little: the programs run
		// for the whole machine's events.
		if cpu > 0 && time.Duration(cpu) >= window/10 {
			ofTarget := float64(sc.BPFRunNs) / float64(cpu)
			figs = append(figs, plugins.Fig("bpf_share_of_target", 100*ofTarget, "%", "of the target's CPU"))
			if t, g := bpfOfTarget.Score(ofTarget, time.Duration(sc.BPFRunNs), int64(sc.BPFRunCount), window); t > s {
				s, gated, share, of = t, g, ofTarget, "of the target's CPU"
				if g == "" {
					s, gated = bounded(s, ofCPU, bpfMachine, "a light target's share says more about its size than about the capture")
				}
			}
		}
		figs = append(figs, plugins.Fig("bpf_cpus", ofCPU, "cpus", "CPUs kept busy by BPF programs on average"))
		top := ""
		if name, ns := topProgram(sc.BPFPrograms); name != "" {
			top = fmt.Sprintf(", most in %s (%s)", name, plugins.Seconds(int64(ns)))
		}
		parts = append(parts, part{
			name: "bpf", score: s, share: share,
			title: fmt.Sprintf("perfprobe's BPF programs took %s %s", plugins.Pct(share), of),
			detail: fmt.Sprintf("perfprobe's BPF programs ran %s in %d runs over %s (%s of one CPU%s)%s%s.",
				plugins.Seconds(int64(sc.BPFRunNs)), sc.BPFRunCount, window.Round(time.Millisecond), plugins.Pct(ofCPU),
				ofTargetText(sc.BPFRunNs, cpu), top, gatedText(gated)),
			advice: "The BPF programs run on the target's CPUs, in its time: sample less often (--hz 49), walk off-CPU " +
				"stacks less often (--offcpu-stack-interval), and attach only the probes the question needs (--probes " +
				"cpu). Context-switch-heavy and syscall-heavy targets pay most for the sched and iostall probes.",
		})
	}

	if sc.BPFMissedRuns > 0 {
		frac := float64(sc.BPFMissedRuns) / float64(sc.BPFMissedRuns+sc.BPFRunCount)
		figs = append(figs, plugins.Fig("missed_share", 100*frac, "%", "of BPF program runs"))
		s, gated := missed.Score(frac, 0, int64(sc.BPFMissedRuns), window)
		parts = append(parts, part{
			name: "missed", score: s, share: frac,
			title: fmt.Sprintf("the kernel skipped %s of perfprobe's BPF program runs", plugins.Pct(frac)),
			detail: fmt.Sprintf("The kernel skipped %d of %d BPF program runs (%s) because another BPF program was running on that CPU: those samples and events are missing from the capture%s.",
				sc.BPFMissedRuns, sc.BPFMissedRuns+sc.BPFRunCount, plugins.Pct(frac), gatedText(gated)),
			advice: "Another BPF tool (a profiler, bpftrace, a security agent) runs programs on the same hooks: while " +
				"it does, counts and shares in this capture are too low where they overlap. Capture again without it, " +
				"or read the affected figures as lower bounds.",
		})
	}

	var goStacks [][]string
	if typ := ev.CPUType(); typ != "" {
		m := ev.InCategory(typ, plugins.CatProfilerCost)
		if m.Value > 0 && cpu > 0 {
			// The samples and the scheduler count the CPU apart: the
			// profilers' share of it is at most all of it.
			share := min(1, float64(m.Value)/float64(cpu))
			figs = append(figs,
				plugins.Fig("go_profilers_ns", float64(m.Value), "ns", typ),
				plugins.Fig("go_profilers_share", 100*share, "%", "of the target's CPU"))
			s, gated := goProfilers.Score(share, time.Duration(m.Value), m.Samples, window)
			of := "of the target's CPU"
			if window > 0 && s >= plugins.ScoreWarning {
				s, gated = bounded(s, float64(m.Value)/float64(window), goProfilersMachine, "their samples are labelled and left out of every hot spot")
			}
			// An idle target's CPU is mostly the profilers' own: what
			// they cost is then the machine's, a share of one CPU. Idle
			// is judged without the profilers' own CPU (an idle service
			// fgprof kept 25% busy is still idle).
			if own := cpu - min(cpu, m.Value); time.Duration(own) < window/10 && window > 0 {
				share = float64(m.Value) / float64(window)
				s, gated = goProfilersOfCPU.Score(share, time.Duration(m.Value), m.Samples, window)
				of = "of one CPU"
				// An idle program has no hot path for the profilers to
				// distort: what they cost is said, at info.
				if s >= plugins.ScoreWarning {
					s, gated = plugins.ScoreWarning-1, "the target is idle (under a tenth of a CPU), so no hot path of its own is distorted"
				}
			}
			goStacks = m.StackFrames()
			frames := ""
			if len(m.Frames) > 0 {
				frames = ", mostly in " + strings.Join(m.Frames[:min(2, len(m.Frames))], ", ")
			}
			parts = append(parts, part{
				name: "go-profilers", score: s, share: share,
				title: fmt.Sprintf("the Go profilers took %s %s", plugins.Pct(share), of),
				detail: fmt.Sprintf("The Go runtime's profilers ran %s in the target (%s %s%s)%s.",
					plugins.Seconds(m.Value), plugins.Pct(share), of, frames, gatedText(gated)),
				advice: "The Go CPU profiler and fgprof run inside the target while perfprobe fetches them, and fgprof " +
					"walks every goroutine 99 times a second: with many goroutines that is expensive. Fetch fewer Go " +
					"profiles (--go-profiles cpu,mutex,block,goroutine leaves fgprof out; --no-go-profiles fetches " +
					"none) when the eBPF view is enough.",
			})
		}
	}

	sort.SliceStable(parts, func(a, b int) bool { return parts[a].score > parts[b].score })
	if len(parts) == 0 || parts[0].score < plugins.ScoreInfo {
		return nil, nil
	}
	top := parts[0]
	f := plugins.Finding{
		Category: string(plugins.CatProfilerCost),
		Score:    top.score,
		Share:    top.share,
		Title:    "Capture cost may distort it: " + top.title,
		Figures:  figs,
		Stacks:   goStacks,
		Key:      []string{top.name},
	}
	var details, advice []string
	var signals []plugins.Signal
	for _, p := range parts {
		details = append(details, p.detail)
		if p.score >= plugins.ScoreInfo {
			advice = append(advice, p.advice)
		}
		signals = append(signals, plugins.Signal{Name: p.name, Agrees: p.score >= plugins.ScoreInfo, Detail: p.title})
	}
	f.Detail = strings.Join(details, " ")
	f.Advice = strings.Join(advice, " ")
	f.Confidence = plugins.Agreement(signals...)
	if top.name == "go-profilers" {
		f.Query = plugins.Query(ev.CPUType(), plugins.CatProfilerCost.Focus())
	}
	return []plugins.Finding{f}, nil
}

// bounded caps score s (of a share of the target's CPU, ungated) at what
// the cost's share of one CPU, ofCPU, scores by machine, never below info;
// capped under a warning, gated says why.
func bounded(s int, ofCPU float64, machine plugins.Thresholds, why string) (score int, gated string) {
	c, _ := machine.Score(ofCPU, 0, 0, 0)
	if c >= s {
		return s, ""
	}
	if s = max(c, plugins.ScoreInfo); s < plugins.ScoreWarning {
		gated = fmt.Sprintf("%s of one CPU is under %s: %s", plugins.Pct(ofCPU), plugins.Pct(machine.Warn), why)
	}
	return s, gated
}

func ofTargetText(bpf uint64, cpu int64) string {
	if cpu <= 0 {
		return ""
	}
	return fmt.Sprintf(", %s of the target's CPU", plugins.Pct(float64(bpf)/float64(cpu)))
}

func gatedText(gated string) string {
	if gated == "" {
		return ""
	}
	return "; kept at info: " + gated
}

func topProgram(progs map[string]uint64) (string, uint64) {
	name, ns := "", uint64(0)
	for n, v := range progs {
		if v > ns || v == ns && n < name {
			name, ns = n, v
		}
	}
	return name, ns
}
