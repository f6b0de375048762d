package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/diagnosis"
	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/external"
)

// Exit statuses of diagnose.
const (
	exitFound    = 1 // something at or above --fail-on
	exitUnusable = 2 // the input could not be diagnosed
)

func newCmdDiagnose() *cobra.Command {
	var (
		o       diagnosis.Options
		failOn  string
		out     string
		formats []string
		all     bool
		quiet   bool
		sf      storeFlags
	)
	cmd := &cobra.Command{
		Use:   "diagnose CAPTURE_DIR | PROFILE... | --store DIR",
		Short: "Say what is wrong in a capture or any pprof file, against your bottleneck list and SLOs",
		Long: `diagnose runs perfprobe's plugins over a capture directory, or over any
pprof file (go test -cpuprofile, /debug/pprof/profile, fgprof, a Pyroscope
export, folded stacks): TLS handshakes, hashing, crypto, serialization,
compression, GC and allocation, lock contention, blocked I/O, small
syscalls, CPU saturation and throttling, regexp compiling, reflection,
fmt and logging, goroutine growth and profiler cost. A plugin that lacks
its evidence says so (not_applicable) and what would give it.

Each finding is checked against your bottleneck list and SLOs, read from
--bottlenecks, else ./perfprobe.yaml, else the ` + "```perfprobe" + ` blocks of
./PERFORMANCE.md (see docs/bottlenecks.md; perfprobe init writes a
starter), and gets a status: new, acceptable, must-fix, over-budget or
expired. External plugins (perfprobe-plugin-* on PATH, or listed under
plugins: in the list) run too (docs/plugins.md).

The findings are printed first; report.md and report.json (and
report.sarif with --format sarif) go into the capture directory, or into
--out for profile files. Exit status: 0 nothing at or above --fail-on,
1 something is, 2 the input could not be diagnosed.

With --store it diagnoses the store of ` + "`perfprobe agent`" + `: the windows that start
in [--from, --to) (of --service and --pid when given), merged. As for a
profile file, the plugins that need a capture's histograms and counters
answer not_applicable; reports are written with --out.`,
		Example: `  perfprobe diagnose perfprobe-1234-20261201-101500
  perfprobe diagnose cpu.pprof                          # go test -cpuprofile output
  perfprobe diagnose --fail-on must-fix --bottlenecks PERFORMANCE.md capture/
  perfprobe diagnose --format md,json,sarif --out reports/ cpu.pprof
  perfprobe diagnose --fail-on slo capture/            # CI: fail when an SLO is broken
  perfprobe diagnose --store /var/lib/perfprobe --from -1h --service api   # the last hour of a service`,
		Args: func(cmd *cobra.Command, args []string) error {
			if sf.dir == "" && len(args) == 0 {
				return sf.args(cmd, args, 1, 0, "a capture directory or profile files")
			}
			return sf.args(cmd, args, len(args), 0, "")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if failOn != "" && !slices.Contains(diagnosis.FailOnLevels, failOn) {
				return &exitError{exitUnusable, fmt.Errorf("--fail-on %q: use %s", failOn, strings.Join(diagnosis.FailOnLevels, ", "))}
			}
			for _, f := range formats {
				if _, ok := diagnosis.Files[f]; !ok {
					return &exitError{exitUnusable, fmt.Errorf("--format %q: use md, json, sarif", f)}
				}
			}
			var ev *plugins.Evidence
			var err error
			if sf.dir != "" {
				ev, err = loadStoreEvidence(cmd, &sf, quiet)
			} else {
				ev, err = diagnosis.Load(args)
			}
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := diagnosis.Run(ctx, ev, o)
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			w := cmd.OutOrStdout()
			if !quiet {
				fmt.Fprintf(w, "perfprobe diagnose: %s", ev.Source)
				if rep.WindowSeconds > 0 {
					fmt.Fprintf(w, ", %.1f s window", rep.WindowSeconds)
				}
				fmt.Fprintln(w)
				diagnosis.WriteText(w, rep, all)
			}
			dir := out
			if dir == "" && len(args) == 1 {
				if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
					dir = args[0]
				}
			}
			if dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return &exitError{exitUnusable, fmt.Errorf("creating --out: %w", err)}
				}
				written, err := diagnosis.Write(dir, rep, ev, formats, version())
				if err != nil {
					return &exitError{exitUnusable, err}
				}
				if !quiet {
					var files []string
					for _, f := range formats {
						files = append(files, filepath.Join(dir, written[f]))
					}
					fmt.Fprintf(w, "Wrote %s\n", strings.Join(files, ", "))
				}
			}
			if failOn == "" {
				return nil
			}
			found, _ := diagnosis.Failed(rep, failOn)
			if found {
				return &exitError{exitFound, fmt.Errorf("found %s", failWhat(failOn))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&failOn, "fail-on", "", "exit 1 when there is something at or above: "+strings.Join(diagnosis.FailOnLevels, ", ")+" (must-fix counts must-fix, over-budget and expired findings; slo an SLO not met)")
	fl.StringVarP(&out, "out", "o", "", "directory for the report files (default: the capture directory; none for profile files)")
	fl.StringSliceVar(&formats, "format", []string{"md", "json"}, "report files to write: md (report.md), json (report.json), sarif (report.sarif)")
	fl.BoolVar(&all, "all", false, "print info findings too")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print nothing; only the files and the exit status")
	bindDiagnosisFlags(cmd, &o)
	sf.bind(cmd)
	return cmd
}

// loadStoreEvidence merges the windows diagnose --store asks for.
func loadStoreEvidence(cmd *cobra.Command, sf *storeFlags, quiet bool) (*plugins.Evidence, error) {
	q, err := sf.query(sf.from, sf.to, time.Now())
	if err != nil {
		return nil, err
	}
	w := cmd.OutOrStdout()
	if quiet {
		w = io.Discard
	}
	p, desc, err := sf.load(w, cmd.ErrOrStderr(), q, "store")
	if err != nil {
		return nil, err
	}
	return diagnosis.FromProfile(p, "store "+sf.dir+": "+desc)
}

// bindDiagnosisFlags binds the flags every command that diagnoses shares.
func bindDiagnosisFlags(cmd *cobra.Command, o *diagnosis.Options) {
	fl := cmd.Flags()
	fl.StringVar(&o.Bottlenecks, "bottlenecks", "", "bottleneck list and SLOs: a YAML file, or Markdown with fenced perfprobe blocks (default ./perfprobe.yaml, else ./PERFORMANCE.md)")
	fl.BoolVar(&o.NoBottlenecks, "no-bottlenecks", false, "do not read a bottleneck list")
	fl.BoolVar(&o.NoExternal, "no-external-plugins", false, "run only the built-in plugins (external ones: perfprobe-plugin-* on PATH, or listed under plugins: in the bottleneck list)")
	fl.DurationVar(&o.External.Timeout, "plugin-timeout", external.DefaultTimeout, "how long one external plugin may run")
}

func failWhat(level string) string {
	switch level {
	case "slo":
		return "an SLO not met"
	case "must-fix":
		return "a must-fix, over-budget or expired bottleneck"
	}
	return "a finding at " + level + " or above"
}
