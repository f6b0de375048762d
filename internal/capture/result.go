package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/diagnosis"
	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
	"github.com/perfprobe/perfprobe/profile/flame"
)

// Result is what one capture found: the raw capture, the merged profile
// (eBPF and Go sample types), the Go runtime's profiles as fetched, and
// the plugins' findings.
type Result struct {
	Capture *profile.Capture
	Profile *pprof.Profile // nil when the capture could not be symbolized
	Go      *GoProfiles    // nil when no Go profile was fetched
	// Diagnosis is what the plugins found, with the bottleneck list and
	// SLOs applied; set by Diagnose (WriteDir calls it once the profile is
	// written, so external plugins get its path). Nil before.
	Diagnosis *plugins.Report
	// DiagnosisOptions are the session's (Options.Diagnosis).
	DiagnosisOptions diagnosis.Options
	// Dir and Files are set by WriteDir: the output directory and each
	// file written, by key ("profile", "flamegraph", "go_cpu", ...).
	Dir   string
	Files map[string]string
}

// GoProfiles are the Go runtime's profiles fetched over the window, by
// kind ("cpu", "wall", "mutex", "block", "goroutine"), and capture.json's
// Go section.
type GoProfiles struct {
	Raw    map[string]*pprof.Profile
	Report *profile.GoReport
}

// Report is capture.json: the capture's report with the findings.
type Report struct {
	*profile.Report
	Findings []plugins.Finding `json:"findings"`
}

// Findings are the diagnosis's findings, ranked.
func (r *Result) Findings() []plugins.Finding {
	if r.Diagnosis == nil {
		return []plugins.Finding{}
	}
	return r.Diagnosis.Findings
}

func (r *Result) build(syms profile.Symbols, goRes *fetch.Result) {
	c := r.Capture
	p, err := c.ToPprof(syms)
	if err != nil {
		c.Warnings = append(c.Warnings, "building the profile: "+err.Error())
		p = nil
	}
	r.Profile = p
	if goRes != nil {
		r.Go = &GoProfiles{Raw: map[string]*pprof.Profile{}}
		r.Profile, r.Go.Report = mergeGo(p, goRes, r.Go.Raw)
	}
}

// Evidence is what the plugins read of this result; profilePath is the
// written profile ("" when not written).
func (r *Result) Evidence(profilePath string) *plugins.Evidence {
	ev := &plugins.Evidence{Capture: r.Capture, Profile: r.Profile, Source: "capture of " + who(r.Capture), ProfilePath: profilePath}
	if r.Go != nil {
		ev.Go = r.Go.Report
	}
	return ev
}

// Diagnose runs the diagnosis over the result (DiagnosisOptions) and sets
// r.Diagnosis. A bottleneck list that cannot be read becomes a warning of
// the capture: the findings are still made, without it.
func (r *Result) Diagnose(ctx context.Context, ev *plugins.Evidence) *plugins.Report {
	start := time.Now()
	rep, err := diagnosis.Run(ctx, ev, r.DiagnosisOptions)
	if err != nil {
		r.Capture.Warnings = append(r.Capture.Warnings, "bottleneck list: "+err.Error())
	}
	r.Diagnosis = rep
	r.Capture.SelfCost.DiagnosisSeconds = time.Since(start).Seconds()
	return rep
}

// goKinds are the Go profile kinds in the order they are merged and saved.
var goKinds = []string{"cpu", "wall", "mutex", "block", "goroutine", "heap"}

// MergeGo merges the Go runtime's profiles res, fetched from one target,
// into that target's eBPF profile p (nil: the Go profiles alone), as a
// capture does; the raw profiles with samples are kept in the result's Raw.
func MergeGo(p *pprof.Profile, res *fetch.Result) (*pprof.Profile, *GoProfiles) {
	g := &GoProfiles{Raw: map[string]*pprof.Profile{}}
	merged, rep := mergeGo(p, res, g.Raw)
	g.Report = rep
	return merged, g
}

// mergeGo merges the eBPF profile with the fetched Go profiles, keeps each
// raw Go profile that has samples in raw, and returns the merged profile
// (p itself when nothing was fetched) and the Go section of capture.json.
func mergeGo(p *pprof.Profile, res *fetch.Result, raw map[string]*pprof.Profile) (*pprof.Profile, *profile.GoReport) {
	gr := &profile.GoReport{Endpoint: res.Endpoint, CoveredSeconds: res.Covered.Seconds(), Skipped: append([]string{}, res.Skipped...), Types: []string{}}
	parts := []profile.Part{}
	if p != nil {
		parts = append(parts, profile.Part{Profile: p, Source: profile.SourceEBPF})
	}
	got := map[string]*pprof.Profile{"cpu": res.CPU, "wall": res.Wall, "mutex": res.Mutex, "block": res.Block, "goroutine": res.Goroutine, "heap": res.Heap}
	for _, kind := range goKinds {
		gp := got[kind]
		if gp == nil || len(gp.Sample) == 0 {
			continue // nothing happened of that kind: no type to add
		}
		raw[kind] = gp
		part, err := profile.GoPart(kind, gp)
		if err != nil {
			gr.Skipped = append(gr.Skipped, err.Error())
			continue
		}
		parts = append(parts, part)
		for _, t := range slices.Sorted(maps.Values(part.Types)) {
			gr.Types = append(gr.Types, t)
		}
	}
	if len(gr.Types) == 0 {
		return p, gr
	}
	merged, err := profile.Merge(parts...)
	if err != nil {
		gr.Skipped = append(gr.Skipped, "merging the Go profiles: "+err.Error())
		return p, gr
	}
	gr.Consistency = profile.CheckConsistency(merged, 10)
	gr.WallByGoroutine = profile.WallByGoroutine(merged, 20)
	return merged, gr
}

func isProfilingOff(line string) bool {
	return strings.Contains(line, "profiling is off in the target")
}

// DefaultDir is the output directory a capture gets when none is named:
// perfprobe-<pid>-<start time> in the working directory.
func (r *Result) DefaultDir() string {
	return fmt.Sprintf("perfprobe-%d-%s", r.Capture.Target.PID, r.Capture.Start.Format("20060102-150405"))
}

// WriteDir writes every output into dir (created if missing; "" means
// DefaultDir): profile.pb.gz, one <type>.folded per sample type with data
// (core types always: profile.SampleType.Core), flamegraph.html, the raw go-<kind>.pb.gz
// and capture.json with the findings. A file that cannot be written is an
// error, except the flamegraph, which becomes a warning in capture.json.
// It sets r.Dir and r.Files.
func (r *Result) WriteDir(dir string) error {
	if dir == "" {
		dir = r.DefaultDir()
	}
	r.Dir, r.Files = dir, map[string]string{}
	c, p := r.Capture, r.Profile
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	if r.Go != nil {
		for _, kind := range goKinds {
			gp := r.Go.Raw[kind]
			if gp == nil {
				continue
			}
			name := "go-" + kind + ".pb.gz"
			if err := WriteFile(filepath.Join(dir, name), gp.Write); err != nil {
				r.Go.Report.Skipped = append(r.Go.Report.Skipped, err.Error())
			} else {
				r.Files["go_"+kind] = name
			}
		}
	}
	if p != nil {
		if err := WriteFile(filepath.Join(dir, "profile.pb.gz"), p.Write); err != nil {
			return err
		}
		r.Files["profile"] = "profile.pb.gz"
		for _, st := range p.SampleType {
			t, _ := profile.LookupSampleType(st.Type)
			if st.Unit != "nanoseconds" || (!t.Core && profile.Total(p, st.Type) == 0) {
				continue // the core types always get a file; the others when they have data
			}
			name := st.Type + ".folded"
			err := WriteFile(filepath.Join(dir, name), func(w io.Writer) error { return flame.WriteFolded(w, p, st.Type, false) })
			if err != nil {
				return err
			}
			r.Files[st.Type+"_folded"] = name
		}
	}
	profilePath := ""
	if r.Files["profile"] != "" {
		profilePath, _ = filepath.Abs(filepath.Join(dir, r.Files["profile"]))
	}
	ev := r.Evidence(profilePath)
	rep := r.Diagnose(context.Background(), ev)
	written, err := diagnosis.Write(dir, rep, ev, []string{"md", "json"}, "")
	for f, name := range written {
		r.Files["report_"+f] = name
	}
	if err != nil {
		c.Warnings = append(c.Warnings, "diagnosis report: "+err.Error())
	}
	if p != nil && len(p.Sample) > 0 {
		fp := p
		if len(c.Targets) > 1 {
			fp = profile.GroupByProcess(p) // one tower per process
		}
		opt := flame.HTMLOptions{
			Title:    "perfprobe: " + who(c),
			Subtitle: fmt.Sprintf("%.1f s from %s (ended by %s); probes %s", c.End.Sub(c.Start).Seconds(), c.Start.Format(time.RFC3339), c.EndCause, strings.Join(c.Probes, ",")),
			Findings: diagnosis.FlameFindings(rep),
		}
		err := WriteFile(filepath.Join(dir, "flamegraph.html"), func(w io.Writer) error { return flame.WriteHTML(w, fp, opt) })
		if err != nil {
			c.Warnings = append(c.Warnings, "flamegraph: "+err.Error())
		} else {
			r.Files["flamegraph"] = "flamegraph.html"
		}
	}
	r.Files["report"] = "capture.json"
	if err := WriteFile(filepath.Join(dir, "capture.json"), r.WriteReport); err != nil {
		return fmt.Errorf("writing capture.json: %w", err)
	}
	return nil
}

// Report is capture.json's content.
func (r *Result) Report() Report {
	files := r.Files
	if files == nil {
		files = map[string]string{}
	}
	rep := Report{Report: r.Capture.Report(r.Profile, files), Findings: r.Findings()}
	if r.Go != nil {
		rep.Go = r.Go.Report
	}
	return rep
}

// WriteReport writes capture.json's content, indented, to w.
func (r *Result) WriteReport(w io.Writer) error {
	b, err := json.MarshalIndent(r.Report(), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteFile creates path and fills it with write.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
