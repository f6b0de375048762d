package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
)

func newCmdFlame() *cobra.Command {
	var out, typ string
	cmd := &cobra.Command{
		Use:   "flame PROFILE|CAPTURE_DIR",
		Short: "Render a profile as one self-contained HTML flamegraph",
		Long: `flame renders any pprof profile (a perfprobe capture, go test -cpuprofile,
go tool pprof -proto, /debug/pprof/profile) or folded stacks as one HTML file
that opens offline in any browser: flame and icicle views, click to zoom,
search, a switch between sample types, tooltips and a sandwich view.`,
		Example: `  perfprobe flame perfprobe-1234-20261126-101500          # writes flamegraph.html in that directory
  perfprobe flame cpu.pprof -o cpu.html
  perfprobe flame --type offcpu_blocked profile.pb.gz -o blocked.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pp.Load(args[0])
			if err != nil {
				return err
			}
			if err := checkType(p, typ); err != nil {
				return err
			}
			if out == "" {
				out = defaultOut(args[0], "flamegraph.html")
			}
			opt := flame.HTMLOptions{Title: "perfprobe: " + filepath.Base(strings.TrimSuffix(args[0], "/")), DefaultType: typ}
			if err := capture.WriteFile(out, func(w io.Writer) error { return flame.WriteHTML(w, p, opt) }); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "flamegraph:", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "output HTML file (default flamegraph.html beside the input, or in the capture directory)")
	cmd.Flags().StringVarP(&typ, "type", "t", "", "sample type shown first (default: the profile's default type)")
	return cmd
}

// defaultOut puts name in a capture directory, or beside a file input.
func defaultOut(in, name string) string {
	if fi, err := os.Stat(in); err == nil && fi.IsDir() {
		return filepath.Join(in, name)
	}
	return filepath.Join(filepath.Dir(in), name)
}

// checkType fails with the list of types when typ is set and p lacks it.
func checkType(p *profile.Profile, typ string) error {
	if typ == "" || pp.ValueIndex(p, typ) >= 0 {
		return nil
	}
	return fmt.Errorf("the profile has no sample type %q: it has %s", typ, typeList(p))
}

func typeList(p *profile.Profile) string {
	var names []string
	for _, st := range p.SampleType {
		if pp.Total(p, st.Type) != 0 {
			names = append(names, st.Type)
		}
	}
	if len(names) == 0 {
		return "no samples"
	}
	return strings.Join(names, ", ")
}
