// Package runqueue diagnoses CPU saturation: the target's threads were
// runnable but waited in the run queue for a CPU for a large part of the
// time they wanted to run, or single waits were long.
package runqueue

import (
	"fmt"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: share of wanted CPU time spent waiting, and p99 of one wait.
const (
	warnShare     = 0.10
	criticalShare = 0.30
	longWait      = 10 * time.Millisecond
	minWaits      = 100
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
	share := float64(runq) / float64(oncpu+runq)
	p99 := time.Duration(h.Percentile(0.99))
	sev := plugins.Info
	switch {
	case share >= criticalShare:
		sev = plugins.Critical
	case share >= warnShare || (p99 >= longWait && h.Count >= minWaits):
		sev = plugins.Warning
	default:
		return nil, nil
	}
	f := plugins.Finding{
		Title:    "CPU saturation: threads wait in the run queue for a CPU",
		Severity: sev,
		Detail: fmt.Sprintf("Runnable threads waited %s for a CPU, %.0f%% of the time they wanted to run (%s on CPU); waits p50 %s, p99 %s, max %s over %d waits.",
			round(time.Duration(runq)), 100*share, round(time.Duration(oncpu)),
			round(time.Duration(h.Percentile(0.5))), round(p99), round(time.Duration(h.MaxNs)), h.Count),
		Share:    share,
		Category: string(plugins.CatCPUSaturation),
		Figures: []plugins.Figure{
			plugins.Fig("runqueue_ns", float64(runq), "ns", ""), plugins.Fig("oncpu_ns", float64(oncpu), "ns", ""),
			plugins.Fig("p50_ns", float64(h.Percentile(0.5)), "ns", ""), plugins.Fig("p99_ns", float64(p99), "ns", ""),
			plugins.Fig("max_ns", float64(h.MaxNs), "ns", ""),
			plugins.Fig("involuntary_switches", float64(c.Counts["involuntary_switches"]), "count", ""),
		},
		Advice: "More threads are runnable than CPUs are available to this process. Match parallelism to the CPUs you have (GOMAXPROCS, worker pools, thread pools), check the cgroup CPU quota (cpu.max) and other busy processes on the machine, or give it more CPUs.",
	}
	if ev.Profile != nil {
		for _, st := range profile.TopStacks(ev.Profile, profile.TypeOffCPURunqueue, 3) {
			f.Stacks = append(f.Stacks, st.Frames)
		}
	}
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
