package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
	"github.com/perfprobe/perfprobe/profile/store"
	"github.com/perfprobe/perfprobe/profile/text"
)

func newCmdDiff() *cobra.Command {
	var out, typ string
	var top int
	var sf storeFlags
	var againstFrom, againstTo string
	cmd := &cobra.Command{
		Use:   "diff BASE NEW | --store DIR [BASE]",
		Short: "Compare two profiles: what grew and what shrank",
		Long: `diff compares NEW against BASE (capture directories, pprof files or folded
stacks). Each sample type is normalized to its own total in each profile,
so captures of different lengths compare fairly. It prints the functions
whose share moved most and writes a differential flamegraph: red frames
grew, blue frames shrank.

With --store it reads the store of ` + "`perfprobe agent`" + `: NEW is the windows that
start in [--from, --to), BASE those that start in [--against-from,
--against-to) (--against-to defaults to --against-from plus the length of
NEW's range), both of --service and --pid when given. Or BASE is one
capture directory or profile file given as the argument.`,
		Example: `  perfprobe diff before/ after/
  perfprobe diff --type go_cpu --top 20 base.pb.gz new.pb.gz -o change.html

  # what changed since this morning: the last hour against 08:00-09:00
  perfprobe diff --store /var/lib/perfprobe --service api --from -1h --to now \
      --against-from "2026-12-01 08:00" --against-to "2026-12-01 09:00"
  # this hour against the same hour yesterday
  perfprobe diff --store ./perfprobe-store --from -1h --against-from -25h
  # the last 15 minutes against a capture taken before the deploy
  perfprobe diff --store ./perfprobe-store --from -15m --service api before-deploy/`,
		Args: func(cmd *cobra.Command, args []string) error {
			return sf.args(cmd, args, 2, 1, "two profiles, BASE and NEW,")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var base, cur *pprof.Profile
			var err error
			baseName, curName := "", ""
			if sf.dir == "" {
				baseName, curName = args[0], args[1]
				if base, err = pp.Load(args[0]); err != nil {
					return fmt.Errorf("base: %w", err)
				}
				if cur, err = pp.Load(args[1]); err != nil {
					return fmt.Errorf("new: %w", err)
				}
			} else {
				now := time.Now()
				q, err := sf.query(sf.from, sf.to, now)
				if err != nil {
					return err
				}
				switch {
				case len(args) == 1 && againstFrom != "":
					return fmt.Errorf("give the base once: --against-from/--against-to or %s, not both", args[0])
				case len(args) == 1:
					baseName = args[0]
					if base, err = pp.Load(args[0]); err != nil {
						return fmt.Errorf("base: %w", err)
					}
				case againstFrom == "":
					return errNoBase
				default:
					bq, err := againstQuery(q, againstFrom, againstTo, now)
					if err != nil {
						return err
					}
					if base, baseName, err = sf.load(cmd.OutOrStdout(), cmd.ErrOrStderr(), bq, "base"); err != nil {
						return fmt.Errorf("base: %w", err)
					}
				}
				if cur, curName, err = sf.load(cmd.OutOrStdout(), cmd.ErrOrStderr(), q, "new"); err != nil {
					return fmt.Errorf("new: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			if out == "" {
				out = "diff.html"
			}
			return writeDiff(cmd.OutOrStdout(), base, cur, baseName, curName, typ, top, out)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "output HTML file (default diff.html)")
	cmd.Flags().StringVarP(&typ, "type", "t", "", "sample type to rank movers by (default: NEW's default type)")
	cmd.Flags().IntVar(&top, "top", 15, "how many movers to print")
	sf.bind(cmd)
	cmd.Flags().StringVar(&againstFrom, "against-from", "", "with --store: the base is the windows that start at or after this time (same forms as --from)")
	cmd.Flags().StringVar(&againstTo, "against-to", "", "with --store: ... and before this time (default: --against-from plus the length of --from..--to)")
	return cmd
}

// writeDiff prints the top movers of cur against base in sample type typ
// (default: cur's preferred type) and writes the differential flamegraph
// to out.
func writeDiff(w io.Writer, base, cur *pprof.Profile, baseName, curName, typ string, top int, out string) error {
	common := pp.CommonTypes(base, cur)
	if len(common) == 0 {
		return fmt.Errorf("the profiles share no sample type with data: base has %s, new has %s", typeList(base), typeList(cur))
	}
	show := typ
	if show == "" {
		show = pp.PreferredType(cur, "")
		if !slices.Contains(common, show) {
			show = common[0]
		}
	} else if !slices.Contains(common, show) {
		return fmt.Errorf("--type %s: both profiles need data of that type; common types are %v", typ, common)
	}
	unit := cur.SampleType[pp.ValueIndex(cur, show)].Unit
	printMovers(w, pp.Movers(base, cur, show, top), show, valueStr(pp.Total(base, show), unit), valueStr(pp.Total(cur, show), unit))
	opt := flame.HTMLOptions{Title: fmt.Sprintf("perfprobe diff: %s -> %s", baseName, curName), DefaultType: show}
	if err := capture.WriteFile(out, func(fw io.Writer) error { return flame.WriteDiffHTML(fw, base, cur, opt) }); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ndifferential flamegraph:", out)
	return nil
}

// againstQuery is the base's range of diff --store: from and to parsed,
// to defaulting to from plus the length of the new range q.
func againstQuery(q store.Query, from, to string, now time.Time) (store.Query, error) {
	bq := q
	var err error
	if bq.From, err = store.ParseTime(from, now); err != nil {
		return bq, fmt.Errorf("--against-from: %w", err)
	}
	if to == "" {
		bq.To = bq.From.Add(q.To.Sub(q.From))
	} else if bq.To, err = store.ParseTime(to, now); err != nil {
		return bq, fmt.Errorf("--against-to: %w", err)
	}
	if !bq.From.Before(bq.To) {
		return bq, fmt.Errorf("--against-from %s (%s) is not before --against-to (%s): the range is empty", from, bq.From.Format(time.DateTime), bq.To.Format(time.DateTime))
	}
	return bq, nil
}

func printMovers(w io.Writer, movers []pp.Mover, typ, baseTotal, newTotal string) {
	fmt.Fprintf(w, "Biggest movers in %s (share of each profile's total: base %s, new %s)\n\n", typ, baseTotal, newTotal)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "change\tbase flat\tnew flat\tbase cum\tnew cum\t  function")
	for _, m := range movers {
		fmt.Fprintf(tw, "%+.1f pts\t%.1f%%\t%.1f%%\t%.1f%%\t%.1f%%\t  %s\n", m.FlatDelta, m.BaseFlatPct, m.NewFlatPct, m.BaseCumPct, m.NewCumPct, m.Function)
	}
	tw.Flush()
}

// valueStr formats a total in its unit.
func valueStr(v int64, unit string) string {
	switch unit {
	case "nanoseconds":
		return text.Ns(v)
	case "bytes":
		return text.Bytes(uint64(v))
	}
	return fmt.Sprintf("%d %s", v, unit)
}
