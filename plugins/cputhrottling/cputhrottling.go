// Package cputhrottling diagnoses CPU throttling: the target's cgroup has
// a CPU quota (cpu.max, cpu.cfs_quota_us) and the kernel stopped its
// threads in many of the quota's periods because the quota was used up,
// which a Go program whose GOMAXPROCS is above the quota makes likely.
package cputhrottling

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of the quota's periods in which the cgroup was
// throttled (warning at 10%, critical at 50%), with at least 100 ms
// throttled, 5 throttled periods and a window of 1 s.
var thresholds = plugins.Thresholds{Warn: 0.10, Critical: 0.50, MinValue: 100 * time.Millisecond, MinSamples: 5, MinWindow: time.Second}

// Plugin is the throttling diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "cpu-throttling" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "periods in which the cgroup's CPU quota stopped the target, and GOMAXPROCS above the quota"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"cgroup"}, What: "cgroup CPU accounting of the target",
		Enable: "capture a live process whose cgroup CPU controller perfprobe can read (/sys/fs/cgroup)"}}
}

// group is one cgroup and the targets in it.
type group struct {
	cg      profile.CgroupCPU
	targets []profile.Target
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	var groups []*group
	byPath := map[string]*group{}
	for _, t := range ev.Capture.Targets {
		if t.Meta == nil || t.Meta.Cgroup == nil || t.Meta.Cgroup.QuotaCPUs <= 0 {
			continue
		}
		g := byPath[t.Meta.Cgroup.Path]
		if g == nil {
			g = &group{cg: *t.Meta.Cgroup}
			byPath[g.cg.Path] = g
			groups = append(groups, g)
		}
		g.targets = append(g.targets, t)
	}
	window := ev.Window()
	var out []plugins.Finding
	for _, g := range groups {
		if f, ok := diagnose(ev, g, window); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func diagnose(ev *plugins.Evidence, g *group, window time.Duration) (plugins.Finding, bool) {
	cg := g.cg
	if cg.Periods == 0 {
		return plugins.Finding{}, false
	}
	share := float64(cg.Throttled) / float64(cg.Periods)
	score, gated := thresholds.Score(share, time.Duration(cg.ThrottledNs), int64(cg.Throttled), window)
	if score < plugins.ScoreInfo {
		return plugins.Finding{}, false
	}
	used := 0.0
	if window > 0 {
		used = float64(cg.UsageNs) / float64(window)
	}
	who := make([]string, 0, len(g.targets))
	for _, t := range g.targets {
		who = append(who, fmt.Sprintf("%s (pid %d)", t.Comm, t.PID))
	}
	f := plugins.Finding{
		Category: string(plugins.CatThrottling),
		Score:    score,
		Share:    share,
		Title:    fmt.Sprintf("CPU quota of %.2g CPUs throttled the cgroup in %s of its periods", cg.QuotaCPUs, plugins.Pct(share)),
		Figures: []plugins.Figure{
			plugins.Fig("throttled_share", 100*share, "%", fmt.Sprintf("%d periods of %d µs", cg.Periods, cg.PeriodUs)),
			plugins.Fig("throttled_periods", float64(cg.Throttled), "count", ""),
			plugins.Fig("throttled_ns", float64(cg.ThrottledNs), "ns", "summed over the CPUs whose run queues were throttled"),
			plugins.Fig("quota_cpus", cg.QuotaCPUs, "cpus", fmt.Sprintf("quota per %d µs period", cg.PeriodUs)),
			plugins.Fig("window_ns", float64(window), "ns", ""),
		},
		Key: []string{cg.Path},
	}
	detail := fmt.Sprintf("The cgroup %s (v%d) of %s may use %.2g CPUs (%d µs of every %d µs period). Over the %s window it ran out of quota in %d of %d periods (%s) and its threads were held off the CPU for %s in all",
		cg.Path, cg.Version, strings.Join(who, ", "), cg.QuotaCPUs, uint64(math.Round(cg.QuotaCPUs*float64(cg.PeriodUs))), cg.PeriodUs,
		window.Round(time.Millisecond), cg.Throttled, cg.Periods, plugins.Pct(share), plugins.Seconds(int64(cg.ThrottledNs)))
	if cg.UsageNs > 0 {
		detail += fmt.Sprintf("; it used %.2f CPUs on average", used)
		f.Figures = append(f.Figures, plugins.Fig("used_cpus", used, "cpus", "cgroup CPU usage over the window"))
	}
	detail += "."
	advice := "Each throttled period stalls every thread of the cgroup until the next period begins (up to " + plugins.Seconds(int64(cg.PeriodUs)*1000) + "), which shows as tail latency. Raise the CPU limit (or remove it and keep only a request/shares), or make the work use less CPU; a shorter cpu.max period smooths the stalls."
	gomax := 0
	for _, t := range g.targets {
		m := t.Meta
		if m.Language != "go" || m.GOMAXPROCS == 0 {
			continue
		}
		gomax = max(gomax, m.GOMAXPROCS)
		if float64(m.GOMAXPROCS) > math.Ceil(cg.QuotaCPUs) {
			f.Figures = append(f.Figures, plugins.Fig("gomaxprocs", float64(m.GOMAXPROCS), "count", "GOMAXPROCS of pid "+fmt.Sprint(t.PID)+" ("+m.GOMAXPROCSFrom+")"))
			detail += fmt.Sprintf(" Go %s runs pid %d with GOMAXPROCS %d (%s) above the quota of %.2g CPUs: up to %d threads run Go code at once and use a period's quota in a fraction of it.",
				strings.TrimPrefix(m.GoVersion, "go"), t.PID, m.GOMAXPROCS, fromWords(m.GOMAXPROCSFrom), cg.QuotaCPUs, m.GOMAXPROCS)
			advice += fmt.Sprintf(" Set GOMAXPROCS to %d (the quota rounded up", int(max(1, math.Ceil(cg.QuotaCPUs))))
			if !goAtLeast(m.GoVersion, 25) {
				advice += "; Go 1.25 and later do this by default"
			}
			advice += ")."
		}
	}
	if gated != "" {
		detail += " Kept at info: " + gated + "."
	}
	f.Detail, f.Advice = detail, advice
	if typ := ev.CPUType(); typ != "" && ev.Profile != nil {
		f.Query = plugins.Query(typ, "")
		for _, st := range profile.TopStacks(ev.Profile, typ, 6) {
			if !st.GoIdle && !st.Profiler && len(f.Stacks) < 3 {
				f.Stacks = append(f.Stacks, st.Frames)
			}
		}
	}
	signals := []plugins.Signal{
		{Name: "throttled periods", Agrees: share >= thresholds.Warn, Detail: fmt.Sprintf("%d of %d periods", cg.Throttled, cg.Periods)},
		{Name: "throttled time", Agrees: time.Duration(cg.ThrottledNs) >= thresholds.MinValue, Detail: plugins.Seconds(int64(cg.ThrottledNs))},
	}
	if cg.UsageNs > 0 {
		signals = append(signals, plugins.Signal{Name: "usage at the quota", Agrees: used >= 0.8*cg.QuotaCPUs, Detail: fmt.Sprintf("%.2f of %.2g CPUs", used, cg.QuotaCPUs)})
	}
	if gomax > 0 {
		signals = append(signals, plugins.Signal{Name: "GOMAXPROCS above the quota", Agrees: float64(gomax) > math.Ceil(cg.QuotaCPUs), Detail: fmt.Sprintf("GOMAXPROCS %d, quota %.2g", gomax, cg.QuotaCPUs)})
	}
	f.Confidence = plugins.Agreement(signals...)
	return f, true
}

func fromWords(from string) string {
	switch from {
	case "env":
		return "from the GOMAXPROCS environment variable"
	case "default":
		return "the runtime's default"
	}
	return "as set"
}

// goAtLeast reports whether a Go version "go1.N..." has N >= minor.
func goAtLeast(v string, minor int) bool {
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "go1."), "%d", &n); err != nil {
		return false
	}
	return n >= minor
}
