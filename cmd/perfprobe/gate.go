package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/gate"
)

func newCmdGate() *cobra.Command {
	var (
		baseline, current, policy, format, out string
	)
	cmd := &cobra.Command{
		Use:   "gate --baseline DIR|FILE --current DIR|FILE",
		Short: "Fail CI when performance regressed against a baseline, with honest statistics",
		Long: `gate compares the results of two sides, metric by metric, and exits 1 when
one regressed beyond its threshold.

It reads, recognised by content (a directory is searched for them):
  - Go benchmark output (go test -bench -count=N): every unit (sec/op,
    B/op, allocs/op, custom ones);
  - wrk output (Requests/sec, with --latency its percentiles);
  - hyperfine --export-json (name the commands with --command-name so that
    both sides match);
  - perfprobe captures (capture.json's latency percentiles, and the
    profile's share per category such as share(hashing, oncpu));
  - the simple JSON of named samples any tool can write (docs/gate.md).

Per metric it compares the medians with a Mann-Whitney U test
(golang.org/x/perf/benchmath): a metric regressed when the change is
significant (p < 0.05) and worse than its threshold. The defaults: p95
and other latency +10%, throughput -10%, run time +10%, CPU and memory
+15%, a profile share +5 points; fewer than 5 samples on a side is "not
enough data". The policy (--policy, else a gate: section in
./perfprobe.yaml or in the ` + "```perfprobe" + ` blocks of ./PERFORMANCE.md) changes
thresholds, adds per-metric rules and waivers; an expired waiver fails.
docs/gate.md is the reference.

Absolute figures from another day or another machine drift: when the
baseline's meta.json says it was measured on a different kind of machine,
gate warns. perfprobe bench compares two builds on one machine, in pairs.

Exit status: 0 pass, 1 a regression or an expired waiver, 2 unusable input.`,
		Example: `  go test -run '^$' -bench . -count 10 ./... > current.txt
  perfprobe gate --baseline testing/performance/baselines --current current.txt
  perfprobe gate --baseline old.json --current new.json --format markdown > comment.md
  perfprobe gate --baseline base/ --current head/ --policy perf-policy.yaml --format json
  perfprobe baseline update --dir testing/performance/baselines current.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if baseline == "" || current == "" {
				return &exitError{exitUnusable, fmt.Errorf("give both --baseline and --current (directories or result files)")}
			}
			write, err := reportWriter(format)
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			pol, err := loadPolicy(policy)
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			base, err := gate.LoadShares(baseline, pol.Shares)
			if err != nil {
				return &exitError{exitUnusable, fmt.Errorf("baseline: %w", err)}
			}
			head, err := gate.LoadShares(current, pol.Shares)
			if err != nil {
				return &exitError{exitUnusable, fmt.Errorf("current: %w", err)}
			}
			if head.Meta == nil {
				head.Meta = gate.ThisMachine(".") // results made here, now
			}
			rep := gate.Compare(base, head, pol, time.Now())
			if pol.Source == "" {
				rep.Warnings = append(rep.Warnings, "no policy found (--policy, ./perfprobe.yaml, ./PERFORMANCE.md): the defaults apply")
			}
			for _, s := range [][]string{base.Skipped, head.Skipped} {
				for _, f := range s {
					rep.Warnings = append(rep.Warnings, "skipped "+f)
				}
			}
			return finishReport(cmd, rep, write, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseline, "baseline", "", "the baseline's results: a directory or a result file")
	f.StringVar(&current, "current", "", "the current results: a directory or a result file")
	f.StringVar(&policy, "policy", "", "the gate policy (YAML, or PERFORMANCE.md with a gate: section in a ```perfprobe block)")
	f.StringVar(&format, "format", "text", "text, markdown or json")
	f.StringVarP(&out, "output", "o", "", "write the report to this file too (the terminal gets the text)")
	return cmd
}

// reportWriter picks the report format.
func reportWriter(format string) (func(*gate.Report, io.Writer) error, error) {
	switch format {
	case "text", "":
		return (*gate.Report).WriteText, nil
	case "markdown", "md":
		return (*gate.Report).WriteMarkdown, nil
	case "json":
		return (*gate.Report).WriteJSON, nil
	}
	return nil, fmt.Errorf("--format %q: use text, markdown or json", format)
}

func loadPolicy(path string) (*gate.Policy, error) {
	if path != "" {
		return gate.LoadPolicy(path)
	}
	return gate.FindPolicy(".")
}

// finishReport prints the report (to --output as well) and turns a
// failing gate into exit status 1.
func finishReport(cmd *cobra.Command, rep *gate.Report, write func(*gate.Report, io.Writer) error, out string) error {
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return &exitError{exitUnusable, fmt.Errorf("creating --output: %w", err)}
		}
		if err := write(rep, f); err != nil {
			f.Close()
			return &exitError{exitUnusable, err}
		}
		if err := f.Close(); err != nil {
			return &exitError{exitUnusable, err}
		}
		write = (*gate.Report).WriteText
	}
	if err := write(rep, cmd.OutOrStdout()); err != nil {
		return err
	}
	if rep.Failed {
		return &exitError{exitFound, fmt.Errorf("%s", rep.Headline())}
	}
	return nil
}

func newCmdBaseline() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Keep the baselines perfprobe gate compares against",
	}
	var dir string
	update := &cobra.Command{
		Use:   "update --dir DIR RESULT...",
		Short: "Copy result files into a baseline directory, with the machine, kernel, CPU, Go version, commit and date",
		Long: `update copies the result files perfprobe gate understands (files, or the
recognised files under directories) into DIR, replacing those of the
previous update, and writes DIR/meta.json: machine, kernel, CPU model
and count, memory, Go version, git commit and date. perfprobe gate warns
when the baseline and the current results come from different kinds of
machine.`,
		Example: `  go test -run '^$' -bench . -count 10 ./profile/... > bench.txt
  perfprobe baseline update --dir testing/performance/baselines bench.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return &exitError{exitUnusable, fmt.Errorf("--dir: the baseline directory to write")}
			}
			m, err := gate.UpdateBaseline(dir, args, gate.ThisMachine("."))
			if err != nil {
				return &exitError{exitUnusable, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "baseline %s: %d result files, %s, %s, %s, commit %s\n", dir, len(m.Files), m.CPUModel, m.Kernel, m.GoVersion, m.Commit)
			return nil
		},
	}
	update.Flags().StringVar(&dir, "dir", "", "the baseline directory (created when missing)")
	cmd.AddCommand(update)
	return cmd
}
