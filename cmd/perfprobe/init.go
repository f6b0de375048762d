package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/plugins/bottlenecks"
)

func newCmdInit() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Start a bottleneck list and SLOs that every diagnosis is checked against",
		Long: `init writes a commented starter for the bottleneck list and SLOs: a
` + "```perfprobe" + ` fenced YAML block appended to PERFORMANCE.md when the directory
has one, else a new perfprobe.yaml. It refuses to overwrite: it fails when
perfprobe.yaml exists or PERFORMANCE.md already has a perfprobe block.

perfprobe reads the list from perfprobe.yaml, else from the perfprobe blocks
of PERFORMANCE.md, and gives every finding a status against it: new,
acceptable, must-fix, over-budget or expired. See docs/bottlenecks.md.`,
		Example: `  perfprobe init                  # in the project's root
  perfprobe init --dir services/upload`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := bottlenecks.Init(dir)
			if err != nil {
				return err
			}
			what := "wrote"
			if filepath.Base(path) == bottlenecks.MarkdownFile {
				what = "appended a ```perfprobe block to"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: uncomment and edit the examples; perfprobe checks every capture against them\n", what, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the directory to start the list in")
	return cmd
}
