package diagnosis

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/perfprobe/perfprobe/plugins"
)

// WriteText writes the diagnosis for a terminal: findings first, each in
// at most 3 lines (what, the proof in numbers, what to try), then the SLOs,
// then one line on what the plugins could not check and why. With
// infoToo false, info findings are counted rather than listed.
func WriteText(w io.Writer, rep *plugins.Report, infoToo bool) {
	shown, infos := 0, 0
	for _, f := range rep.Findings {
		if f.Severity == plugins.Info && !infoToo {
			infos++
			continue
		}
		if shown == 0 {
			fmt.Fprintln(w, "\nFindings:")
		}
		shown++
		fmt.Fprintf(w, "  [%s] %s%s\n", strings.ToUpper(f.Severity.String()), f.Title, tags(f))
		if f.Detail != "" {
			fmt.Fprintf(w, "      %s\n", f.Detail)
		}
		if f.Advice != "" {
			fmt.Fprintf(w, "      Try: %s\n", firstSentence(f.Advice))
		}
	}
	if shown == 0 {
		fmt.Fprintln(w, "\nFindings: none at warning or above.")
	}
	if infos > 0 {
		fmt.Fprintf(w, "  (%d info finding%s in report.md)\n", infos, plural(infos))
	}
	if len(rep.SLOs) > 0 {
		fmt.Fprintln(w, "SLOs:")
		for _, s := range rep.SLOs {
			fmt.Fprintf(w, "  %s %s\n", mark(s.OK), sloLine(s))
		}
	}
	fmt.Fprintln(w, pluginsLine(rep))
}

func tags(f plugins.Finding) string {
	var t []string
	if f.Status != "" && f.Status != plugins.StatusNew {
		s := f.Status
		if f.Bottleneck != "" {
			s += ": " + f.Bottleneck
		}
		t = append(t, s)
	}
	if f.Confidence.Level != "" {
		t = append(t, f.Confidence.Level+" confidence")
	}
	if len(t) == 0 {
		return ""
	}
	return "  (" + strings.Join(t, ", ") + ")"
}

func mark(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

// sloLine is "handshake-p95: tls_handshake.p95 = 7.2 ms, max 5 ms".
func sloLine(s plugins.SLOResult) string {
	if s.Error != "" {
		return fmt.Sprintf("%s: %s: %s", s.Name, s.Metric, s.Error)
	}
	return fmt.Sprintf("%s: %s = %s, %s %s", s.Name, s.Metric, Value(s.Value, s.Unit), s.Bound, Value(s.Limit, s.Unit))
}

// Value formats a number in its unit for people.
func Value(v float64, unit string) string {
	switch unit {
	case "ns":
		return plugins.Seconds(int64(v))
	case "%":
		return fmt.Sprintf("%.1f%%", v)
	case "bytes":
		return fmt.Sprintf("%.0f B", v)
	case "count", "":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

// pluginsLine sums up the plugins' statuses in one line, naming what to
// enable for those that could not run.
func pluginsLine(rep *plugins.Report) string {
	var ok, na, failed []string
	for _, p := range rep.Plugins {
		switch p.Status {
		case plugins.StatusOK:
			ok = append(ok, p.Name)
		case plugins.StatusNotApplicable:
			na = append(na, p.Name)
		default:
			failed = append(failed, p.Name+" ("+p.Reason+")")
		}
	}
	line := fmt.Sprintf("Plugins: %d ran", len(ok))
	if len(na) > 0 {
		enable := map[string][]string{}
		for _, p := range rep.Plugins {
			if p.Status == plugins.StatusNotApplicable {
				e := p.Enable
				if e == "" {
					e = p.Reason
				}
				enable[e] = append(enable[e], p.Name)
			}
		}
		keys := make([]string, 0, len(enable))
		for k := range enable {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, strings.Join(enable[k], ", ")+": "+k)
		}
		line += fmt.Sprintf(", %d not applicable (%s)", len(na), strings.Join(parts, "; "))
	}
	if len(failed) > 0 {
		line += fmt.Sprintf(", %d failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return line
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 && i < 200 {
		return s[:i+1]
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteJSON writes report.json (schema in docs/diagnosis.md).
func WriteJSON(w io.Writer, rep *plugins.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
