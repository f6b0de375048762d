package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchunit"
)

// Counts tallies the rows per verdict.
func (r *Report) Counts() map[Verdict]int {
	c := map[Verdict]int{}
	for _, row := range r.Rows {
		c[row.Verdict]++
	}
	return c
}

// Headline is one line: the gate's outcome and the tally.
func (r *Report) Headline() string {
	c := r.Counts()
	outcome := "PASS"
	if r.Failed {
		outcome = "FAIL"
	}
	var parts []string
	for _, v := range []Verdict{Regressed, Waived, Improved, Unchanged, NotEnoughData, Missing} {
		if c[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[v], v))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no metric in common"}
	}
	return fmt.Sprintf("gate %s: %s", outcome, strings.Join(parts, ", "))
}

// fmtValue formats v in unit: seconds as ns/µs/ms/s, the rest scaled the
// way benchstat does.
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	base := strings.SplitN(unit, "/", 2)[0]
	switch {
	case unit == "%":
		return fmt.Sprintf("%.1f%%", v)
	case base == "sec" || base == "s":
		a := math.Abs(v)
		switch {
		case a == 0:
			return "0s"
		case a < 1e-6:
			return fmt.Sprintf("%.1fns", v*1e9)
		case a < 1e-3:
			return fmt.Sprintf("%.1fµs", v*1e6)
		case a < 1:
			return fmt.Sprintf("%.2fms", v*1e3)
		}
		return fmt.Sprintf("%.3fs", v)
	}
	return benchunit.Scale(v, benchunit.ClassOf(unit))
}

// fmtSide is "median ±x% (n=N)".
func fmtSide(s Summary, unit string) string {
	if s.N == 0 {
		return "-"
	}
	out := fmtValue(s.Center, unit)
	if !math.IsNaN(s.Lo) && s.Center != 0 {
		pm := math.Max(s.Hi-s.Center, s.Center-s.Lo) / math.Abs(s.Center)
		out += fmt.Sprintf(" ±%.0f%%", 100*pm)
	} else if !math.IsNaN(s.Lo) {
		out += " ±0%"
	} else {
		out += " ±∞"
	}
	return out + fmt.Sprintf(" n=%d", s.N)
}

func (row Row) delta() string {
	if math.IsNaN(row.Delta) {
		return "-"
	}
	return fmtDelta(row.Kind, row.Delta)
}

// WriteText writes a benchstat-like table, regressions first, then the
// warnings and the headline.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tunit\tbaseline\tcurrent\tdelta\tverdict\twhy")
	for _, row := range r.Rows {
		verdict := string(row.Verdict)
		if row.Verdict == Regressed {
			verdict = "REGRESSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, row.Unit, fmtSide(row.Base, row.Unit), fmtSide(row.Head, row.Unit), row.delta(), verdict, row.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	_, err := fmt.Fprintln(w, r.Headline())
	return err
}

// WriteMarkdown writes the report for a pull request comment: the
// headline, the rows that need attention, the rest folded.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### perfprobe %s\n\n", r.Headline())
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "> **warning:** %s\n", mdEscape(warn))
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n")
	}
	var attention, rest []Row
	for _, row := range r.Rows {
		if row.Verdict == Unchanged || row.Verdict == Improved {
			rest = append(rest, row)
		} else {
			attention = append(attention, row)
		}
	}
	table := func(rows []Row) {
		b.WriteString("| metric | unit | baseline | current | delta | verdict | why |\n|---|---|---:|---:|---:|---|---|\n")
		for _, row := range rows {
			v := string(row.Verdict)
			if row.Verdict == Regressed {
				v = "**regressed**"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", strings.ReplaceAll(row.Name, "`", "'"), mdEscape(row.Unit), fmtSide(row.Base, row.Unit), fmtSide(row.Head, row.Unit), row.delta(), v, mdEscape(row.Note))
		}
	}
	if len(attention) > 0 {
		table(attention)
	}
	if len(rest) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>%d unchanged or improved</summary>\n\n", len(rest))
		table(rest)
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// jsonRow is Row with NaNs left out (JSON has no NaN).
type jsonRow struct {
	Name           string   `json:"name"`
	Unit           string   `json:"unit"`
	Kind           Kind     `json:"kind"`
	HigherIsBetter bool     `json:"higher_is_better"`
	Base           jsonSide `json:"baseline"`
	Head           jsonSide `json:"current"`
	Delta          *float64 `json:"delta,omitempty"`
	DeltaLo        *float64 `json:"delta_lo,omitempty"`
	DeltaHi        *float64 `json:"delta_hi,omitempty"`
	P              *float64 `json:"p,omitempty"`
	Threshold      float64  `json:"threshold"`
	Paired         bool     `json:"paired"`
	Verdict        Verdict  `json:"verdict"`
	Note           string   `json:"note"`
}

type jsonSide struct {
	N      int      `json:"n"`
	Median *float64 `json:"median,omitempty"`
	Lo     *float64 `json:"lo,omitempty"`
	Hi     *float64 `json:"hi,omitempty"`
}

func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// WriteJSON writes the report as JSON (docs/gate.md has the schema).
func (r *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Version  int             `json:"version"`
		Failed   bool            `json:"failed"`
		Headline string          `json:"headline"`
		Counts   map[Verdict]int `json:"counts"`
		Warnings []string        `json:"warnings"`
		Rows     []jsonRow       `json:"metrics"`
	}{1, r.Failed, r.Headline(), r.Counts(), r.Warnings, []jsonRow{}}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	side := func(s Summary) jsonSide {
		return jsonSide{N: s.N, Median: num(s.Center), Lo: num(s.Lo), Hi: num(s.Hi)}
	}
	for _, row := range r.Rows {
		out.Rows = append(out.Rows, jsonRow{row.Name, row.Unit, row.Kind, row.HigherIsBetter, side(row.Base), side(row.Head),
			num(row.Delta), num(row.DeltaLo), num(row.DeltaHi), num(row.P), row.Threshold, row.Paired, row.Verdict, row.Note})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
