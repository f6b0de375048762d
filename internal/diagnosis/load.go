// Package diagnosis runs perfprobe's diagnosis end to end: it loads what
// is diagnosed (a capture, or any pprof file), runs the built-in and
// external plugins, checks the user's bottleneck list and SLOs, and writes
// the report as terminal text, report.md, report.json and SARIF. attach,
// run and diagnose share it.
package diagnosis

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// Load reads what diagnose is given: one perfprobe capture directory
// (capture.json and profile.pb.gz), or one or more profile files (pprof
// from perfprobe, go test -cpuprofile, net/http/pprof, fgprof, a Pyroscope
// export, or folded stacks), merged in one symbol space. Foreign sample
// types are named the way perfprobe names them (Normalize).
func Load(paths []string) (*plugins.Evidence, error) {
	if len(paths) == 0 {
		return nil, errors.New("nothing to diagnose: give a capture directory or profile files")
	}
	if len(paths) == 1 {
		if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
			return loadDir(paths[0])
		}
	}
	var parts []profile.Part
	var window time.Duration
	var notes []string
	for _, path := range paths {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory: diagnose takes one capture directory, or profile files", path)
		}
		p, err := profile.Load(path)
		if err != nil {
			return nil, err
		}
		part, note := Normalize(p, path)
		if note != "" {
			notes = append(notes, note)
		}
		parts = append(parts, part)
		window = max(window, time.Duration(p.DurationNanos))
	}
	p := parts[0].Profile
	if len(parts) > 1 || parts[0].Types != nil {
		var err error
		if p, err = profile.Merge(parts...); err != nil {
			return nil, fmt.Errorf("merging the profiles: %w", err)
		}
	}
	ev := &plugins.Evidence{Profile: p, Duration: window, Source: strings.Join(paths, ", ")}
	if len(notes) > 0 {
		ev.Source += " (" + strings.Join(notes, "; ") + ")"
	}
	if len(paths) == 1 && parts[0].Types == nil {
		ev.ProfilePath, _ = filepath.Abs(paths[0])
	}
	return ev, nil
}

// FromProfile builds the evidence of a profile held in memory (the merged
// windows of the agent's store) as Load does for one profile file: foreign
// sample types are named the way perfprobe names them (Normalize), the
// window is the profile's duration, and source names it in the report.
// Only the profile-based plugins apply; the others answer not_applicable.
func FromProfile(p *pprof.Profile, source string) (*plugins.Evidence, error) {
	part, note := Normalize(p, source)
	if part.Types != nil {
		var err error
		if p, err = profile.Merge(part); err != nil {
			return nil, fmt.Errorf("naming the profile's sample types: %w", err)
		}
	}
	ev := &plugins.Evidence{Profile: p, Duration: time.Duration(p.DurationNanos), Source: source}
	if note != "" {
		ev.Source += " (" + note + ")"
	}
	return ev, nil
}

func loadDir(dir string) (*plugins.Evidence, error) {
	p, err := profile.Load(dir)
	if err != nil {
		return nil, err
	}
	ev := &plugins.Evidence{Profile: p, Source: dir, Duration: time.Duration(p.DurationNanos)}
	ev.ProfilePath, _ = filepath.Abs(filepath.Join(dir, profile.CaptureProfile))
	rep, err := profile.ReadReport(filepath.Join(dir, "capture.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		ev.Source += " (no capture.json: the profile alone)"
	case err != nil:
		return nil, err
	default:
		ev.Capture = rep.Capture()
		ev.Go = rep.Go
	}
	return ev, nil
}

// Normalize names a foreign profile's sample types as a perfprobe capture
// would: a CPU profile's cpu/nanoseconds becomes go_cpu when the profile is
// a Go program's (its functions are in .go files) and oncpu otherwise; fgprof's
// time becomes go_wall; contention delay becomes go_mutex_delay (or
// go_block_delay when the file name says block); goroutine counts become
// go_goroutines; folded stacks of no named type become oncpu. A profile
// that already has perfprobe's types is taken as is (Types nil). The note
// says what was renamed, for the report.
func Normalize(p *pprof.Profile, path string) (profile.Part, string) {
	for _, st := range p.SampleType {
		if perfprobeTypes[st.Type] {
			return profile.Part{Profile: p, Source: profile.SourceEBPF}, ""
		}
		if strings.HasPrefix(st.Type, "go_") {
			return profile.Part{Profile: p, Source: profile.SourceGoPprof}, ""
		}
	}
	has := func(typ, unit string) bool {
		i := profile.ValueIndex(p, typ)
		return i >= 0 && (unit == "" || p.SampleType[i].Unit == unit)
	}
	types := map[string]string{}
	for _, st := range p.SampleType {
		types[st.Type] = st.Type
	}
	var renamed []string
	rename := func(from, to string) {
		types[from] = to
		renamed = append(renamed, from+"→"+to)
	}
	source := "foreign"
	switch {
	case has("cpu", "nanoseconds"):
		if isGo(p) {
			rename("cpu", profile.TypeGoCPU)
			source = profile.SourceGoPprof
		} else {
			rename("cpu", profile.TypeOnCPU)
		}
	case has("time", "nanoseconds"):
		rename("time", profile.TypeGoWall)
		source = profile.SourceFgprof
	case has("delay", "nanoseconds"):
		if strings.Contains(strings.ToLower(filepath.Base(path)), "block") {
			rename("delay", profile.TypeGoBlockDelay)
		} else {
			rename("delay", profile.TypeGoMutexDelay)
		}
	case has("goroutine", "count"):
		rename("goroutine", profile.TypeGoGoroutines)
	case has("folded", ""):
		rename("folded", profile.TypeOnCPU)
	}
	if len(renamed) == 0 {
		return profile.Part{Profile: p, Source: source}, ""
	}
	return profile.Part{Profile: p, Source: source, Types: types}, filepath.Base(path) + ": " + strings.Join(renamed, ", ")
}

// perfprobeTypes are the eBPF sample types that mark a perfprobe profile.
var perfprobeTypes = map[string]bool{
	profile.TypeOnCPU: true, profile.TypeOffCPUBlocked: true, profile.TypeOffCPURunqueue: true,
	profile.TypeOffCPUUninterruptible: true, profile.TypeIOWait: true, profile.TypeTLSHandshake: true,
}

// isGo reports whether a profile is a Go program's: its functions are in
// .go files, or are the Go runtime's.
func isGo(p *pprof.Profile) bool {
	for _, f := range p.Function {
		if strings.HasSuffix(f.Filename, ".go") || strings.HasPrefix(f.Name, "runtime.") {
			return true
		}
	}
	return false
}
