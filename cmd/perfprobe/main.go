// Command perfprobe tells why a process is slow: it attaches eBPF probes to
// a running process (or one it starts) and writes a symbolized pprof
// profile, folded stacks, capture.json and a plain-words summary.
package main

import (
	"fmt"
	"os"

	"github.com/perfprobe/perfprobe/internal/capture"
	_ "github.com/perfprobe/perfprobe/plugins/builtin"
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
)

func main() {
	capture.RunExecShimIfAsked() // the held child of `perfprobe run` becomes the command here
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "perfprobe:", err)
		os.Exit(exitCode(err))
	}
}
