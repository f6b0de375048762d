package flame

// The probes declare perfprobe's sample types and their descriptions,
// which the page shows.
import (
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
)
