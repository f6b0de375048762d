package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// captureFlags binds the flags attach and run share to capture.Options.
type captureFlags struct {
	opts  capture.Options
	out   string
	quiet bool
}

// flagOf names the flag behind each capture.Options field.
var flagOf = map[string]string{
	"Duration":      "duration",
	"Probes":        "probes",
	"Hz":            "hz",
	"StackInterval": "offcpu-stack-interval",
	"IOThreshold":   "io-threshold",
	"Go.Kinds":      "go-profiles",
}

func (f *captureFlags) bind(cmd *cobra.Command, defaultDuration time.Duration, pprofURLHelp string) {
	d := capture.DefaultOptions()
	o := &f.opts
	fl := cmd.Flags()
	fl.DurationVarP(&o.Duration, "duration", "d", defaultDuration, "how long to capture (0: until the target exits or Ctrl-C)")
	fl.StringSliceVarP(&o.Probes, "probes", "p", probes.Defaults(), "probes to attach: "+strings.Join(probes.Names(), ","))
	fl.IntVar(&o.Hz, "hz", d.Hz, "on-CPU sampling frequency per CPU")
	fl.StringVarP(&f.out, "out", "o", "", "output directory (default perfprobe-<pid>-<time>)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress line")
	fl.DurationVar(&o.StackInterval, "offcpu-stack-interval", d.StackInterval,
		"walk a thread's off-CPU stacks at most this often; switches in between reuse them (0: every switch, costly)")
	fl.DurationVar(&o.IOThreshold, "io-threshold", d.IOThreshold, "I/O syscalls slower than this are attributed to their stack as iowait (0: all)")
	fl.BoolVar(&o.Go.Skip, "no-go-profiles", false, "do not fetch the Go runtime's profiles (pprof CPU, fgprof wall clock, mutex, block, goroutines)")
	fl.StringVar(&o.Go.URL, "pprof-url", "", pprofURLHelp)
	fl.BoolVar(&o.Go.Insecure, "pprof-insecure", false, "do not verify the TLS certificate of --pprof-url")
	bindDiagnosisFlags(cmd, &o.Diagnosis)
	fl.StringSliceVar(&o.Go.Kinds, "go-profiles", fetch.KindNames,
		"Go profiles to fetch: cpu (costs the target ~5%), wall (fgprof, ~10%: it samples every goroutine 99 times a second), mutex, block, goroutine, heap (allocations in the window, live heap at its end; not fetched by default)")
}

// options returns the capture options for cmd, validated, with their
// errors naming the flag.
func (f *captureFlags) options(cmd *cobra.Command) (capture.Options, error) {
	o := f.opts
	o.Named = cmd.Flags().Changed("probes")
	if o.Named && len(o.Probes) == 0 {
		return o, fmt.Errorf("--probes is empty: name at least one of %s", strings.Join(probes.Names(), ","))
	}
	if err := o.Validate(); err != nil {
		var oe *capture.OptionError
		if errors.As(err, &oe) && flagOf[oe.Field] != "" {
			return o, fmt.Errorf("--%s: %s", flagOf[oe.Field], oe.Msg)
		}
		return o, err
	}
	return o, nil
}

// terminal prints a capture's progress and notes on stderr: one line
// rewritten in place on a terminal, a line every 5 s otherwise.
type terminal struct {
	quiet bool
	tty   bool
}

func newTerminal(quiet bool) *terminal {
	return &terminal{quiet: quiet, tty: term.IsTerminal(int(os.Stderr.Fd()))}
}

// hook sets o's Progress and Notify to print on the terminal.
func (t *terminal) hook(o *capture.Options) {
	o.Progress = t.progress
	o.Notify = t.note
}

func (t *terminal) progress(p capture.Progress) {
	if t.quiet {
		return
	}
	line := "perfprobe: " + p.String()
	if t.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
	} else if int(p.Elapsed.Round(time.Second).Seconds())%5 == 0 {
		fmt.Fprintln(os.Stderr, line)
	}
}

func (t *terminal) note(line string) {
	t.clear()
	fmt.Fprintln(os.Stderr, "perfprobe:", line)
}

// clear erases the progress line.
func (t *terminal) clear() {
	if t.tty && !t.quiet {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}
