package gate

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
	// Files are the result files `baseline update` copied (relative to
	// the meta.json), replaced by the next update.
	Files []string `json:"files,omitempty"`
}

// ThisMachine describes this machine now; the commit is that of the git
// work tree at dir, when there is one.
func ThisMachine(dir string) *Meta {
	m := &Meta{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Truncate(time.Second)}
	m.Machine, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		m.MemoryMB = int(uint64(si.Totalram) * uint64(si.Unit) >> 20)
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out)) // the toolchain that built what was measured
	}
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = dir
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no")
		cmd.Dir = dir
		if out, err := cmd.Output(); err == nil && len(out) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
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
