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

	"github.com/perfprobe/perfprobe/internal/abrun"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/gate"
	"github.com/perfprobe/perfprobe/probes"
	pp "github.com/perfprobe/perfprobe/profile"
)

var benchFormats = []string{"text", "markdown", "json"}

func newCmdBench() *cobra.Command {
	var (
		o       = abrun.DefaultOptions()
		policy  string
		format  string
		out     string
		profile bool
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "bench --base CMD --head CMD",
		Short: "A/B: run two commands in interleaved pairs and gate the head against the base",
		Long: `bench runs two shell commands, the base and the head, in interleaved pairs
whose order alternates (base first in even pairs, head first in odd ones),
after --warmup discarded runs of each. Measuring both sides in the same
run, side by side, cancels what a shared machine does to absolute figures.

Each run's results are what it prints that perfprobe gate understands (Go
benchmark text, wrk's output, hyperfine --export-json, the simple JSON of
named samples) or, when it prints none of these, its wall time, CPU time
(user+system of the command and the processes it waited for) and peak RSS
(of its largest single process): the metrics wall, cpu and max-rss.

Per metric, the per-pair ratios head/base give the change and its
confidence interval; the policy (--policy, a YAML file or a PERFORMANCE.md
with a gate: section; default: the template's thresholds) says whether it
regressed. Progress goes to stderr, the report to stdout.

With --profile both sides then run once more under the probes (as perfprobe
run would: root or CAP_BPF+CAP_PERFMON), into --out/base and --out/head,
and the movers of head against base are printed and written as
--out/diff.html: a regression comes with the functions that moved.

Exit status: 0 nothing regressed, 1 something regressed (or a waiver
expired), 2 a command failed or the input was unusable (the report still
covers the pairs completed before).`,
		Example: `  # two builds of a binary
  perfprobe bench --base './app-old -n 1000' --head './app-new -n 1000'
  # go test -bench in two worktrees (the results are the benchmarks' ns/op, B/op...)
  perfprobe bench --pairs 10 --base 'cd ../main && go test -run XXX -bench Parse -count 1 ./parser' \
      --head 'go test -run XXX -bench Parse -count 1 ./parser'
  # wrk against two services, the markdown for a PR comment
  perfprobe bench --format markdown --base 'wrk -t2 -c50 -d10s http://localhost:8080/' \
      --head 'wrk -t2 -c50 -d10s http://localhost:8081/'
  # a regression with the functions that moved
  sudo perfprobe bench --profile --out ab/ --base ./app-old --head ./app-new`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(benchFormats, format) {
				return &exitError{exitUnusable, fmt.Errorf("--format %q: use %s", format, strings.Join(benchFormats, ", "))}
			}
			if o.Base == "" || o.Head == "" {
				return &exitError{exitUnusable, fmt.Errorf("give both --base and --head")}
			}
			if o.Pairs < 1 || o.Warmup < 0 {
				return &exitError{exitUnusable, fmt.Errorf("--pairs must be at least 1 and --warmup at least 0")}
			}
			pol, err := loadPolicy(policy) // as gate: --policy, ./perfprobe.yaml, ./PERFORMANCE.md, the defaults
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			if !quiet {
				o.Out = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			res, runErr := abrun.Run(ctx, o)
			stop()
			if runErr != nil && (res == nil || len(res.Pairs) == 0) {
				return &exitError{exitUnusable, runErr}
			}
			w := cmd.OutOrStdout()
			rep := gate.ComparePaired(res.Sets(), pol, time.Now())
			if err := writeBenchReport(w, rep, format); err != nil {
				return &exitError{exitUnusable, err}
			}
			if runErr != nil {
				return &exitError{exitUnusable, fmt.Errorf("%w (the report covers the %d pairs before)", runErr, len(res.Pairs))}
			}
			if profile {
				pw := w
				if format == "json" {
					pw = cmd.ErrOrStderr() // stdout is the report's
				}
				if out == "" {
					out = "perfprobe-bench-" + time.Now().Format("20060102-150405")
				}
				if err := profileSides(pw, cmd.ErrOrStderr(), o, out, quiet); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "perfprobe bench: --profile:", err)
				}
			}
			if rep.Failed {
				return &exitError{exitFound, fmt.Errorf("the head regressed against the base: %s", regressedNames(rep))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Base, "base", "", "the base command (run with sh -c)")
	fl.StringVar(&o.Head, "head", "", "the head command (run with sh -c)")
	fl.IntVarP(&o.Pairs, "pairs", "n", o.Pairs, "how many interleaved pairs to measure")
	fl.IntVar(&o.Warmup, "warmup", o.Warmup, "warm-up runs of each side before the pairs, discarded")
	fl.DurationVar(&o.Timeout, "timeout", 0, "fail when one run takes longer than this (0: no limit)")
	fl.StringVar(&policy, "policy", "", "gate policy: a YAML file, or Markdown with a fenced perfprobe block holding gate: (default: the gate: section of ./perfprobe.yaml or ./PERFORMANCE.md, else p95 +10%, throughput -10%, time +10%, CPU and memory +15%)")
	fl.StringVar(&format, "format", "text", "report format: "+strings.Join(benchFormats, ", "))
	fl.StringVarP(&out, "out", "o", "", "directory for --profile's captures and diff.html (default perfprobe-bench-<time>)")
	fl.BoolVar(&profile, "profile", false, "then capture each side once under the probes and diff them (needs root or CAP_BPF+CAP_PERFMON)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	return cmd
}

// regressedNames lists the rows that fail the gate.
func regressedNames(rep *gate.Report) string {
	var names []string
	for _, r := range rep.Rows {
		if r.Verdict == gate.Regressed {
			names = append(names, fmt.Sprintf("%s %s", r.Name, fmtChange(r.Delta)))
		}
	}
	if len(names) == 0 {
		return "an expired waiver"
	}
	return strings.Join(names, ", ")
}

func fmtChange(d float64) string { return fmt.Sprintf("%+.1f%%", 100*d) }

// profileSides captures each side once, as perfprobe run would, into
// out/base and out/head (their stdout into out/base.stdout and
// out/head.stdout), then prints the movers of head against base to w and
// writes out/diff.html. Without the privileges it says so and does nothing.
func profileSides(w, errw io.Writer, o abrun.Options, out string, quiet bool) error {
	if err := probes.CheckPrivileges(); err != nil {
		return fmt.Errorf("skipped, capturing needs root or CAP_BPF+CAP_PERFMON (%v); the A/B result stands", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating --out: %w", err)
	}
	co := capture.DefaultOptions()
	co.Duration = 0
	co.Children = true // sh's commands
	co.Go = capture.GoOptions{Skip: true}
	dirs := map[string]string{}
	for _, side := range []struct{ name, cmd string }{{"base", o.Base}, {"head", o.Head}} {
		dir := filepath.Join(out, side.name)
		redirect := "exec >" + shellQuote(filepath.Join(out, side.name+".stdout")) + "; "
		if o.Dir != "" {
			redirect += "cd " + shellQuote(o.Dir) + " && "
		}
		fmt.Fprintf(errw, "perfprobe bench: capturing %s into %s\n", side.name, dir)
		code, err := captureCommand([]string{"sh", "-c", redirect + side.cmd}, co, dir, newTerminal(quiet))
		if err != nil {
			return fmt.Errorf("capturing %s: %w", side.name, err)
		}
		if code != 0 {
			return fmt.Errorf("capturing %s: the command exited with status %d", side.name, code)
		}
		dirs[side.name] = dir
	}
	base, err := pp.Load(dirs["base"])
	if err != nil {
		return fmt.Errorf("loading the base capture: %w", err)
	}
	head, err := pp.Load(dirs["head"])
	if err != nil {
		return fmt.Errorf("loading the head capture: %w", err)
	}
	fmt.Fprintln(w)
	return writeDiff(w, base, head, dirs["base"], dirs["head"], "", 15, filepath.Join(out, "diff.html"))
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
