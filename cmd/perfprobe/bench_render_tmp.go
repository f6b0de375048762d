package main

// TEMPORARY until gate's Report rendering lands: a plain table.

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/perfprobe/perfprobe/internal/gate"
)

func writeBenchReport(w io.Writer, rep *gate.Report, format string) error {
	if format == "json" {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tbase\thead\tchange\tverdict\tnote")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s %s\t%.4g\t%.4g\t%s [%s, %s]\t%s\t%s\n", r.Name, r.Unit, r.Base.Center, r.Head.Center, fmtChange(r.Delta), fmtChange(r.DeltaLo), fmtChange(r.DeltaHi), r.Verdict, r.Note)
	}
	for _, s := range rep.Warnings {
		fmt.Fprintln(tw, "warning:", s)
	}
	return tw.Flush()
}
