package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// captureOptions are the flags attach and run share.
type captureOptions struct {
	duration time.Duration
	probes   []string
	named    bool // --probes given: each must attach (the defaults skip what the kernel cannot load)
	hz       int
	out      string
	quiet    bool
	stackInt time.Duration
	ioThresh time.Duration

	fastRefresh bool // run: re-read the mappings every 100ms (a new command maps its libraries)
	goProfiles  goOptions
	discoverGo  bool // look for the target's pprof endpoint (attach); run only fetches from --pprof-url
}

func (o *captureOptions) bind(cmd *cobra.Command, defaultDuration time.Duration) {
	f := cmd.Flags()
	f.DurationVarP(&o.duration, "duration", "d", defaultDuration, "how long to capture (0: until the target exits or Ctrl-C)")
	f.StringSliceVarP(&o.probes, "probes", "p", probes.Defaults(), "probes to attach: "+strings.Join(probes.Names(), ","))
	f.IntVar(&o.hz, "hz", 99, "on-CPU sampling frequency per CPU")
	f.StringVarP(&o.out, "out", "o", "", "output directory (default perfprobe-<pid>-<time>)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress line")
	f.DurationVar(&o.stackInt, "offcpu-stack-interval", probes.DefaultStackInterval,
		"walk a thread's off-CPU stacks at most this often; switches in between reuse them (0: every switch, costly)")
	f.DurationVar(&o.ioThresh, "io-threshold", probes.DefaultIOThreshold, "I/O syscalls slower than this are attributed to their stack as iowait (0: all)")
}

// validate rejects flag values that cannot work, before anything attaches.
func (o *captureOptions) validate() error {
	if o.hz < 1 || o.hz > 10000 {
		return fmt.Errorf("--hz %d out of range: use 1..10000 (99 is the usual)", o.hz)
	}
	if o.ioThresh < 0 {
		return fmt.Errorf("--io-threshold %s is negative: give a latency like 1ms, or 0 for every call", o.ioThresh)
	}
	if o.stackInt < 0 {
		return fmt.Errorf("--offcpu-stack-interval %s is negative", o.stackInt)
	}
	if o.duration < 0 {
		return fmt.Errorf("--duration %s is negative: give a length like 30s, or 0 for no limit", o.duration)
	}
	if err := o.goProfiles.validate(); err != nil {
		return err
	}
	if len(o.probes) == 0 {
		return fmt.Errorf("--probes is empty: name at least one of %s", strings.Join(probes.Names(), ","))
	}
	for _, name := range o.probes {
		if _, err := probes.New(name); err != nil {
			return err
		}
	}
	return nil
}

// captureRun is one capture in progress.
type captureRun struct {
	opts    captureOptions
	target  *probes.Target
	sess    *probes.Session
	syms    *symbolize.Symbolizer
	proc    *symbolize.Process
	stderr  io.Writer
	stdout  io.Writer
	pending []string // warnings to keep in capture.json
	goFetch *goFetch
}

// startCapture attaches the probes and snapshots the target's mappings.
func startCapture(t *probes.Target, o captureOptions, stdout, stderr io.Writer) (*captureRun, error) {
	r := &captureRun{opts: o, target: t, syms: symbolize.New(), stdout: stdout, stderr: stderr}
	cfg := probes.Config{Hz: o.hz, StackInterval: o.stackInt, IOThreshold: o.ioThresh}
	if o.named {
		cfg.Probes = o.probes
	}
	sess, err := probes.Start(t, cfg)
	if err != nil {
		return nil, err
	}
	r.sess = sess
	r.snapshot()
	r.goFetch = startGoFetch(t.PID, o.duration, o.goProfiles, o.discoverGo)
	return r, nil
}

// snapshot opens the target's binaries now, so symbols survive its exit.
func (r *captureRun) snapshot() {
	if r.proc != nil {
		if err := r.proc.Refresh(); err != nil {
			r.pending = append(r.pending, "refreshing mappings: "+err.Error())
		}
		return
	}
	p, err := r.syms.Process(r.target.PID)
	if err != nil {
		r.pending = append(r.pending, "reading the target's mappings: "+err.Error()+"; user frames stay as addresses")
		return
	}
	r.proc = p
}

// wait runs the capture window until the duration ends, ctx is cancelled
// (a signal) or done fires (the target exited), refreshing mappings and
// printing progress, and returns why it ended.
func (r *captureRun) wait(ctx context.Context, done <-chan struct{}, doneCause string) string {
	var timeout <-chan time.Time
	if r.opts.duration > 0 {
		timer := time.NewTimer(r.opts.duration)
		defer timer.Stop()
		timeout = timer.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var refresh <-chan time.Time
	if r.opts.fastRefresh {
		rt := time.NewTicker(100 * time.Millisecond)
		defer rt.Stop()
		refresh = rt.C
	}
	tty := isTerminal(r.stderr)
	defer func() {
		if tty && !r.opts.quiet {
			fmt.Fprint(r.stderr, "\r\033[K")
		}
	}()
	for {
		select {
		case <-timeout:
			return "duration"
		case <-ctx.Done():
			return "signal"
		case <-done:
			return doneCause
		case note := <-r.goFetch.foundNote():
			if tty && !r.opts.quiet {
				fmt.Fprint(r.stderr, "\r\033[K")
			}
			fmt.Fprintln(r.stderr, "perfprobe:", note)
		case <-refresh:
			r.snapshot()
		case <-tick.C:
			r.snapshot()
			if !r.opts.quiet {
				r.progress(tty)
			}
		}
	}
}

func (r *captureRun) progress(tty bool) {
	elapsed := time.Since(r.sess.StartTime()).Round(time.Second)
	var parts []string
	if r.opts.duration > 0 {
		parts = append(parts, fmt.Sprintf("%s/%s", elapsed, r.opts.duration))
	} else {
		parts = append(parts, elapsed.String())
	}
	var drops uint64
	for name, p := range r.sess.Progress() {
		unit := "events"
		if name == "cpu" {
			unit = "samples"
		} else if name == "sched" {
			unit = "switches"
		}
		parts = append(parts, fmt.Sprintf("%s %d %s", name, p.Events, unit))
		drops += p.Drops
	}
	parts = append(parts, fmt.Sprintf("drops %d", drops))
	line := "perfprobe: " + strings.Join(parts, ", ")
	if tty {
		fmt.Fprintf(r.stderr, "\r\033[K%s", line)
	} else if int(elapsed.Seconds())%5 == 0 {
		fmt.Fprintln(r.stderr, line)
	}
}

// finish stops the probes and writes every output; what was collected is
// written whatever went wrong with the rest.
func (r *captureRun) finish(cause string) (*profile.Capture, string, error) {
	c := r.sess.Collect(cause)
	defer r.sess.Close() // after the outputs: unlinking may take the kernel seconds
	goRes := r.goFetch.wait(cause)
	c.Warnings = append(r.pending, c.Warnings...)
	dir := r.opts.out
	if dir == "" {
		dir = fmt.Sprintf("perfprobe-%d-%s", r.target.PID, c.Start.Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, dir, fmt.Errorf("creating output directory: %w", err)
	}
	var kern *symbolize.Kernel
	if k, err := r.syms.Kernel(); err == nil {
		kern = k
	} else {
		c.Warnings = append(c.Warnings, "kernel symbols: "+err.Error())
	}
	syms := profile.ProcessSymbols{Process: r.proc, Kern: kern}
	p, err := c.ToPprof(syms)
	if err != nil {
		c.Warnings = append(c.Warnings, "building the profile: "+err.Error())
	}
	files := map[string]string{}
	p, goReport := mergeGo(p, goRes, dir, files)
	if goReport != nil {
		for _, s := range goReport.Skipped {
			// Mutex and block profiling being off is the target's normal
			// state, not a failure: capture.json keeps the line.
			if !strings.Contains(s, "profiling is off in the target") {
				fmt.Fprintln(r.stderr, "perfprobe:", s)
			}
		}
	}
	if p != nil {
		if err := writeFile(filepath.Join(dir, "profile.pb.gz"), p.Write); err != nil {
			return c, dir, err
		}
		files["profile"] = "profile.pb.gz"
		for _, st := range p.SampleType {
			core := st.Type == profile.TypeOnCPU || st.Type == profile.TypeOffCPUBlocked || st.Type == profile.TypeOffCPURunqueue
			if st.Unit != "nanoseconds" || (!core && profile.Total(p, st.Type) == 0) {
				continue // the core types always get a file; the others when they have data
			}
			name := st.Type + ".folded"
			err := writeFile(filepath.Join(dir, name), func(w io.Writer) error { return flame.WriteFolded(w, p, st.Type, false) })
			if err != nil {
				return c, dir, err
			}
			files[st.Type+"_folded"] = name
		}
	}
	if p != nil && len(p.Sample) > 0 {
		opt := flame.HTMLOptions{
			Title:    fmt.Sprintf("perfprobe: pid %d (%s)", c.Target.PID, c.Target.Comm),
			Subtitle: fmt.Sprintf("%.1f s from %s (ended by %s); probes %s", c.End.Sub(c.Start).Seconds(), c.Start.Format(time.RFC3339), c.EndCause, strings.Join(c.Probes, ",")),
		}
		err := writeFile(filepath.Join(dir, "flamegraph.html"), func(w io.Writer) error { return flame.WriteHTML(w, p, opt) })
		if err != nil {
			c.Warnings = append(c.Warnings, "flamegraph: "+err.Error())
		} else {
			files["flamegraph"] = "flamegraph.html"
		}
	}
	files["report"] = "capture.json"
	findings := plugins.Diagnose(&plugins.Evidence{Capture: c, Profile: p})
	if findings == nil {
		findings = []plugins.Finding{}
	}
	report := struct {
		*profile.Report
		Findings []plugins.Finding `json:"findings"`
	}{c.Report(p, files), findings}
	report.Go = goReport
	b, err := json.MarshalIndent(report, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "capture.json"), append(b, '\n'), 0o644)
	}
	if err != nil {
		return c, dir, fmt.Errorf("writing capture.json: %w", err)
	}
	printSummary(r.stdout, c, p, findings, dir, goReport)
	return c, dir, nil
}

func writeFile(path string, write func(io.Writer) error) error {
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
