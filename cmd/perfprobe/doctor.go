package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/probes"
)

func newCmdDoctor() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check which probes work on this machine, and why not",
		Long: `doctor checks the kernel version, BTF, privileges, memlock, the eBPF program
and map types perfprobe uses, perf_event sampling and uprobes, what it can tell of targets in containers
(their files through /proc/PID/root, their pid inside, their cgroup), then loads
and attaches every probe for real (against perfprobe itself) and detaches
it. It exits non-zero when no probe can work.

PERFPROBE_BTF_PATH overrides where kernel BTF is read from.`,
		Example: `  sudo perfprobe doctor`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return doctor()
		},
	}
}

func doctor() error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tSTATUS\tDETAIL")
	print := func(cs []probes.Check) {
		for _, c := range cs {
			status := "ok"
			if !c.OK {
				status = "FAIL"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", c.Name, status, c.Detail)
			if !c.OK && c.Fix != "" {
				fmt.Fprintf(w, "\t\t-> %s\n", c.Fix)
			}
		}
	}
	print(probes.CheckSystem())
	print(probes.CheckContainers())
	pcs := probes.CheckProbes()
	print(pcs)
	w.Flush()
	working, total := 0, 0
	for _, c := range pcs {
		if !strings.HasPrefix(c.Name, "probe ") {
			continue // the session's own programs, not a probe
		}
		total++
		if c.OK {
			working++
		}
	}
	if working == 0 {
		return errors.New("no probe can work on this machine; fix the FAIL lines above")
	}
	fmt.Printf("\n%d of %d probes work here.\n", working, total)
	return nil
}
