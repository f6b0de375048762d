package gate

import "time"

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
