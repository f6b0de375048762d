// Package goroutinegrowth diagnoses too many goroutines: the Go runtime's
// goroutine profile, fetched at the end of the window (go_goroutines),
// counts the goroutines alive and the stacks they wait on.
//
// Thresholds on the count at the end of the window, an absolute figure:
// info from 5,000 goroutines, a warning from 10,000, critical from
// 100,000 (the score rises linearly in between). A server with a
// goroutine per connection reaches a few thousand; ten thousand is a leak
// or unbounded fan-out more often than load. The finding names the stacks
// holding most goroutines and the function each starts in (the goroutine
// profile carries no creator: /debug/pprof/goroutine?debug=2 shows it),
// and its share is the part of the goroutines in the top start function.
// Confidence is higher when one start function holds most of them, the
// signature of a leak.
//
// Growth over time needs the counts of several windows; a capture holds
// one snapshot today, so only the count is judged.
package goroutinegrowth

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// Goroutine counts at the end of the window for each band.
const (
	infoCount     = 5_000
	warnCount     = 10_000
	criticalCount = 100_000
)

func init() { plugins.Register(Plugin{}) }

// Plugin is the goroutine-count diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return string(plugins.CatGoroutines) }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "goroutines alive at the end of the window, and the stacks holding most of them"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{
		Any:    []string{"type:" + profile.TypeGoGoroutines},
		What:   "Go goroutine counts",
		Enable: "attach to a Go program serving net/http/pprof (perfprobe fetches /debug/pprof/goroutine)",
	}}
}

// score maps a goroutine count to 0..100 along the bands.
func score(n int64) int {
	lerp := func(n, from, to int64, lo, hi float64) int {
		f := min(1, float64(n-from)/float64(to-from))
		return int(lo + (hi-lo)*f + 0.5)
	}
	switch {
	case n >= criticalCount:
		return lerp(n, criticalCount, 2*criticalCount, plugins.ScoreCritical, 100)
	case n >= warnCount:
		return lerp(n, warnCount, criticalCount, plugins.ScoreWarning, plugins.ScoreCritical-1)
	case n >= infoCount:
		return lerp(n, infoCount, warnCount, plugins.ScoreInfo, plugins.ScoreWarning-1)
	}
	return 0
}

// group is the goroutines that start in one function.
type group struct {
	entry string
	count int64
	wait  map[string]int64 // where they wait, by count
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	typ := profile.TypeGoGoroutines
	n := ev.Total(typ)
	sc := score(n)
	if sc < plugins.ScoreInfo {
		return nil, nil
	}
	all := ev.Where(typ, func([]string) bool { return true }, nil)
	groups, stacks := byEntry(ev.Profile, typ)
	top := groups[0]
	share := float64(top.count) / float64(n)
	var names []string
	for _, g := range groups[:min(3, len(groups))] {
		names = append(names, fmt.Sprintf("%d in %s (waiting in %s)", g.count, g.entry, topKey(g.wait)))
	}
	f := plugins.Finding{
		Category: string(plugins.CatGoroutines),
		Score:    sc,
		Share:    share,
		Title:    fmt.Sprintf("%d goroutines alive, %d of them in %s", n, top.count, plugins.ShortFunc(top.entry)),
		Detail: fmt.Sprintf("%d goroutines were alive at the end of the window (the Go goroutine profile), on %d distinct stacks; by the function they start in: %s.",
			n, stacks, strings.Join(names, "; ")),
		Figures: []plugins.Figure{
			plugins.Fig("goroutines", float64(n), "count", "at the end of the window"),
			plugins.Fig("top_entry_goroutines", float64(top.count), "count", top.entry),
			plugins.Fig("top_entry_share", 100*share, "%", fmt.Sprintf("of %d goroutines", n)),
			plugins.Fig("entries", float64(len(groups)), "count", "distinct start functions"),
		},
		Stacks: all.StackFrames(),
		Query:  plugins.Query(typ, "^"+regexp.QuoteMeta(top.entry)+"$"),
		Advice: "So many goroutines are usually ones that never end, each parked on a channel, lock, timer or " +
			"connection that nothing will release. Read the top stacks: give each goroutine a way out (a context it " +
			"selects on, closing the channel it receives from, deadlines on network I/O), bound fan-out with a worker " +
			"pool or a semaphore (errgroup.SetLimit) instead of a goroutine per item, and make sure every started " +
			"goroutine is waited for. /debug/pprof/goroutine?debug=2 shows where each was created; a count that grows " +
			"from one capture to the next is a leak.",
		Key: []string{top.entry},
		Confidence: plugins.Agreement(
			plugins.Signal{Name: "goroutine count", Agrees: n >= warnCount, Detail: fmt.Sprintf("%d at the end of the window", n)},
			plugins.Signal{Name: "one start function holds most", Agrees: share >= 0.5, Detail: fmt.Sprintf("%s holds %s", top.entry, plugins.Pct(share))},
		),
	}
	return []plugins.Finding{f}, nil
}

// byEntry groups the goroutine profile's counts by the function each
// goroutine starts in, most goroutines first, and counts the distinct
// stacks.
func byEntry(p *pprof.Profile, typ string) (groups []*group, stacks int) {
	i := profile.ValueIndex(p, typ)
	byName := map[string]*group{}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		stacks++
		leafFirst := profile.Frames(s)
		rootFirst := slices.Clone(leafFirst)
		slices.Reverse(rootFirst)
		entry := profile.GoroutineEntry(rootFirst)
		if entry == "" {
			entry = "[runtime]"
		}
		g := byName[entry]
		if g == nil {
			g = &group{entry: entry, wait: map[string]int64{}}
			byName[entry] = g
			groups = append(groups, g)
		}
		g.count += v
		g.wait[waitsIn(leafFirst)] += v
	}
	sort.Slice(groups, func(a, b int) bool {
		if groups[a].count != groups[b].count {
			return groups[a].count > groups[b].count
		}
		return groups[a].entry < groups[b].entry
	})
	return groups, stacks
}

// waitsIn names where a goroutine waits: the outermost of the runtime's
// parking frames at its leaf (runtime.chanrecv1 under runtime.gopark), or
// its leaf when it is not parked there.
func waitsIn(leafFirst []string) string {
	last := ""
	for _, f := range leafFirst {
		if !parking.MatchString(f) {
			break
		}
		last = f
	}
	if last == "" && len(leafFirst) > 0 {
		return leafFirst[0]
	}
	if last == "" {
		return "[unknown]"
	}
	return last
}

var parking = regexp.MustCompile(`^runtime\.(gopark|goparkunlock|park_m|chanrecv|chanrecv1|chanrecv2|chansend|chansend1|selectgo|block|semacquire1|notetsleepg|netpollblock)$|^internal/poll\.runtime_pollWait$|^sync\.runtime_Semacquire|^internal/sync\.runtime_Semacquire`)

func topKey(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if m[keys[a]] != m[keys[b]] {
			return m[keys[a]] > m[keys[b]]
		}
		return keys[a] < keys[b]
	})
	if len(keys) == 0 {
		return "[unknown]"
	}
	return keys[0]
}
