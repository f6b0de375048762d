package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
	"github.com/perfprobe/perfprobe/profile/text"
)

func newCmdDiff() *cobra.Command {
	var out, typ string
	var top int
	cmd := &cobra.Command{
		Use:   "diff BASE NEW",
		Short: "Compare two profiles: what grew and what shrank",
		Long: `diff compares NEW against BASE (capture directories, pprof files or folded
stacks). Each sample type is normalized to its own total in each profile,
so captures of different lengths compare fairly. It prints the functions
whose share moved most and writes a differential flamegraph: red frames
grew, blue frames shrank.`,
		Example: `  perfprobe diff before/ after/
  perfprobe diff --type go_cpu --top 20 base.pb.gz new.pb.gz -o change.html`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := pp.Load(args[0])
			if err != nil {
				return fmt.Errorf("base: %w", err)
			}
			cur, err := pp.Load(args[1])
			if err != nil {
				return fmt.Errorf("new: %w", err)
			}
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
			w := cmd.OutOrStdout()
			unit := cur.SampleType[pp.ValueIndex(cur, show)].Unit
			printMovers(w, pp.Movers(base, cur, show, top), show, valueStr(pp.Total(base, show), unit), valueStr(pp.Total(cur, show), unit))
			if out == "" {
				out = "diff.html"
			}
			opt := flame.HTMLOptions{Title: fmt.Sprintf("perfprobe diff: %s -> %s", args[0], args[1]), DefaultType: show}
			if err := capture.WriteFile(out, func(fw io.Writer) error { return flame.WriteDiffHTML(fw, base, cur, opt) }); err != nil {
				return err
			}
			fmt.Fprintln(w, "\ndifferential flamegraph:", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "output HTML file (default diff.html)")
	cmd.Flags().StringVarP(&typ, "type", "t", "", "sample type to rank movers by (default: NEW's default type)")
	cmd.Flags().IntVar(&top, "top", 15, "how many movers to print")
	return cmd
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
