package diagnosis

import (
	"fmt"
	"io"
	"strings"

	"github.com/perfprobe/perfprobe/plugins"
)

// maxStackFrames bounds a proving stack in report.md (leaf side kept).
const maxStackFrames = 16

// WriteMarkdown writes report.md: a table of the findings, then each one
// with its proof (figures, confidence signals, stacks, the pprof query),
// then the SLOs and what every plugin did.
func WriteMarkdown(w io.Writer, rep *plugins.Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# perfprobe diagnosis\n\n")
	fmt.Fprintf(b, "- Source: %s\n", rep.Source)
	if rep.WindowSeconds > 0 {
		fmt.Fprintf(b, "- Window: %.1f s\n", rep.WindowSeconds)
	}
	if rep.Bottlenecks != "" {
		fmt.Fprintf(b, "- Bottleneck list and SLOs: %s\n", rep.Bottlenecks)
	}
	fmt.Fprintln(b)
	if len(rep.Findings) == 0 {
		fmt.Fprintf(b, "No findings: no plugin found a problem in this evidence.\n\n")
	} else {
		fmt.Fprintf(b, "| | Finding | Status | Score | Confidence |\n|---|---|---|---|---|\n")
		for i, f := range rep.Findings {
			fmt.Fprintf(b, "| %s | [%s](#%d-%s) | %s | %d | %s |\n", strings.ToUpper(f.Severity.String()), cell(f.Title), i+1, anchor(f.Title),
				statusCell(f), f.Score, f.Confidence.Level)
		}
		fmt.Fprintln(b)
		for i, f := range rep.Findings {
			writeFinding(b, i+1, f)
		}
	}
	if len(rep.SLOs) > 0 {
		fmt.Fprintf(b, "## SLOs\n\n| SLO | Metric | Value | Limit | |\n|---|---|---|---|---|\n")
		for _, s := range rep.SLOs {
			val := Value(s.Value, s.Unit)
			if s.Error != "" {
				val = "error: " + s.Error
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s %s | %s |\n", cell(s.Name), s.Metric, cell(val), s.Bound, Value(s.Limit, s.Unit), strings.TrimSpace(mark(s.OK)))
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintf(b, "## Plugins\n\n| Plugin | Status | Findings | Reason |\n|---|---|---|---|\n")
	for _, p := range rep.Plugins {
		reason := p.Reason
		if p.Enable != "" {
			reason += ": " + p.Enable
		}
		name := p.Name
		if p.External {
			name += " (external)"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s |\n", name, p.Status, p.Findings, cell(reason))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFinding(b *strings.Builder, n int, f plugins.Finding) {
	fmt.Fprintf(b, "## %d. %s\n\n", n, f.Title)
	fmt.Fprintf(b, "**%s**, score %d, %s confidence · %s · plugin `%s` · category `%s` · id `%s`\n\n",
		strings.ToUpper(f.Severity.String()), f.Score, f.Confidence.Level, statusCell(f), f.Plugin, f.Category, f.ID)
	if f.Detail != "" {
		fmt.Fprintf(b, "%s\n\n", f.Detail)
	}
	if len(f.Explains) > 0 {
		fmt.Fprintf(b, "Explained by: %s\n\n", strings.Join(f.Explains, ", "))
	}
	if len(f.Figures) > 0 {
		fmt.Fprintf(b, "| Figure | Value | Of |\n|---|---|---|\n")
		for _, g := range f.Figures {
			fmt.Fprintf(b, "| %s | %s | %s |\n", g.Name, Value(g.Value, g.Unit), cell(g.Of))
		}
		fmt.Fprintln(b)
	}
	if len(f.Confidence.Signals) > 0 {
		fmt.Fprintf(b, "Signals:\n\n")
		for _, s := range f.Confidence.Signals {
			agree := "agrees"
			if !s.Agrees {
				agree = "does not agree"
			}
			fmt.Fprintf(b, "- %s: %s (%s)\n", s.Name, s.Detail, agree)
		}
		fmt.Fprintln(b)
	}
	for i, st := range f.Stacks {
		fmt.Fprintf(b, "Stack %d (leaf first):\n\n```\n", i+1)
		for j, fr := range st {
			if j == maxStackFrames {
				fmt.Fprintf(b, "... %d more frames\n", len(st)-j)
				break
			}
			fmt.Fprintln(b, fr)
		}
		fmt.Fprintf(b, "```\n\n")
	}
	if f.Query != "" {
		fmt.Fprintf(b, "Reproduce: `%s`\n\n", f.Query)
	}
	if f.Advice != "" {
		fmt.Fprintf(b, "**Try:** %s\n\n", f.Advice)
	}
}

func statusCell(f plugins.Finding) string {
	if f.Bottleneck != "" {
		return f.Status + " (" + f.Bottleneck + ")"
	}
	return f.Status
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// anchor is the GitHub-style anchor of a heading "N. title".
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
