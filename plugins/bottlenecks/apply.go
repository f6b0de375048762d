package bottlenecks

import (
	"fmt"
	"math"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// Plugin names of the findings Apply adds.
const (
	PluginName = "bottlenecks" // a listed hot spot no plugin reported
	SLOPlugin  = "slo"         // an SLO breach
)

const defaultType = profile.TypeOnCPU

// Apply sets Status/Bottleneck/Severity on rep.Findings, adds findings for
// listed `match` entries the plugins did not report, evaluates SLOs into
// rep.SLOs and adds a finding per breach; re-ranks (plugins.Rank). now
// decides expiry. ev may be nil (then no evidence is read: SLOs carry an
// error).
func (l *List) Apply(rep *plugins.Report, ev *plugins.Evidence, now time.Time) {
	if l == nil || rep == nil {
		return
	}
	rep.Bottlenecks = l.Path
	matched := make([]bool, len(l.Bottlenecks))
	for i := range rep.Findings {
		f := &rep.Findings[i]
		first := -1
		for j := range l.Bottlenecks {
			if l.Bottlenecks[j].matches(f) {
				matched[j] = true
				if first < 0 {
					first = j
				}
			}
		}
		if first >= 0 {
			l.mark(f, &l.Bottlenecks[first], now)
		}
	}
	for j := range l.Bottlenecks {
		b := &l.Bottlenecks[j]
		if matched[j] || b.re == nil || ev == nil {
			continue
		}
		if f, ok := l.unreported(b, ev, now); ok {
			rep.Findings = append(rep.Findings, f)
		}
	}
	if rep.SLOs == nil {
		rep.SLOs = []plugins.SLOResult{}
	}
	for i := range l.SLOs {
		s := &l.SLOs[i]
		r := s.evaluate(ev)
		if !r.OK && r.Error == "" {
			f := s.breach(r, rep.Findings, ev)
			r.Finding = f.ID
			rep.Findings = append(rep.Findings, f)
		}
		rep.SLOs = append(rep.SLOs, r)
	}
	plugins.Rank(rep.Findings)
}

// matches: the entry's category is the finding's, or its regexp matches a
// frame of the finding's stacks or its key.
func (b *Bottleneck) matches(f *plugins.Finding) bool {
	if b.Category != "" && string(b.Category) == f.Category {
		return true
	}
	if b.re == nil {
		return false
	}
	for _, st := range f.Stacks {
		if slices.ContainsFunc(st, b.re.MatchString) {
			return true
		}
	}
	return slices.ContainsFunc(f.Key, b.re.MatchString)
}

// status is what entry b makes of a finding of share at now.
func (b *Bottleneck) status(share float64, now time.Time) string {
	switch {
	case b.Status == plugins.StatusMustFix:
		return plugins.StatusMustFix
	case !b.Expires.IsZero() && !now.Before(b.Expires):
		return plugins.StatusExpired
	case b.Budget > 0 && share > b.Budget:
		return plugins.StatusOverBudget
	}
	return plugins.StatusAcceptable
}

// mark gives f entry b's status and the severity that goes with it:
// acceptable is at most info, every other listed status at least warning.
func (l *List) mark(f *plugins.Finding, b *Bottleneck, now time.Time) {
	st := b.status(f.Share, now)
	f.Status, f.Bottleneck = st, b.Name
	if st == plugins.StatusAcceptable {
		f.Severity = plugins.Info
	} else {
		f.Severity = max(f.Severity, plugins.Warning)
	}
	from := "the bottleneck list"
	if l.Path != "" {
		from = filepath.Base(l.Path)
	}
	words := fmt.Sprintf("%s lists it as %s", from, b.Name)
	switch st {
	case plugins.StatusMustFix:
		words += ", must-fix"
	case plugins.StatusExpired:
		words += fmt.Sprintf(", accepted until %s, which has passed: fix it or renew the acceptance", expiry(b.Expires))
	case plugins.StatusOverBudget:
		words += fmt.Sprintf(", acceptable up to %s, and this is %s: over budget", plugins.Pct(b.Budget), plugins.Pct(f.Share))
	default:
		words += ", acceptable"
		if b.Budget > 0 {
			words += " up to " + plugins.Pct(b.Budget)
		}
		if !b.Expires.IsZero() {
			words += " until " + expiry(b.Expires)
		}
	}
	if b.Owner != "" {
		words += "; owner " + b.Owner
	}
	if b.Note != "" {
		words += "; note: " + b.Note
	}
	f.Detail = strings.TrimSpace(f.Detail + " " + words + ".")
}

// expiry writes an expiry as it was given: a date, or a time.
func expiry(t time.Time) string {
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// cpuType resolves a sample type the way Evidence.CPUType does: oncpu
// falls back to go_cpu when the profile has no oncpu.
func cpuType(ev *plugins.Evidence, typ string) string {
	if typ == profile.TypeOnCPU && !ev.HasType(typ) {
		return ev.CPUType()
	}
	return typ
}

// unreported looks for a listed entry's own hot spot (its match in its
// type) when no finding matched it: there is a finding when the matched
// stacks pass the absolute gates of plugins.HotSpot (time, samples,
// window), whatever their share; its score is HotSpot's for the share,
// then the entry's status sets the severity as for any listed finding.
func (l *List) unreported(b *Bottleneck, ev *plugins.Evidence, now time.Time) (plugins.Finding, bool) {
	typ := cpuType(ev, b.Type)
	if typ == "" || !ev.HasType(typ) {
		return plugins.Finding{}, false
	}
	m := ev.Matching(typ, b.re)
	window := ev.Window()
	score, gated := plugins.HotSpot.Score(m.Share, time.Duration(m.Value), m.Samples, window)
	if m.Value <= 0 || gated != "" {
		return plugins.Finding{}, false
	}
	unit := typeUnit(ev, typ)
	of := fmt.Sprintf("%s total %s", typ, fmtValue(float64(m.Total), unit))
	f := plugins.Finding{
		Plugin:   PluginName,
		Category: string(plugins.CatCustom),
		Key:      []string{b.Name},
		Score:    score,
		Share:    m.Share,
		Title:    fmt.Sprintf("Listed bottleneck %s takes %s of %s", b.Name, plugins.Pct(m.Share), typ),
		Figures: []plugins.Figure{
			plugins.Fig("share", 100*m.Share, "%", of),
			plugins.Fig("value", float64(m.Value), unit, typ),
			plugins.Fig("samples", float64(m.Samples), "count", ""),
			plugins.Fig("window_ns", float64(window), "ns", ""),
		},
		Stacks: m.StackFrames(),
		Query:  plugins.Query(typ, b.Match),
	}
	detail := fmt.Sprintf("%s of %s (%s over %s) is in stacks with a function matching %s", fmtValue(float64(m.Value), unit), typ,
		plugins.Pct(m.Share), window.Round(time.Millisecond), b.Match)
	if len(m.Frames) > 0 {
		detail += ", mostly in " + strings.Join(m.Frames[:min(2, len(m.Frames))], ", ")
	}
	if len(m.Entries) > 0 {
		detail += "; called from " + strings.Join(m.Entries[:min(2, len(m.Entries))], ", ")
	}
	f.Detail = detail + "."
	signals := []plugins.Signal{{Name: typ + " matching " + b.Match, Agrees: true, Detail: plugins.Pct(m.Share) + " of " + typ}}
	for _, other := range []string{profile.TypeOnCPU, profile.TypeGoCPU} {
		if typ != profile.TypeOnCPU && typ != profile.TypeGoCPU || other == typ || !ev.HasType(other) || ev.Total(other) == 0 {
			continue
		}
		o := ev.Matching(other, b.re)
		signals = append(signals, plugins.Signal{Name: other + " matching " + b.Match, Agrees: o.Share >= m.Share/2, Detail: plugins.Pct(o.Share) + " of " + other})
	}
	f.Confidence = plugins.Agreement(signals...)
	plugins.Finish(&f, PluginName)
	l.mark(&f, b, now)
	if f.Status == plugins.StatusAcceptable {
		f.Advice = "Within what the bottleneck list accepts: nothing to do while it stays in budget."
	} else {
		f.Advice = "The bottleneck list wants this fixed: start from the functions that call into it (the stacks) and the query."
	}
	return f, true
}

// typeUnit is a sample type's unit as figures write it.
func typeUnit(ev *plugins.Evidence, typ string) string {
	if ev.Profile != nil {
		if i := profile.ValueIndex(ev.Profile, typ); i >= 0 {
			switch u := ev.Profile.SampleType[i].Unit; u {
			case "nanoseconds":
				return "ns"
			case "":
				return "count"
			default:
				return u
			}
		}
	}
	return "ns"
}

// evaluate computes the SLO's metric and checks its bound.
func (s *SLO) evaluate(ev *plugins.Evidence) plugins.SLOResult {
	r := plugins.SLOResult{Name: s.Name, Metric: s.Metric, Limit: s.Limit, Unit: s.Unit, Bound: s.Bound}
	v, unit, err := s.m.value(ev)
	if err == nil && unit != "ns" && s.limitKind == limitDuration {
		err = fmt.Errorf("the limit is a duration, but %s is in %s", s.Metric, unitWords(unit))
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Value, r.Unit = v, unit
	r.OK = s.Bound == "max" && v <= s.Limit || s.Bound == "min" && v >= s.Limit
	return r
}

// value computes the metric from the evidence, in unit.
func (m metric) value(ev *plugins.Evidence) (v float64, unit string, err error) {
	unit = m.unit()
	if ev == nil {
		return 0, unit, fmt.Errorf("no evidence to compute %s from", m.kind)
	}
	switch m.kind {
	case "histogram":
		if ev.Capture == nil {
			return 0, unit, fmt.Errorf("histograms come from a capture, and this is a profile file")
		}
		h := ev.Histogram(m.name)
		if h == nil {
			if err := missing(ev, "histogram", m.name, true, histNames(ev)); err != nil {
				return 0, unit, err
			}
			h = &profile.Histogram{}
		}
		if m.stat == "count" {
			return float64(h.Count), unit, nil
		}
		if h.Count == 0 {
			return 0, unit, fmt.Errorf("histogram %s has no events in this window: its %s is undefined", m.name, m.stat)
		}
		switch m.stat {
		case "p50":
			v = float64(h.Percentile(0.50))
		case "p95":
			v = float64(h.Percentile(0.95))
		case "p99":
			v = float64(h.Percentile(0.99))
		case "max":
			v = float64(h.MaxNs)
		case "mean":
			v = float64(h.MeanNs())
		}
		return v, unit, nil
	case "count", "rate":
		if ev.Capture == nil {
			return 0, unit, fmt.Errorf("counts come from a capture, and this is a profile file")
		}
		n, ok := ev.Capture.Counts[m.name]
		if !ok {
			if err := missing(ev, "count", m.name, false, countNames(ev)); err != nil {
				return 0, unit, err
			}
		}
		if m.kind == "count" {
			return float64(n), unit, nil
		}
		w := ev.Window()
		if w <= 0 {
			return 0, unit, fmt.Errorf("the capture's window is unknown, so %s has no rate", m.name)
		}
		return float64(n) / w.Seconds(), unit, nil
	case "share":
		typ := m.typ
		if typ == "" {
			typ = defaultType
		}
		typ = cpuType(ev, typ)
		if typ == "" {
			return 0, unit, fmt.Errorf("no CPU samples: run with --probes cpu (or give a CPU profile)")
		}
		if err := hasType(ev, typ); err != nil {
			return 0, unit, err
		}
		var mm plugins.Match
		if m.re != nil {
			mm = ev.Matching(typ, m.re)
		} else {
			mm = ev.InCategory(typ, m.cat)
		}
		if mm.Total <= 0 {
			return 0, unit, fmt.Errorf("%s has no samples, so no share", typ)
		}
		return 100 * mm.Share, unit, nil
	case "total":
		if err := hasType(ev, m.name); err != nil {
			return 0, unit, err
		}
		return float64(ev.Total(m.name)), typeUnit(ev, m.name), nil
	}
	return 0, unit, fmt.Errorf("unknown metric kind %s", m.kind)
}

// missing says why a histogram or count is absent, or returns nil when it
// is absent because it is zero: the probe that declares it ran and saw
// nothing (probes leave out what they saw none of).
func missing(ev *plugins.Evidence, what, name string, hist bool, have []string) error {
	if p := owner(name, hist); p != "" {
		if ev.HasProbe(p) {
			return nil
		}
		return fmt.Errorf("no %s %s: the capture did not run the %s probe (run with --probes %s)", what, name, p, p)
	}
	if g := suggest(name, have); g != "" {
		return fmt.Errorf("no %s %s in this capture: did you mean %s?", what, name, g)
	}
	if len(have) > 8 {
		have = append(have[:8:8], "...")
	}
	return fmt.Errorf("no %s %s in this capture (it has: %s)", what, name, strings.Join(have, ", "))
}

// owner is the registered probe that declares name among its histograms
// (hist) or counts, or "".
func owner(name string, hist bool) string {
	for _, p := range probes.Names() {
		d, _ := probes.Describe(p)
		facts := d.Counts
		if hist {
			facts = d.Histograms
		}
		if probes.Declares(facts, name) {
			return p
		}
	}
	return ""
}

func histNames(ev *plugins.Evidence) []string {
	var out []string
	for n := range ev.Capture.Histograms {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func countNames(ev *plugins.Evidence) []string {
	var out []string
	for n := range ev.Capture.Counts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func hasType(ev *plugins.Evidence, typ string) error {
	if ev.HasType(typ) {
		return nil
	}
	var have []string
	if ev.Profile != nil {
		for _, st := range ev.Profile.SampleType {
			if st.Type != profile.SampleCount.Name {
				have = append(have, st.Type)
			}
		}
	}
	if g := suggest(typ, have); g != "" {
		return fmt.Errorf("no sample type %s in this profile: did you mean %s?", typ, g)
	}
	if len(have) == 0 {
		return fmt.Errorf("no sample type %s: there is no profile", typ)
	}
	return fmt.Errorf("no sample type %s in this profile (it has: %s)", typ, strings.Join(have, ", "))
}

// breach is the finding of an SLO that r says is missed: a warning,
// critical when the value is past twice the limit (under half of it for a
// min:), explained by the findings of the categories behind the metric.
func (s *SLO) breach(r plugins.SLOResult, fs []plugins.Finding, ev *plugins.Evidence) plugins.Finding {
	ratio := math.Inf(1) // how far past the limit, > 1
	switch {
	case s.Bound == "max" && r.Limit > 0:
		ratio = r.Value / r.Limit
	case s.Bound == "min" && r.Value > 0:
		ratio = r.Limit / r.Value
	}
	score := plugins.ScoreWarning + int(math.Round(29*math.Min(1, ratio-1)))
	if ratio > 2 {
		score = plugins.ScoreCritical + int(math.Round(20*math.Min(1, (ratio-2)/2)))
	}
	f := plugins.Finding{
		Plugin:   SLOPlugin,
		Category: string(plugins.CatSLO),
		Key:      []string{s.Name},
		Score:    score,
		Title:    fmt.Sprintf("SLO %s missed: %s is %s, %s %s", s.Name, s.Metric, fmtValue(r.Value, r.Unit), s.Bound, fmtValue(r.Limit, r.Unit)),
		Figures: []plugins.Figure{
			plugins.Fig("value", r.Value, r.Unit, s.Metric),
			plugins.Fig("limit", r.Limit, r.Unit, s.Bound),
		},
		Confidence: plugins.Agreement(plugins.Signal{Name: s.Metric, Agrees: true, Detail: fmtValue(r.Value, r.Unit)}),
	}
	if s.m.kind == "share" {
		f.Share = r.Value / 100
	}
	detail := fmt.Sprintf("%s was %s over the capture; the SLO allows", s.Metric, fmtValue(r.Value, r.Unit))
	if s.Bound == "max" {
		detail += " at most " + fmtValue(r.Limit, r.Unit)
	} else {
		detail += " no less than " + fmtValue(r.Limit, r.Unit)
	}
	if !math.IsInf(ratio, 0) {
		detail += fmt.Sprintf(" (%.2fx past it)", ratio)
	}
	detail += "."
	var titles []string
	for i := range fs {
		if s.m.explainedBy(&fs[i]) {
			f.Explains = append(f.Explains, fs[i].ID)
			titles = append(titles, fs[i].Title)
		}
	}
	if len(titles) > 0 {
		detail += " Explained by: " + strings.Join(titles, "; ") + "."
		f.Advice = "Fix the findings that explain it (explains), then check again."
	} else {
		f.Advice = "No finding explains it: look at the query or the flamegraph of the same window."
	}
	if s.Note != "" {
		detail += " Note: " + s.Note
	}
	f.Detail = detail
	switch s.m.kind {
	case "share":
		focus := s.m.cat.Focus()
		if s.m.re != nil {
			focus = s.m.re.String()
		}
		f.Query = plugins.Query(cpuType(ev, orType(s.m.typ)), focus)
	case "total":
		f.Query = plugins.Query(s.m.name, "")
	}
	plugins.Finish(&f, SLOPlugin)
	return f
}

func orType(t string) string {
	if t == "" {
		return defaultType
	}
	return t
}

// What explains a metric: the categories of findings behind each
// histogram, count (by name) or sample type.
var (
	cpuCats = slices.Concat(plugins.FrameCategories(), []plugins.Category{plugins.CatGC, plugins.CatAllocation})
	byName  = []struct {
		pattern string
		cats    []plugins.Category
	}{
		{"tls_*", []plugins.Category{plugins.CatTLSHandshake}},
		{"runqueue", []plugins.Category{plugins.CatCPUSaturation, plugins.CatThrottling}},
		{"involuntary_switches", []plugins.Category{plugins.CatCPUSaturation, plugins.CatThrottling}},
		{"blocked", []plugins.Category{plugins.CatLock, plugins.CatBlockedIO}},
		{"voluntary_switches", []plugins.Category{plugins.CatLock, plugins.CatBlockedIO, plugins.CatSmallSyscalls}},
		{"syscall_*", []plugins.Category{plugins.CatBlockedIO, plugins.CatSmallSyscalls, plugins.CatFsync}},
		{"syscalls_*", []plugins.Category{plugins.CatBlockedIO, plugins.CatSmallSyscalls, plugins.CatFsync}},
		{"block_*", []plugins.Category{plugins.CatBlockedIO, plugins.CatFsync}},
		{"oncpu_samples", cpuCats},
	}
	byType = map[string][]plugins.Category{
		profile.TypeOnCPU:                 cpuCats,
		profile.TypeGoCPU:                 cpuCats,
		profile.TypeOffCPURunqueue:        {plugins.CatCPUSaturation, plugins.CatThrottling},
		profile.TypeOffCPUBlocked:         {plugins.CatLock, plugins.CatBlockedIO},
		profile.TypeOffCPUUninterruptible: {plugins.CatBlockedIO, plugins.CatFsync},
		profile.TypeIOWait:                {plugins.CatBlockedIO, plugins.CatSmallSyscalls, plugins.CatFsync},
		profile.TypeTLSHandshake:          {plugins.CatTLSHandshake},
		profile.TypeGoMutexDelay:          {plugins.CatLock},
		profile.TypeGoBlockDelay:          {plugins.CatLock, plugins.CatBlockedIO},
		profile.TypeGoGoroutines:          {plugins.CatGoroutines},
		profile.TypeGoWall:                slices.Concat(cpuCats, []plugins.Category{plugins.CatLock, plugins.CatBlockedIO}),
	}
)

// explainedBy reports whether finding f explains a breach of m.
func (m metric) explainedBy(f *plugins.Finding) bool {
	if f.Category == string(plugins.CatSLO) {
		return false
	}
	var cats []plugins.Category
	switch m.kind {
	case "share":
		if m.re == nil {
			return f.Category == string(m.cat)
		}
		for _, st := range f.Stacks {
			if slices.ContainsFunc(st, m.re.MatchString) {
				return true
			}
		}
		return slices.ContainsFunc(f.Key, m.re.MatchString)
	case "total":
		cats = byType[m.name]
	default:
		for _, e := range byName {
			if ok, _ := path.Match(e.pattern, m.name); ok {
				cats = e.cats
				break
			}
		}
	}
	return slices.Contains(cats, plugins.Category(f.Category))
}

// fmtValue writes a value in its unit for a title or detail.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "ns":
		switch {
		case v < 1e3:
			return fmt.Sprintf("%.0f ns", v)
		case v < 1e6:
			return fmt.Sprintf("%.1f µs", v/1e3)
		}
		return plugins.Seconds(int64(v))
	case "%":
		return fmt.Sprintf("%.1f%%", v)
	case "count":
		return fmt.Sprintf("%.0f", v)
	case "/s":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}
