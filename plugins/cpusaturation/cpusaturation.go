// Package cpusaturation diagnoses CPU saturation: the target's threads
// were runnable but waited in the run queue for a CPU for a large part of
// the time they wanted to run, or single waits were long, and in either
// case for long enough in absolute terms to matter.
package cpusaturation

import (
	"fmt"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of wanted CPU time spent waiting scores the
// finding (warning at 10%, critical at 30%); long waits (p99 of one wait
// at least 10 ms over at least 100 waits) make it a warning at least.
// Either needs absolute evidence: at least 100 waits, a window of 1 s, and
// run-queue time of at least 100 ms and 2% of the window on each CPU the
// target may use. Below half that time there is no finding at all: a
// shell that waited 4 ms for a CPU out of the 8 ms it ran has a large
// share of nothing. Nor is there one when the waits are short (mean under
// 100 µs, p99 under 5 ms): a program that wakes thousands of times a
// second for a few microseconds of work waits tens of microseconds each
// time on any machine, which adds up to a share without any CPU being
// short (measured: a 20 req/s HTTPS service waited 165 ms in 5,000 waits,
// mean 33 µs, p99 312 µs, 47% of its 182 ms on CPU).
const (
	warnShare     = 0.10
	criticalShare = 0.30
	longWait      = 10 * time.Millisecond
	minWaits      = 100
	minRunqueue   = 100 * time.Millisecond
	minPerCPU     = 0.02
	shortMean     = 100 * time.Microsecond
	shortP99      = 5 * time.Millisecond
)

// Plugin is the run-queue diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "cpu-saturation" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string { return "time runnable threads waited in the run queue for a CPU" }

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"histogram:runqueue"}, What: "run-queue latency", Enable: "run with --probes sched"}}
}

// cpus is the most CPUs a target may use (1 when unknown).
func cpus(c *profile.Capture) int {
	n := 0
	for _, t := range c.Targets {
		if t.Meta != nil {
			n = max(n, t.Meta.CPUs)
		}
	}
	return max(n, 1)
}

// throttled sums the periods the targets' cgroups were throttled in.
func throttled(c *profile.Capture) (n uint64, ns uint64) {
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if t.Meta != nil && t.Meta.Cgroup != nil && !seen[t.Meta.Cgroup.Path] {
			seen[t.Meta.Cgroup.Path] = true
			n += t.Meta.Cgroup.Throttled
			ns += t.Meta.Cgroup.ThrottledNs
		}
	}
	return n, ns
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	c := ev.Capture
	h := c.Histograms["runqueue"]
	if h == nil || h.Count == 0 {
		return nil, nil
	}
	var oncpu, runq uint64
	for _, t := range c.Threads {
		oncpu += t.OnCPUNs
		runq += t.RunqueueNs
	}
	if oncpu+runq == 0 {
		return nil, nil
	}
	window := ev.Window()
	ncpu := cpus(c)
	minValue := max(minRunqueue, time.Duration(minPerCPU*float64(window)*float64(ncpu)))
	th := plugins.Thresholds{Warn: warnShare, Critical: criticalShare, MinValue: minValue, MinSamples: minWaits, MinWindow: time.Second}
	share := float64(runq) / float64(oncpu+runq)
	p99 := time.Duration(h.Percentile(0.99))
	long := p99 >= longWait && h.Count >= minWaits
	mean := time.Duration(h.SumNs / h.Count)
	if time.Duration(runq) < minValue/2 || share < warnShare/2 && !long || mean < shortMean && p99 < shortP99 {
		return nil, nil
	}
	score, gated := th.Score(share, time.Duration(runq), int64(h.Count), window)
	if long && gated == "" {
		score = max(score, plugins.ScoreWarning)
	}
	if score < plugins.ScoreInfo {
		return nil, nil
	}
	perCPU := float64(runq) / float64(window) / float64(ncpu)
	f := plugins.Finding{
		Title:    fmt.Sprintf("CPU saturation: threads waited %s in the run queue for a CPU, %s of the time they wanted to run", round(time.Duration(runq)), plugins.Pct(share)),
		Score:    score,
		Share:    share,
		Category: string(plugins.CatCPUSaturation),
		Detail: fmt.Sprintf("Runnable threads waited %s for a CPU, %.0f%% of the time they wanted to run (%s on CPU), %.1f%% of the %s window on each of %d CPUs; waits mean %s, p50 %s, p99 %s, max %s over %d waits.",
			round(time.Duration(runq)), 100*share, round(time.Duration(oncpu)), 100*perCPU, window.Round(time.Millisecond), ncpu,
			round(mean), round(time.Duration(h.Percentile(0.5))), round(p99), round(time.Duration(h.MaxNs)), h.Count),
		Figures: []plugins.Figure{
			plugins.Fig("share", 100*share, "%", "on-CPU plus run-queue time of the target's threads"),
			plugins.Fig("runqueue_ns", float64(runq), "ns", ""),
			plugins.Fig("oncpu_ns", float64(oncpu), "ns", ""),
			plugins.Fig("runqueue_per_cpu", 100*perCPU, "%", fmt.Sprintf("window %s × %d CPUs", window.Round(time.Millisecond), ncpu)),
			plugins.Fig("waits", float64(h.Count), "count", ""),
			plugins.Fig("mean_ns", float64(mean), "ns", "one wait"),
			plugins.Fig("p50_ns", float64(h.Percentile(0.5)), "ns", "one wait"),
			plugins.Fig("p99_ns", float64(p99), "ns", "one wait"),
			plugins.Fig("max_ns", float64(h.MaxNs), "ns", "one wait"),
			plugins.Fig("involuntary_switches", float64(c.Counts["involuntary_switches"]), "count", ""),
		},
		Query:  plugins.Query(profile.TypeOffCPURunqueue, ""),
		Advice: "More threads are runnable than CPUs are available to this process. Match parallelism to the CPUs you have (GOMAXPROCS, worker pools, thread pools), check the cgroup CPU quota (cpu.max) and other busy processes on the machine, or give it more CPUs.",
	}
	if gated != "" {
		f.Detail += " Kept at info: " + gated + "."
	}
	if n, ns := throttled(c); n > 0 {
		f.Detail += fmt.Sprintf(" The cgroup's CPU quota throttled the target %d times for %s: throttled threads wait in the run queue too (see cpu-throttling).", n, round(time.Duration(ns)))
	}
	if ev.Profile != nil {
		for _, st := range profile.TopStacks(ev.Profile, profile.TypeOffCPURunqueue, 3) {
			f.Stacks = append(f.Stacks, st.Frames)
		}
	}
	invol := c.Counts["involuntary_switches"]
	f.Confidence = plugins.Agreement(
		plugins.Signal{Name: "run-queue share", Agrees: share >= warnShare, Detail: fmt.Sprintf("%.0f%% of wanted CPU time", 100*share)},
		plugins.Signal{Name: "run-queue time", Agrees: time.Duration(runq) >= minValue, Detail: fmt.Sprintf("%s (at least %s counts)", round(time.Duration(runq)), round(minValue))},
		plugins.Signal{Name: "preemptions", Agrees: invol >= minWaits, Detail: fmt.Sprintf("%d involuntary switches", invol)},
	)
	return []plugins.Finding{f}, nil
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
