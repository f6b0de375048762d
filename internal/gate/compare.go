package gate

import "time"

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
