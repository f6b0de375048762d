package gate

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Policy is what a gate enforces: a threshold per kind of metric, per-metric
// overrides, the statistics' parameters and the waivers.
type Policy struct {
	// Source is the file the policy came from ("" for the defaults).
	Source string
	// Thresholds per kind: a fraction (0.10 for 10%), in the worse
	// direction; for KindShare, points of percent.
	Thresholds map[Kind]float64
	Rules      []Rule
	Waivers    []Waiver
	// Shares are extra share(...) metrics (SLO syntax, e.g. a function
	// regexp) to measure in every capture, besides each category's.
	Shares []string
	// MinSamples per side (per pair count, when paired) below which a
	// metric gets "not enough data" instead of a verdict.
	MinSamples int
	Alpha      float64 // significance level of the tests
	Confidence float64 // of the intervals
}

// Rule overrides the policy for the metrics it matches.
type Rule struct {
	Match *regexp.Regexp // on the metric's name
	Unit  string         // "" for any
	// Kind reclassifies the metric ("" to keep it); Threshold (when >= 0)
	// replaces the kind's.
	Kind      Kind
	Threshold float64
	Ignore    bool // no verdict at all
	Line      int
}

// Waiver accepts a regression of the metrics it matches until it expires.
// An expired waiver fails the gate, so that it is renewed or removed.
type Waiver struct {
	Match   *regexp.Regexp
	Unit    string
	Reason  string
	Owner   string
	Expires time.Time // the waiver holds before this instant
	Line    int

	used bool
}

// The template's defaults: p95 latency +10%, throughput -10%, CPU and
// memory +15%; run time as latency; a share +5 points.
func DefaultPolicy() *Policy {
	return &Policy{
		Thresholds: map[Kind]float64{
			KindLatency: 0.10, KindThroughput: 0.10, KindTime: 0.10,
			KindCPU: 0.15, KindMemory: 0.15, KindShare: 5, KindOther: 0.10,
		},
		MinSamples: 5,
		Alpha:      0.05,
		Confidence: 0.95,
	}
}

// rule applies the first matching rule to r's kind and threshold.
func (p *Policy) rule(r *Row) Rule {
	for _, ru := range p.Rules {
		if (ru.Unit == "" || ru.Unit == r.Unit) && ru.Match.MatchString(r.Name) {
			if ru.Kind != "" {
				r.Kind = ru.Kind
				r.HigherIsBetter = ru.Kind == KindThroughput
			}
			r.Threshold = p.Thresholds[r.Kind]
			if ru.Threshold >= 0 {
				r.Threshold = ru.Threshold
			}
			if ru.Ignore {
				r.Verdict = Unchanged
				r.Note = fmt.Sprintf("ignored by the policy (line %d)", ru.Line)
			}
			return ru
		}
	}
	r.Threshold = p.Thresholds[r.Kind]
	return Rule{Threshold: -1}
}

// finish applies the waivers and decides whether the gate fails.
func (p *Policy) finish(r *Report, now time.Time) {
	for i := range p.Waivers {
		p.Waivers[i].used = false
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Verdict != Regressed {
			continue
		}
		for j := range p.Waivers {
			w := &p.Waivers[j]
			if (w.Unit != "" && w.Unit != row.Unit) || !w.Match.MatchString(row.Name) {
				continue
			}
			w.used = true
			if now.Before(w.Expires) {
				row.Verdict = Waived
				row.Note += fmt.Sprintf("; waived until %s by %s: %s", w.Expires.Format(time.DateOnly), w.Owner, w.Reason)
			} else {
				row.Note += fmt.Sprintf("; its waiver expired on %s", w.Expires.Format(time.DateOnly))
			}
			break
		}
		if row.Verdict == Regressed {
			r.Failed = true
		}
	}
	for _, w := range p.Waivers {
		where := ""
		if p.Source != "" {
			where = fmt.Sprintf(" (%s:%d)", p.Source, w.Line)
		}
		switch {
		case !now.Before(w.Expires):
			r.Failed = true
			r.Warnings = append(r.Warnings, fmt.Sprintf("the waiver for %q%s expired on %s (owner %s): renew it or remove it", w.Match, where, w.Expires.Format(time.DateOnly), w.Owner))
		case !w.used:
			r.Warnings = append(r.Warnings, fmt.Sprintf("the waiver for %q%s covers no regression today: remove it when it is no longer needed", w.Match, where))
		}
	}
	slices.SortStableFunc(r.Rows, func(a, b Row) int { return order(a.Verdict) - order(b.Verdict) })
}

// order puts what needs attention first.
func order(v Verdict) int {
	return slices.Index([]Verdict{Regressed, Waived, NotEnoughData, Missing, Improved, Unchanged}, v)
}
