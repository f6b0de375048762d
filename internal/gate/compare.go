package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/perf/benchmath"
)

// Verdict is the outcome for one metric.
type Verdict string

const (
	Regressed     Verdict = "regressed"
	Improved      Verdict = "improved"
	Unchanged     Verdict = "unchanged"
	NotEnoughData Verdict = "not enough data"
	Waived        Verdict = "waived"  // regressed, and a valid waiver covers it
	Missing       Verdict = "missing" // on one side only
)

// Summary is one side's samples summed up: the median and its confidence
// interval (benchmath.AssumeNothing), NaN when there are too few samples.
type Summary struct {
	N              int
	Center, Lo, Hi float64
}

// Row is the comparison of one metric.
type Row struct {
	Name, Unit     string
	Kind           Kind
	HigherIsBetter bool
	Base, Head     Summary
	// Delta is the relative change head/base-1 of the centers (for a
	// paired comparison, the median of the per-pair ratios minus 1); for
	// KindShare it is the difference in points.
	Delta float64
	// DeltaLo and DeltaHi bound Delta at the confidence level, when known.
	DeltaLo, DeltaHi float64
	P                float64 // the test's p-value; NaN when no test ran
	Threshold        float64 // the policy's threshold for this metric (fraction, or points for shares)
	Paired           bool
	Verdict          Verdict
	Note             string // why the verdict, in words
}

// Report is the outcome of a gate.
type Report struct {
	Rows     []Row
	Warnings []string // machine mismatch, skipped files, expired waivers...
	// Failed is true when the gate fails: a regression, or an expired waiver.
	Failed  bool
	Created time.Time
}

// Compare compares two independent sides (results measured at different
// times, e.g. a committed baseline and this build): per metric, the
// medians with their confidence intervals and a Mann-Whitney U test
// (benchmath.AssumeNothing, which assumes nothing about the shape of the
// distributions). A metric regressed when the difference is significant
// (p < alpha) and the change of the medians is worse than its threshold;
// a significant change under the threshold is unchanged, with a note.
func Compare(base, head *Set, pol *Policy, now time.Time) *Report {
	if pol == nil {
		pol = DefaultPolicy()
	}
	r := &Report{Created: now}
	for _, k := range keys(base, head) {
		b, h := base.Metrics[k], head.Metrics[k]
		r.Rows = append(r.Rows, pol.unpaired(b, h))
	}
	pol.finish(r, now)
	r.Warnings = append(r.Warnings, machineWarnings(base.Meta, head.Meta)...)
	return r
}

// ComparePaired compares the two sides of interleaved runs: pairs[i] holds
// the base and head results of pair i, measured one after the other, so
// that what the machine did meanwhile (other jobs, frequency, caches) hits
// both. Per metric and pair, the ratio head/base of the runs' medians;
// the verdict is on the median ratio and its confidence interval (order
// statistics, benchmath.AssumeNothing): regressed when the interval
// excludes no change and the median ratio is worse than the threshold.
func ComparePaired(pairs [][2]*Set, pol *Policy, now time.Time) *Report {
	if pol == nil {
		pol = DefaultPolicy()
	}
	r := &Report{Created: now}
	base, head := NewSet(), NewSet()
	for _, p := range pairs {
		base.Merge(p[0])
		head.Merge(p[1])
	}
	for _, k := range keys(base, head) {
		var pb, ph []float64
		for _, p := range pairs {
			b, h := p[0].Metrics[k], p[1].Metrics[k]
			if b == nil || h == nil || len(b.Samples) == 0 || len(h.Samples) == 0 {
				continue
			}
			pb = append(pb, median(b.Samples))
			ph = append(ph, median(h.Samples))
		}
		r.Rows = append(r.Rows, pol.paired(base.Metrics[k], head.Metrics[k], pb, ph))
	}
	pol.finish(r, now)
	return r
}

// keys lists the metrics of both sides: the base's order, then the head's
// new ones.
func keys(base, head *Set) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range []*Set{base, head} {
		for _, k := range s.order {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (p *Policy) summary(v []float64) (Summary, *benchmath.Sample) {
	s := benchmath.NewSample(v, &benchmath.Thresholds{CompareAlpha: p.Alpha})
	if len(v) == 0 {
		return Summary{Center: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}, s
	}
	sum := benchmath.AssumeNothing.Summary(s, p.Confidence)
	lo, hi := sum.Lo, sum.Hi
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = math.NaN(), math.NaN() // too few samples for an interval
	}
	return Summary{N: len(v), Center: sum.Center, Lo: lo, Hi: hi}, s
}

// row starts a row from whichever side has the metric.
func row(b, h *Metric) Row {
	m := b
	if m == nil {
		m = h
	}
	return Row{Name: m.Name, Unit: m.Unit, Kind: m.Kind, HigherIsBetter: m.HigherIsBetter,
		Delta: math.NaN(), DeltaLo: math.NaN(), DeltaHi: math.NaN(), P: math.NaN()}
}

func (p *Policy) unpaired(b, h *Metric) Row {
	r, bs, hs, done := p.begin(b, h, false)
	if done {
		return r
	}
	r.Delta = change(r.Kind, r.Base.Center, r.Head.Center)
	if r.Base.N < p.MinSamples || r.Head.N < p.MinSamples {
		r.Verdict = NotEnoughData
		r.Note = fmt.Sprintf("%d and %d samples, want at least %d on each side", r.Base.N, r.Head.N, p.MinSamples)
		return r
	}
	cmp := benchmath.AssumeNothing.Compare(bs, hs)
	r.P = cmp.P
	p.judge(&r, cmp.P < p.Alpha, fmt.Sprintf("p=%.3f", cmp.P))
	return r
}

// begin starts the row of a metric for both comparisons: the policy's rule
// and each side's summary; done when the row needs nothing more (ignored,
// or on one side only).
func (p *Policy) begin(b, h *Metric, paired bool) (r Row, bs, hs *benchmath.Sample, done bool) {
	r = row(b, h)
	r.Paired = paired
	if p.rule(&r).Ignore {
		return r, nil, nil, true
	}
	if b != nil {
		r.Base, bs = p.summary(b.Samples)
	}
	if h != nil {
		r.Head, hs = p.summary(h.Samples)
	}
	if b == nil || h == nil {
		r.Verdict = Missing
		switch {
		case paired:
			r.Note = "printed by one side only"
		case h == nil:
			r.Note = "only in the baseline"
		default:
			r.Note = "only in the current results"
		}
		return r, bs, hs, true
	}
	return r, bs, hs, false
}

func (p *Policy) paired(b, h *Metric, pb, ph []float64) Row {
	r, _, _, done := p.begin(b, h, true)
	if done {
		return r
	}
	// Per-pair changes: ratios, or differences in points for shares.
	d := make([]float64, len(pb))
	for i := range pb {
		d[i] = change(r.Kind, pb[i], ph[i])
	}
	if len(d) < p.MinSamples || slices.ContainsFunc(d, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }) {
		r.Verdict = NotEnoughData
		r.Note = fmt.Sprintf("%d pairs with a comparable value, want at least %d", len(d), p.MinSamples)
		if len(d) >= p.MinSamples {
			r.Note = "a base run measured 0: no ratio"
		}
		return r
	}
	s, _ := p.summary(d)
	r.Delta, r.DeltaLo, r.DeltaHi = s.Center, s.Lo, s.Hi
	if math.IsNaN(s.Lo) {
		r.Verdict = NotEnoughData
		r.Note = fmt.Sprintf("%d pairs are too few for a %.0f%% interval", len(d), 100*p.Confidence)
		return r
	}
	significant := s.Lo > 0 || s.Hi < 0
	p.judge(&r, significant, fmt.Sprintf("%.0f%% interval %s to %s", 100*p.Confidence, fmtDelta(r.Kind, s.Lo), fmtDelta(r.Kind, s.Hi)))
	return r
}

// change is head against base: a relative change, or points for shares.
func change(k Kind, base, head float64) float64 {
	if k == KindShare {
		return head - base
	}
	switch {
	case base == head:
		return 0
	case base == 0:
		return math.Copysign(math.Inf(1), head)
	}
	return head/base - 1
}

// judge sets the verdict of a row whose Delta is known, given whether the
// test found a difference.
func (p *Policy) judge(r *Row, significant bool, why string) {
	worse := r.Delta
	if r.HigherIsBetter {
		worse = -worse
	}
	d := fmtDelta(r.Kind, r.Delta)
	th := fmtDelta(r.Kind, r.Threshold)
	switch {
	case !significant:
		r.Verdict = Unchanged
		r.Note = fmt.Sprintf("%s is not significant (%s)", d, why)
	case worse > r.Threshold:
		r.Verdict = Regressed
		r.Note = fmt.Sprintf("%s, worse than the %s threshold (%s)", d, strings.TrimPrefix(th, "+"), why)
	case -worse > r.Threshold:
		r.Verdict = Improved
		r.Note = fmt.Sprintf("%s, better by more than %s (%s)", d, strings.TrimPrefix(th, "+"), why)
	default:
		r.Verdict = Unchanged
		r.Note = fmt.Sprintf("%s is significant (%s) but within the %s threshold", d, why, strings.TrimPrefix(th, "+"))
	}
}

func fmtDelta(k Kind, d float64) string {
	if k == KindShare {
		return fmt.Sprintf("%+.1f points", d)
	}
	if math.IsInf(d, 0) {
		return fmt.Sprintf("%+.0f", d) + " (from 0)"
	}
	return fmt.Sprintf("%+.1f%%", 100*d)
}
