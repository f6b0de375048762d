package plugins

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/profile"
)

// CPUHotSpot is the plugin most frame categories need: the share of CPU
// time with a frame of Category on the stack (inclusive, like pprof's
// -focus), scored by Thresholds, proven by the top stacks, and confirmed by
// the other CPU view when the capture has both (eBPF oncpu and the Go
// runtime's go_cpu). A built-in plugin is then one literal in its folder.
type CPUHotSpot struct {
	PluginName string
	Category   Category
	// Except leaves out stacks that also have a frame in these categories
	// (crypto under a TLS handshake belongs to tls-handshake).
	Except []Category
	// What names the work in a title: "hashing", "JSON/protobuf encoding".
	What       string
	Thresholds Thresholds
	Advice     string
	// Extra may add figures, signals or advice from other evidence; it is
	// called with the finding and the CPU match before the finding is
	// returned.
	Extra func(ev *Evidence, f *Finding, m Match)
}

// Name implements Plugin.
func (h CPUHotSpot) Name() string { return h.PluginName }

// Doc implements Plugin.
func (h CPUHotSpot) Doc() string {
	return fmt.Sprintf("share of CPU time in %s (stacks with a %s frame)", h.What, h.Category)
}

// Needs implements Plugin.
func (h CPUHotSpot) Needs() []Need { return []Need{CPUNeed} }

func (h CPUHotSpot) matchIn(ev *Evidence, typ string) Match {
	if len(h.Except) > 0 {
		return ev.InCategoryExcept(typ, h.Category, h.Except...)
	}
	return ev.InCategory(typ, h.Category)
}

// Diagnose implements Plugin.
func (h CPUHotSpot) Diagnose(ev *Evidence) ([]Finding, error) {
	typ := ev.CPUType()
	m := h.matchIn(ev, typ)
	window := ev.Window()
	th := h.Thresholds
	if th.Warn == 0 {
		th = HotSpot
	}
	if m.Total == 0 {
		return nil, nil
	}
	score, gated := th.Score(m.Share, time.Duration(m.Value), m.Samples, window)
	if score < ScoreInfo {
		return nil, nil
	}
	of := fmt.Sprintf("%s total %s", typ, Seconds(m.Total))
	f := Finding{
		Category: string(h.Category),
		Score:    score,
		Share:    m.Share,
		Title:    fmt.Sprintf("%s of CPU time is %s", Pct(m.Share), h.What),
		Figures: []Figure{
			Fig("share", 100*m.Share, "%", of),
			Fig("cpu_ns", float64(m.Value), "ns", ""),
			Fig("samples", float64(m.Samples), "count", ""),
			Fig("window_ns", float64(window), "ns", ""),
		},
		Stacks: m.StackFrames(),
		Query:  Query(typ, h.focus(m)),
		Advice: h.Advice,
	}
	if window > 0 {
		f.Figures = append(f.Figures, Fig("cpus", float64(m.Value)/float64(window), "cpus", "CPUs kept busy on average"))
	}
	detail := fmt.Sprintf("%s of %s CPU (%s over %s)", Seconds(m.Value), typ, Pct(m.Share), window.Round(time.Millisecond))
	if len(m.Frames) > 0 {
		detail += ", mostly in " + strings.Join(m.Frames[:min(2, len(m.Frames))], ", ")
	}
	if len(m.Entries) > 0 {
		detail += "; called from " + strings.Join(m.Entries[:min(2, len(m.Entries))], ", ")
		f.Key = []string{m.Entries[0]}
		f.Title += " from " + ShortFunc(m.Entries[0])
	}
	detail += "."
	if gated != "" {
		detail += " Kept at info: " + gated + "."
	}
	f.Detail = detail
	signals := []Signal{{Name: typ + " in " + string(h.Category), Agrees: m.Share >= th.Warn/2, Detail: Pct(m.Share) + " of " + typ}}
	for _, other := range []string{profile.TypeOnCPU, profile.TypeGoCPU} {
		if other == typ || !ev.HasType(other) || ev.Total(other) == 0 {
			continue
		}
		o := h.matchIn(ev, other)
		signals = append(signals, Signal{Name: other + " in " + string(h.Category), Agrees: o.Share >= th.Warn/2, Detail: Pct(o.Share) + " of " + other})
		f.Figures = append(f.Figures, Fig(other+"_share", 100*o.Share, "%", fmt.Sprintf("%s total %s", other, Seconds(o.Total))))
	}
	f.Confidence = Agreement(signals...)
	if h.Extra != nil {
		h.Extra(ev, &f, m)
	}
	return []Finding{f}, nil
}

// focus is the query's -focus: the category frames the matched stacks
// went through, by name (exactly the matched stacks: any stack through one
// of them is in the category), or the category's patterns when there are
// many or when Except leaves stacks out.
func (h CPUHotSpot) focus(m Match) string {
	if len(h.Except) > 0 || len(m.Frames) == 0 || len(m.Frames) > 12 {
		return h.Category.Focus()
	}
	q := make([]string, len(m.Frames))
	for i, f := range m.Frames {
		q[i] = regexp.QuoteMeta(f)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

// ShortFunc drops a Go function's package path: "main.checksum",
// "(*Client).Do" from "net/http.(*Client).Do".
func ShortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 && !strings.Contains(fn[:i], "(") {
		fn = fn[i+1:]
	}
	if i := strings.Index(fn, ".("); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
