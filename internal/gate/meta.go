package gate

import (
	"fmt"
	"strings"
	"time"
)

// Meta describes where a side's results were measured: `perfprobe
// baseline update` writes it as meta.json next to the results, and gate
// warns when the two sides come from different kinds of machine.
type Meta struct {
	Machine   string    `json:"machine"` // hostname
	Kernel    string    `json:"kernel"`  // uname -r
	CPUModel  string    `json:"cpu_model"`
	CPUs      int       `json:"cpus"`
	MemoryMB  int       `json:"memory_mb"`
	GoVersion string    `json:"go_version"`
	Commit    string    `json:"commit,omitempty"`
	Date      time.Time `json:"date"`
}

// machineWarnings says when the two sides were measured on different
// kinds of machine, where absolute figures do not compare.
func machineWarnings(base, head *Meta) []string {
	if base == nil || head == nil {
		return nil
	}
	var diffs []string
	if base.CPUModel != head.CPUModel {
		diffs = append(diffs, fmt.Sprintf("CPU %q vs %q", base.CPUModel, head.CPUModel))
	}
	if base.CPUs != head.CPUs {
		diffs = append(diffs, fmt.Sprintf("%d vs %d CPUs", base.CPUs, head.CPUs))
	}
	if kernelSeries(base.Kernel) != kernelSeries(head.Kernel) {
		diffs = append(diffs, fmt.Sprintf("kernel %s vs %s", base.Kernel, head.Kernel))
	}
	if base.GoVersion != head.GoVersion {
		diffs = append(diffs, fmt.Sprintf("%s vs %s", base.GoVersion, head.GoVersion))
	}
	if len(diffs) == 0 {
		return nil
	}
	return []string{"the baseline comes from a different kind of machine (" + strings.Join(diffs, ", ") + "): absolute figures may differ for that alone; `perfprobe bench` compares two builds on one machine"}
}

// kernelSeries is "6.18" of "6.18.3-amd64".
func kernelSeries(k string) string {
	parts := strings.SplitN(k, ".", 3)
	if len(parts) < 2 {
		return k
	}
	return parts[0] + "." + strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
}
