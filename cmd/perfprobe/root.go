package main

import (
	"errors"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status (e.g. the status of the
// command `perfprobe run` started).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "perfprobe",
		Short: "Tell why a process is slow: eBPF on-CPU and scheduler profiles, symbolized",
		Long: `perfprobe attaches eBPF probes to a running process and tells where it burns
CPU, where its threads block and where they wait in the run queue for a CPU.
For a Go target it merges the Go runtime's own CPU and fgprof wall-clock
profiles of the same window. It writes a pprof profile (go tool pprof), one
self-contained flamegraph.html, folded stacks, capture.json and a summary in
plain words. Capturing needs Linux with BTF and root (or CAP_BPF+CAP_PERFMON);
flame, diff and convert work on any profile file, as any user.`,
		Example: `  sudo perfprobe attach 1234                 # 10 s capture of pid 1234
  sudo perfprobe attach --duration 30s $(pgrep -n myservice)
  sudo perfprobe run -- ./bench -n 1000      # profile a command from exec to exit
  sudo perfprobe doctor                      # which probes work on this machine
  perfprobe flame perfprobe-1234-20261126-101500     # flamegraph.html of a capture
  perfprobe diagnose perfprobe-1234-20261126-101500  # what is wrong, against your bottleneck list
  perfprobe init                             # a starter bottleneck list and SLOs
  sudo perfprobe agent --comm '^myservice$'     # continuous: a profile every 15 s to /var/lib/perfprobe
  perfprobe diff before/ after/              # what grew, what shrank
  perfprobe flame --store /var/lib/perfprobe --from -1h --service api  # the agent's last hour
  perfprobe convert cpu.pprof --to speedscope -o cpu.json
  perfprobe gate --baseline testing/performance/baselines --current bench.txt   # CI: fail on a regression
  perfprobe bench --base ./old-build --head ./new-build --pairs 10              # A/B on one machine`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.AddCommand(newCmdAttach(), newCmdRun(), newCmdDiagnose(), newCmdInit(), newCmdAgent(), newCmdFlame(), newCmdDiff(), newCmdConvert(), newCmdDoctor(), newCmdGate(), newCmdBench(), newCmdBaseline())
	return root
}

// version is the module version perfprobe was built from ("(devel)" for a
// local build), with the VCS revision when known.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}
