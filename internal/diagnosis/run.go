package diagnosis

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/bottlenecks"
	"github.com/perfprobe/perfprobe/plugins/external"
	"github.com/perfprobe/perfprobe/profile/flame"
)

// Options say what a diagnosis runs besides the built-in plugins.
type Options struct {
	// Bottlenecks is the bottleneck list and SLOs file named by the user
	// (--bottlenecks); "" looks for ./perfprobe.yaml, then ```perfprobe
	// blocks in ./PERFORMANCE.md, in Dir.
	Bottlenecks string
	// Dir is where the list is looked for ("" = the working directory).
	Dir string
	// NoBottlenecks skips the list even when one is found.
	NoBottlenecks bool
	// NoExternal runs no external plugin.
	NoExternal bool
	// External says how external plugins are found and run; the
	// bottleneck list's plugins: entries are added to External.Listed.
	External external.Options
	// Now decides whether an acceptance has expired (zero: time.Now()).
	Now time.Time
}

// Run diagnoses ev: the built-in plugins, then the external ones, then the
// bottleneck list and SLOs. The report is always complete; err says only
// that the bottleneck list could not be read (the report then has none;
// diagnose stops on it, a capture keeps it as a warning).
func Run(ctx context.Context, ev *plugins.Evidence, o Options) (*plugins.Report, error) {
	rep := plugins.Run(ev)
	var list *bottlenecks.List
	var err error
	if !o.NoBottlenecks {
		dir := o.Dir
		if dir == "" {
			dir = "."
		}
		list, err = bottlenecks.Find(o.Bottlenecks, dir)
	}
	if !o.NoExternal {
		eo := o.External
		if list != nil {
			// Listed plugin paths are relative to the list's file.
			for _, p := range list.Plugins {
				if strings.ContainsRune(p, '/') && !filepath.IsAbs(p) {
					p = filepath.Join(filepath.Dir(list.Path), p)
				}
				eo.Listed = append(eo.Listed, p)
			}
		}
		external.Run(ctx, ev, rep, eo)
	}
	if list != nil {
		now := o.Now
		if now.IsZero() {
			now = time.Now()
		}
		list.Apply(rep, ev, now)
		rep.Bottlenecks = list.Path
	}
	plugins.Rank(rep.Findings)
	return rep, err
}

// FailOn levels for --fail-on.
var FailOnLevels = []string{"warning", "critical", "must-fix", "slo"}

// Failed reports whether rep has something at or above level: a finding of
// that severity or more (warning, critical), a finding the bottleneck list
// says must be fixed (must-fix, over-budget, expired), or an SLO not met
// (slo).
func Failed(rep *plugins.Report, level string) (bool, error) {
	switch level {
	case "warning", "critical":
		min, _ := plugins.ParseSeverity(level)
		for _, f := range rep.Findings {
			if f.Severity >= min {
				return true, nil
			}
		}
	case "must-fix":
		for _, f := range rep.Findings {
			switch f.Status {
			case plugins.StatusMustFix, plugins.StatusOverBudget, plugins.StatusExpired:
				return true, nil
			}
		}
	case "slo":
		for _, s := range rep.SLOs {
			if !s.OK {
				return true, nil
			}
		}
	default:
		return false, fmt.Errorf("unknown level %q: use %s", level, strings.Join(FailOnLevels, ", "))
	}
	return false, nil
}

// Locator finds functions' source files in ev's profile, for SARIF.
func Locator(ev *plugins.Evidence) SourceLocator {
	if ev.Profile == nil {
		return nil
	}
	type source struct {
		file string
		line int64
	}
	byName := map[string]source{}
	for _, f := range ev.Profile.Function {
		if _, dup := byName[f.Name]; f.Filename != "" && !dup {
			byName[f.Name] = source{f.Filename, f.StartLine}
		}
	}
	// A function without a start line gets the first line a sample shows.
	for _, l := range ev.Profile.Location {
		for _, ln := range l.Line {
			if ln.Function == nil {
				continue
			}
			if v, ok := byName[ln.Function.Name]; ok && v.line == 0 && ln.Line > 0 {
				byName[ln.Function.Name] = source{v.file, ln.Line}
			}
		}
	}
	return func(fn string) (string, int64, bool) {
		v, ok := byName[fn]
		return v.file, v.line, ok
	}
}

// Files are the report files Write puts in a directory, by format.
var Files = map[string]string{"md": "report.md", "json": "report.json", "sarif": "report.sarif"}

// Write writes the report into dir in each format ("md", "json",
// "sarif") and returns the files written, by format.
func Write(dir string, rep *plugins.Report, ev *plugins.Evidence, formats []string, version string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range formats {
		name, ok := Files[f]
		if !ok {
			return out, fmt.Errorf("unknown report format %q: use md, json or sarif", f)
		}
		var write func(io.Writer) error
		switch f {
		case "md":
			write = func(w io.Writer) error { return WriteMarkdown(w, rep) }
		case "json":
			write = func(w io.Writer) error { return WriteJSON(w, rep) }
		case "sarif":
			write = func(w io.Writer) error { return WriteSARIF(w, rep, Locator(ev), version) }
		}
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return out, err
		}
		out[f] = name
	}
	return out, nil
}

// writeFile writes path whole or not at all (a temporary file renamed).
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// FlameFindings lists the findings for the flamegraph page: each with the
// sample type of its query, its first stack root first, and the frame to
// zoom to (its key when that is on the stack).
func FlameFindings(rep *plugins.Report) []flame.Finding {
	var out []flame.Finding
	for _, f := range rep.Findings {
		ff := flame.Finding{Severity: f.Severity.String(), Title: f.Title, Detail: f.Detail, Type: sampleIndex(f.Query)}
		if len(f.Stacks) > 0 {
			st := f.Stacks[0]
			ff.Path = make([]string, len(st))
			for i, fr := range st {
				ff.Path[len(st)-1-i] = fr
			}
			for _, k := range f.Key {
				if slices.Contains(st, k) {
					ff.Focus = k
					break
				}
			}
		}
		out = append(out, ff)
	}
	return out
}

// sampleIndex is the -sample_index of a pprof query, or "".
func sampleIndex(query string) string {
	_, rest, ok := strings.Cut(query, "-sample_index=")
	if !ok {
		return ""
	}
	typ, _, _ := strings.Cut(rest, " ")
	return typ
}
