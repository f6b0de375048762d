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
	"github.com/perfprobe/perfprobe/probes"
)

func newCmdAttach() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "attach PID",
		Short: "Profile a running process: where it burns CPU, blocks and waits for a CPU",
		Long: `attach loads the eBPF probes filtered to PID, captures until --duration ends,
Ctrl-C/SIGTERM, or the process exits, and in every case writes what it
collected to the output directory:

  profile.pb.gz      pprof, one sample type per quantity (ns): oncpu, offcpu_blocked,
                     offcpu_runqueue, offcpu_uninterruptible, iowait, tls_handshake,
                     and for a Go target go_cpu, go_wall, go_mutex_delay, go_block_delay
  flamegraph.html    all of them in one page that opens offline in any browser
  capture.json       window, histograms with percentiles, counts, drops, self-cost,
                     the eBPF-vs-Go CPU check and wall time explained per goroutine
  <type>.folded      root-first folded stacks per sample type (values in ns)
  go-*.pb.gz         the Go runtime's profiles as fetched

then prints a summary. For a Go target, attach finds its net/http/pprof
endpoint from its listening sockets and fetches the CPU profile, fgprof's
wall-clock profile (/debug/fgprof), mutex and block deltas and a goroutine
snapshot over the same window; --pprof-url names the endpoint, and
--no-go-profiles skips them.`,
		Example: `  sudo perfprobe attach 1234
  sudo perfprobe attach --duration 30s --out /tmp/cap $(pgrep -n myservice)
  sudo perfprobe attach --probes sched 1234      # only scheduler latency
  sudo perfprobe attach --hz 999 -d 5s 1234       # finer on-CPU sampling`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			pid, err := probes.ParsePID(args[0])
			if err != nil {
				return err
			}
			return attach(pid, o, f.out, newTerminal(f.quiet))
		},
	}
	f.bind(cmd, 10*time.Second, "the target's pprof URL, e.g. http://127.0.0.1:6060 (default: found from the target's listening sockets)")
	f.opts.Go.Discover = true
	return cmd
}

func attach(pid int, o capture.Options, out string, term *terminal) error {
	t, err := probes.OpenTarget(pid)
	if err != nil {
		return err
	}
	defer t.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	term.hook(&o)
	s, err := capture.Start(t, o)
	if err != nil {
		return err
	}
	defer s.Close() // after the outputs: detaching may take the kernel seconds
	ps := s.Probes()
	fmt.Fprintf(os.Stderr, "perfprobe: attached to pid %d (%s) in %s: probes %s at %d Hz; %s\n",
		pid, t.Comm, ps.AttachDuration().Round(time.Millisecond), strings.Join(ps.Attached(), ","), o.Hz, stopHint(o.Duration))
	for _, line := range ps.Skipped() {
		fmt.Fprintln(os.Stderr, "perfprobe:", line)
	}
	cause := s.Wait(ctx, t.Exited(), capture.EndTargetExited)
	term.clear()
	stop() // a second Ctrl-C while writing kills perfprobe
	if cause == capture.EndTargetExited {
		fmt.Fprintf(os.Stderr, "perfprobe: pid %d exited; writing what was collected\n", pid)
	}
	return finish(s, cause, out, os.Stdout)
}

// finish builds the result, writes it and prints the summary on w. What
// was collected is written whatever went wrong with the rest.
func finish(s *capture.Session, cause, out string, w *os.File) error {
	res := s.Stop(cause)
	err := res.WriteDir(out)
	if err != nil {
		res.Dir = "" // the summary does not point at files that are not there
	}
	res.WriteSummary(w)
	return err
}

func stopHint(d time.Duration) string {
	if d > 0 {
		return fmt.Sprintf("capturing %s, Ctrl-C to stop early", d)
	}
	return "capturing until the target exits or Ctrl-C"
}
