package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/internal/capture"
)

func newCmdAttach() *cobra.Command {
	var (
		f      captureFlags
		comm   string
		cgroup string
	)
	cmd := &cobra.Command{
		Use:   "attach [PID[,PID...]] [--comm REGEX] [--cgroup DIR] [--children]",
		Short: "Profile running processes: where they burn CPU, block and wait for a CPU",
		Long: `attach loads the eBPF probes filtered to the processes selected, captures
until --duration ends, Ctrl-C/SIGTERM, or they all exit, and in every case
writes what it collected to the output directory:

  profile.pb.gz      pprof, one sample type per quantity (ns): oncpu, offcpu_blocked,
                     offcpu_runqueue, offcpu_uninterruptible, iowait, tls_handshake,
                     and for a Go target go_cpu, go_wall, go_mutex_delay, go_block_delay;
                     every sample labelled with its pid, comm and thread
  flamegraph.html    all of them in one page that opens offline in any browser
                     (one tower per process when there are several)
  capture.json       window, targets, histograms with percentiles, counts, drops,
                     self-cost, the eBPF-vs-Go CPU check and wall time per goroutine
  <type>.folded      root-first folded stacks per sample type (values in ns)
  go-*.pb.gz         the Go runtime's profiles as fetched

then prints a summary. The processes are the pids given, every process
whose name (comm or executable) matches --comm, and every process in the
cgroup --cgroup or below it (a systemd unit, a container, a Kubernetes
pod); with --comm and --cgroup, processes that start matching during the
window are added. --children follows the targets' new processes from
their first instruction.

For one Go process, attach finds its net/http/pprof endpoint from its
listening sockets and fetches the CPU profile, fgprof's wall-clock profile
(/debug/fgprof), mutex and block deltas and a goroutine snapshot over the
same window; --pprof-url names the endpoint, and --no-go-profiles skips
them.`,
		Example: `  sudo perfprobe attach 1234
  sudo perfprobe attach --duration 30s --out /tmp/cap $(pgrep -n myservice)
  sudo perfprobe attach 1234,1240,1251                 # several processes in one capture
  sudo perfprobe attach --comm '^nginx' -d 20s          # every nginx process, new workers too
  sudo perfprobe attach --cgroup /sys/fs/cgroup/system.slice/postgresql.service
  sudo perfprobe attach --children $(pgrep -n supervisor)   # and what it starts
  sudo perfprobe attach --probes sched 1234            # only scheduler latency
  sudo perfprobe attach --hz 999 -d 5s 1234             # finer on-CPU sampling`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			var sel capture.Selector
			if len(args) == 1 {
				if sel.PIDs, err = capture.ParsePIDs(args[0]); err != nil {
					return err
				}
			}
			if comm != "" {
				if sel.Comm, err = regexp.Compile(comm); err != nil {
					return fmt.Errorf("--comm: %q is not a regular expression: %v", comm, err)
				}
			}
			sel.Cgroup = cgroup
			if sel.IsZero() {
				return errors.New("nothing to attach to: give a pid (see `pgrep NAME`), --comm REGEX or --cgroup DIR")
			}
			return attach(sel, o, f.out, newTerminal(f.quiet))
		},
	}
	f.bind(cmd, 10*time.Second, "the target's pprof URL, e.g. http://127.0.0.1:6060 (default: found from the target's listening sockets)")
	f.opts.Go.Discover = true
	fl := cmd.Flags()
	fl.StringVar(&comm, "comm", "", "also every process whose comm or executable name matches this regular expression, now and as they start")
	fl.StringVar(&cgroup, "cgroup", "", "also every process in this cgroup directory and below it, now and as they join (e.g. /sys/fs/cgroup/system.slice/NAME.service)")
	fl.BoolVar(&f.opts.Children, "children", false, "follow the targets' new processes (fork, exec) from their first instruction")
	return cmd
}

func attach(sel capture.Selector, o capture.Options, out string, term *terminal) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	term.hook(&o)
	s, err := capture.StartSelected(sel, o)
	if err != nil {
		return err
	}
	defer s.Close() // after the outputs: detaching may take the kernel seconds
	ps := s.Probes()
	targets := ps.Targets()
	who := fmt.Sprintf("%d processes", len(targets))
	if len(targets) == 1 {
		who = fmt.Sprintf("pid %d (%s)", targets[0].PID, targets[0].Comm)
	}
	if sel.Comm != nil || sel.Cgroup != "" {
		who += ", and any that start matching " + sel.String()
	}
	fmt.Fprintf(os.Stderr, "perfprobe: attached to %s in %s: probes %s at %d Hz; %s\n",
		who, ps.AttachDuration().Round(time.Millisecond), strings.Join(ps.Attached(), ","), o.Hz, stopHint(o.Duration))
	for _, line := range ps.Skipped() {
		fmt.Fprintln(os.Stderr, "perfprobe:", line)
	}
	// One pid and nothing more to come: its exit ends the window at once
	// (the others end when every target has exited, seen by polling).
	var done <-chan struct{}
	if len(sel.PIDs) == 1 && sel.Comm == nil && sel.Cgroup == "" && !o.Children {
		done = s.Target().Exited()
	}
	cause := s.Wait(ctx, done, capture.EndTargetExited)
	term.clear()
	stop() // a second Ctrl-C while writing kills perfprobe
	if cause == capture.EndTargetExited {
		fmt.Fprintln(os.Stderr, "perfprobe: the target exited; writing what was collected")
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
	return "capturing until the targets exit or Ctrl-C"
}
