package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/flame"
)

var convertFormats = []string{"folded", "speedscope", "pprof"}

func newCmdConvert() *cobra.Command {
	var to, out, typ string
	var threads bool
	cmd := &cobra.Command{
		Use:   "convert IN --to folded|speedscope|pprof",
		Short: "Convert a profile to folded stacks, speedscope JSON or pprof",
		Long: `convert reads a pprof profile (any, e.g. go test -cpuprofile), a perfprobe
capture directory or folded stacks, and writes:

  folded      root-first folded stacks of one sample type ("a;b;c VALUE" lines)
  speedscope  speedscope JSON, one profile per sample type (speedscope.app, offline too)
  pprof       gzipped pprof protobuf (go tool pprof, Pyroscope, Perfetto)

to -o, or to standard output when -o is "-" or omitted.`,
		Example: `  perfprobe convert perfprobe-1234-20261126-101500 --to speedscope -o cap.speedscope.json
  perfprobe convert cpu.pprof --to folded > cpu.folded
  perfprobe convert --to folded --type offcpu_blocked profile.pb.gz -o blocked.folded
  perfprobe convert stacks.folded --to pprof -o stacks.pb.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(convertFormats, to) {
				return fmt.Errorf("--to %q: choose one of %s", to, strings.Join(convertFormats, ", "))
			}
			p, err := pp.Load(args[0])
			if err != nil {
				return err
			}
			if err := checkType(p, typ); err != nil {
				return err
			}
			write, err := converter(p, to, typ, threads, filepath.Base(strings.TrimSuffix(args[0], "/")))
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return write(cmd.OutOrStdout())
			}
			if err := capture.WriteFile(out, write); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "perfprobe: wrote", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "output format: "+strings.Join(convertFormats, ", "))
	f.StringVarP(&out, "out", "o", "", "output file (default: standard output)")
	f.StringVarP(&typ, "type", "t", "", "folded: the sample type to write (default: the profile's default type)")
	f.BoolVar(&threads, "thread-root", false, "folded: start each stack with its thread name")
	cmd.MarkFlagRequired("to")
	return cmd
}

func converter(p *profile.Profile, to, typ string, threads bool, name string) (func(io.Writer) error, error) {
	switch to {
	case "folded":
		show := pp.PreferredType(p, typ)
		if show == "" {
			return nil, fmt.Errorf("the profile has no samples to write")
		}
		return func(w io.Writer) error { return flame.WriteFolded(w, p, show, threads) }, nil
	case "speedscope":
		return func(w io.Writer) error { return flame.WriteSpeedscope(w, p, name) }, nil
	default:
		return func(w io.Writer) error {
			if f, ok := w.(*os.File); ok && f == os.Stdout && isTerminal(f) {
				return fmt.Errorf("not writing binary pprof to a terminal: give -o FILE or redirect")
			}
			return p.Write(w)
		}, nil
	}
}
