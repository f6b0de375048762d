// Package regexp diagnoses regular expressions on hot paths, and tells
// compiling apart from matching: compiling a pattern per call (a
// regexp.MustCompile inside a handler) is a mistake with a one-line fix,
// matching is work that may be needed.
//
// Compiling is the stacks with a compile frame (regexp.Compile,
// MustCompile and their POSIX forms, regexp/syntax.Parse, pcre_compile,
// regcomp, Rust's Regex::new, std::basic_regex's compiler); the finding
// names the function that calls it (the first frame outside the regexp
// frames). Thresholds: a warning at 5% of the CPU, critical at 20%, since
// any steady compiling is avoidable. Matching is the other stacks with a
// regexp frame, with plugins.HotSpot's thresholds (20%, 50%). Both are
// never above info under 200 ms of CPU, 20 samples or a 1 s window.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package regexp

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// compileThresholds score the compile share.
var compileThresholds = plugins.Thresholds{Warn: 0.05, Critical: 0.20, MinValue: plugins.DefaultMinValue, MinSamples: plugins.DefaultMinSamples, MinWindow: plugins.DefaultMinWindow}

// compileFrames are the functions that compile a pattern.
const compileFrames = `^regexp\.(Compile|CompilePOSIX|MustCompile|MustCompilePOSIX|compile)$|^regexp/syntax\.(Parse|Compile)$` +
	`|^github\.com/(grafana/regexp|dlclark/regexp2)\.(Compile|CompilePOSIX|MustCompile|MustCompilePOSIX|compile)$` +
	`|^(pcre2?_compile.*|pcre2?_study|regcomp|onig_new|onig_compile)$|^regex::.*::(new|build)$|^std::__detail::_Compiler|^boost::re_detail.*basic_regex_parser`

var isCompile = plugins.FrameMatcher(compileFrames)

// Plugin is the regular-expression diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "regexp" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "share of CPU time compiling regular expressions (and who compiles them) and matching them"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need { return []plugins.Need{plugins.CPUNeed} }

func inRegexp(f string) bool { return plugins.FrameIn(f, plugins.CatRegexp) }

func isProfiler(f string) bool { return plugins.FrameIn(f, plugins.CatProfilerCost) }

// compiling keeps the stacks with a compile frame; matching the other
// stacks with a regexp frame. Both leave out the profilers' stacks.
func compiling(frames []string) bool {
	return slices.ContainsFunc(frames, inRegexp) && slices.ContainsFunc(frames, isCompile) && !slices.ContainsFunc(frames, isProfiler)
}

func matching(frames []string) bool {
	return slices.ContainsFunc(frames, inRegexp) && !slices.ContainsFunc(frames, isCompile) && !slices.ContainsFunc(frames, isProfiler)
}

// part is compiling or matching, as one CPU type shows it.
type part struct {
	kind     string // "compile" or "match"
	keep     func(frames []string) bool
	th       plugins.Thresholds
	focus    string
	advice   string
	titleFmt string // with the share and the caller
}

var parts = []part{
	{
		kind: "compile", keep: compiling, th: compileThresholds, focus: compileFrames,
		titleFmt: "%s of CPU time compiles regular expressions in %s",
		advice: "Compile each regular expression once, not per call: a package-level `var re = regexp.MustCompile(...)`, " +
			"or, for patterns that come from configuration or input, compile them when they are loaded (or cache them " +
			"by pattern string behind a sync.Map). A compiled *regexp.Regexp is safe for concurrent use. The caller " +
			"named in the title is where the compile is.",
	},
	{
		kind: "match", keep: matching, th: plugins.HotSpot,
		focus:    plugins.CatRegexp.Focus(),
		titleFmt: "%s of CPU time matches regular expressions in %s",
		advice: "Match less, or more cheaply: use strings.Contains, HasPrefix or Cut for literal patterns, check a " +
			"literal substring before running the expression, anchor patterns (^...$) so a miss fails early, and match " +
			"[]byte input with Match rather than converting to string. Go's regexp guarantees linear time but is slower " +
			"than backtracking engines on simple patterns; for a few hot fixed patterns, hand-written parsing wins.",
	},
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	typ := ev.CPUType()
	window := ev.Window()
	shares := map[string]float64{}
	matches := map[string]plugins.Match{}
	for _, p := range parts {
		m := ev.Where(typ, p.keep, inRegexp)
		matches[p.kind], shares[p.kind] = m, m.Share
	}
	var out []plugins.Finding
	for _, p := range parts {
		m := matches[p.kind]
		if m.Total == 0 {
			continue
		}
		score, gated := p.th.Score(m.Share, time.Duration(m.Value), m.Samples, window)
		if score < plugins.ScoreInfo {
			continue
		}
		caller := "[unknown]"
		if len(m.Entries) > 0 {
			caller = m.Entries[0]
		}
		of := fmt.Sprintf("%s total %s", typ, plugins.Seconds(m.Total))
		f := plugins.Finding{
			Category: string(plugins.CatRegexp),
			Score:    score,
			Share:    m.Share,
			Title:    fmt.Sprintf(p.titleFmt, plugins.Pct(m.Share), plugins.ShortFunc(caller)),
			Figures: []plugins.Figure{
				plugins.Fig("share", 100*m.Share, "%", of),
				plugins.Fig("cpu_ns", float64(m.Value), "ns", ""),
				plugins.Fig("samples", float64(m.Samples), "count", ""),
				plugins.Fig("window_ns", float64(window), "ns", ""),
				plugins.Fig("compile_share", 100*shares["compile"], "%", of),
				plugins.Fig("match_share", 100*shares["match"], "%", of),
			},
			Stacks: m.StackFrames(),
			Query:  plugins.Query(typ, p.focus),
			Advice: p.advice,
			Key:    []string{p.kind, caller},
		}
		if window > 0 {
			f.Figures = append(f.Figures, plugins.Fig("cpus", float64(m.Value)/float64(window), "cpus", "CPUs kept busy on average"))
		}
		verb := map[string]string{"compile": "compiling", "match": "matching"}[p.kind]
		detail := fmt.Sprintf("%s of %s CPU (%s over %s) is spent %s regular expressions", plugins.Seconds(m.Value), typ, plugins.Pct(m.Share), window.Round(time.Millisecond), verb)
		if len(m.Frames) > 0 {
			detail += ", mostly in " + strings.Join(m.Frames[:min(2, len(m.Frames))], ", ")
		}
		if len(m.Entries) > 0 {
			detail += "; called from " + strings.Join(m.Entries[:min(2, len(m.Entries))], ", ")
		}
		detail += fmt.Sprintf(". Compiling is %s of the CPU, matching %s.", plugins.Pct(shares["compile"]), plugins.Pct(shares["match"]))
		if gated != "" {
			detail += " Kept at info: " + gated + "."
		}
		f.Detail = detail
		signals := []plugins.Signal{{Name: typ + " " + verb, Agrees: m.Share >= p.th.Warn/2, Detail: plugins.Pct(m.Share) + " of " + typ}}
		for _, other := range []string{profile.TypeOnCPU, profile.TypeGoCPU} {
			if other == typ || !ev.HasType(other) || ev.Total(other) == 0 {
				continue
			}
			o := ev.Where(other, p.keep, inRegexp)
			signals = append(signals, plugins.Signal{Name: other + " " + verb, Agrees: o.Share >= p.th.Warn/2, Detail: plugins.Pct(o.Share) + " of " + other})
			f.Figures = append(f.Figures, plugins.Fig(other+"_share", 100*o.Share, "%", fmt.Sprintf("%s total %s", other, plugins.Seconds(o.Total))))
		}
		f.Confidence = plugins.Agreement(signals...)
		out = append(out, f)
	}
	return out, nil
}
