package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
)

func newCmdFlame() *cobra.Command {
	var out, typ string
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "flame PROFILE|CAPTURE_DIR | --store DIR",
		Short: "Render a profile as one self-contained HTML flamegraph",
		Long: `flame renders any pprof profile (a perfprobe capture, go test -cpuprofile,
go tool pprof -proto, /debug/pprof/profile) or folded stacks as one HTML file
that opens offline in any browser: flame and icicle views, click to zoom,
search, a switch between sample types, tooltips and a sandwich view.

With --store it reads the store of ` + "`perfprobe agent`" + ` instead: it merges every
window that starts in [--from, --to) (of --service and --pid when given)
and writes flamegraph.html in the current directory.`,
		Example: `  perfprobe flame perfprobe-1234-20261126-101500          # writes flamegraph.html in that directory
  perfprobe flame cpu.pprof -o cpu.html
  perfprobe flame --type offcpu_blocked profile.pb.gz -o blocked.html
  perfprobe flame --store /var/lib/perfprobe --from -1h --service api   # the last hour of one service
  perfprobe flame --store ./perfprobe-store --from "2026-12-01 09:00" --to "2026-12-01 10:00" -o nine.html`,
		Args: func(cmd *cobra.Command, args []string) error {
			return sf.args(cmd, args, 1, 0, "one profile file or capture directory")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var p *profile.Profile
			var title string
			var err error
			if sf.dir != "" {
				q, qerr := sf.query(sf.from, sf.to, time.Now())
				if qerr != nil {
					return qerr
				}
				var desc string
				if p, desc, err = sf.load(cmd.OutOrStdout(), cmd.ErrOrStderr(), q, "store"); err != nil {
					return err
				}
				title = "perfprobe: " + desc
				if out == "" {
					out = "flamegraph.html"
				}
			} else {
				if p, err = pp.Load(args[0]); err != nil {
					return err
				}
				title = "perfprobe: " + filepath.Base(strings.TrimSuffix(args[0], "/"))
				if out == "" {
					out = defaultOut(args[0], "flamegraph.html")
				}
			}
			if err := checkType(p, typ); err != nil {
				return err
			}
			opt := flame.HTMLOptions{Title: title, DefaultType: typ}
			if err := capture.WriteFile(out, func(w io.Writer) error { return flame.WriteHTML(w, p, opt) }); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "flamegraph:", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "output HTML file (default flamegraph.html beside the input, in the capture directory, or in the current directory with --store)")
	cmd.Flags().StringVarP(&typ, "type", "t", "", "sample type shown first (default: the profile's default type)")
	sf.bind(cmd)
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
