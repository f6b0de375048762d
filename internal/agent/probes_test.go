package agent

// The probes register themselves; the binary composes them in main.
import (
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
)
