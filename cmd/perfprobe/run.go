package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
)

func newCmdRun() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Start a command and profile it from exec until it exits",
		Long: `run starts COMMAND held just before exec, attaches the probes to it, lets it
exec and profiles it and every process it starts (a shell's commands, the
test binary of go test) until it exits (or --duration ends, or Ctrl-C);
--no-children profiles the command alone. It writes the same outputs as
attach, every sample labelled with its process, and exits with the
command's status.`,
		Example: `  sudo perfprobe run -- ./bench -n 1000
  sudo perfprobe run --out /tmp/cap --hz 499 -- go test -run XXX -bench . ./pkg
  sudo perfprobe run -- sh -c './worker a & ./worker b; wait'
  sudo perfprobe run --no-children -- make -j8     # make itself, not what it runs`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			return run(args, o, f.out, newTerminal(f.quiet))
		},
	}
	f.bind(cmd, 0, "fetch the command's Go profiles from this pprof URL over the run (not looked for: a new command has no endpoint yet at exec)")
	var noChildren bool
	cmd.Flags().BoolVar(&noChildren, "no-children", false, "profile the command alone, not the processes it starts")
	cmd.PreRun = func(*cobra.Command, []string) { f.opts.Children = !noChildren }
	return cmd
}

func run(argv []string, o capture.Options, out string, term *terminal) error {
	code, err := captureCommand(argv, o, out, term)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code, err: fmt.Errorf("%s exited with status %d", argv[0], code)}
	}
	return nil
}

// captureCommand starts argv under the probes, captures it until it exits
// (or Ctrl-C), writes the capture to out and its summary to stderr, and
// returns the command's exit status.
func captureCommand(argv []string, o capture.Options, out string, term *terminal) (int, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	term.hook(&o)
	s, cmd, err := capture.StartRun(argv, o)
	if err != nil {
		return 0, err
	}
	defer s.Close() // after the outputs: detaching may take the kernel seconds
	ps := s.Probes()
	fmt.Fprintf(os.Stderr, "perfprobe: running %s (pid %d) with probes %s at %d Hz\n", strings.Join(argv, " "), cmd.PID, strings.Join(ps.Attached(), ","), o.Hz)
	for _, line := range ps.Skipped() {
		fmt.Fprintln(os.Stderr, "perfprobe:", line)
	}
	cause := s.Wait(ctx, cmd.Exited(), capture.EndCommandExited)
	term.clear()
	stop()
	if cause == capture.EndSignal {
		cmd.Interrupt()
	}
	err = finish(s, cause, out, os.Stderr)
	if cause != capture.EndCommandExited {
		cmd.WaitOrKill(5 * time.Second)
	}
	return cmd.ExitCode(), err
}
