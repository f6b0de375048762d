package main

import (
	"io"

	"github.com/perfprobe/perfprobe/internal/gate"
)

// writeBenchReport writes rep in one of benchFormats.
func writeBenchReport(w io.Writer, rep *gate.Report, format string) error {
	switch format {
	case "markdown":
		return rep.WriteMarkdown(w)
	case "json":
		return rep.WriteJSON(w)
	}
	return rep.WriteText(w)
}
