// Package external runs external diagnosis plugins: executables named
// perfprobe-plugin-<name>, found on the PATH or listed under plugins: in
// perfprobe.yaml. Each reads one JSON request on stdin (a summary of the
// evidence, the profile's path and the built-in findings) and writes one
// JSON response on stdout (its findings, or an error); docs/plugins.md
// describes the protocol.
//
// A plugin runs in its own process group with a clean environment, only
// stdin, stdout and stderr, a timeout and a cap on its output. When
// perfprobe runs as root, a plugin's file must be writable by root or the
// invoking user alone, and the plugin runs as that user (SUDO_UID) or as
// nobody, never as root.
package external

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

// Options say which plugins run and how.
type Options struct {
	// Listed are the plugins: entries of perfprobe.yaml: names
	// (perfprobe-plugin-x or x), looked up on Path, or paths.
	Listed []string
	// Path is the PATH to search; "" is $PATH.
	Path string
	// NoPath runs only the Listed plugins (names are still looked up on
	// Path).
	NoPath bool
	// Timeout bounds each plugin's run; 0 is DefaultTimeout.
	Timeout time.Duration
	// MaxOutput caps a plugin's stdout; 0 is DefaultMaxOutput.
	MaxOutput int64
}

// Defaults of Options.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 1 << 20
)

// Run discovers the plugins, runs each one over ev (request on stdin), and
// appends their findings (after plugins.Finish, Plugin = the plugin's name)
// and one plugins.PluginStatus each (External: true) to rep, then ranks
// rep's findings again. It never fails: every problem is a plugin's status
// "failed" with a one-line reason. Plugins run one after the other, and
// each sees the findings rep had before Run, not the other plugins'.
func Run(ctx context.Context, ev *plugins.Evidence, rep *plugins.Report, opts Options) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	cands := discover(opts)
	if len(cands) == 0 {
		return
	}
	profile := ev.ProfilePath
	if abs, err := filepath.Abs(profile); profile != "" && err == nil {
		profile = abs
	}
	req, reqErr := json.Marshal(Request{Protocol: Protocol, Source: ev.Source, Profile: profile, Evidence: Summarize(ev, rep)})
	id := whoRuns()
	closeInherited()
	profileNote := ""
	if profile != "" && !readableBy(profile, id) {
		profileNote = "the profile " + profile + " is not readable by " + id.String() + ", which the plugin runs as"
	}
	for _, c := range cands {
		start := time.Now()
		st := plugins.PluginStatus{Name: c.name, Status: plugins.StatusOK, External: true}
		var fs []plugins.Finding
		var err error
		switch {
		case c.err != "":
			err = errors.New(c.err)
		case reqErr != nil:
			err = errors.New("cannot build the request: " + oneLine(reqErr.Error(), 200))
		default:
			fs, err = runOne(ctx, c, req, id, opts)
		}
		if err != nil {
			fs = nil
			st.Status, st.Reason = plugins.StatusFailed, oneLine(err.Error(), 400)
		} else if len(fs) == 0 {
			st.Reason = "nothing found"
		}
		if profileNote != "" && c.err == "" {
			st.Reason = strings.TrimPrefix(st.Reason+"; "+profileNote, "; ")
		}
		for i := range fs {
			plugins.Finish(&fs[i], c.name)
		}
		st.Findings = len(fs)
		st.Seconds = time.Since(start).Seconds()
		rep.Plugins = append(rep.Plugins, st)
		rep.Findings = append(rep.Findings, fs...)
	}
	plugins.Rank(rep.Findings)
}

// runOne checks, runs and decodes one plugin.
func runOne(ctx context.Context, c candidate, req []byte, id identity, opts Options) ([]plugins.Finding, error) {
	if id.root {
		if err := trust(c.real, id); err != nil {
			return nil, errors.New(oneLine(err.Error(), 300))
		}
	}
	out, err := execute(ctx, c.real, req, id, opts.Timeout, opts.MaxOutput)
	if err != nil {
		return nil, err
	}
	return decodeResponse(out)
}
