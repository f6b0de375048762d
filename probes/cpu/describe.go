package cpu

import (
	"fmt"
	"io"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/text"
)

func init() {
	probes.Register(probes.Description{
		Name: "cpu", Default: true, Rank: 10,
		Doc: "on-CPU stacks sampled at a fixed frequency on every CPU",
		New: func() probes.Probe { return &Probe{} },
		SampleTypes: []profile.SampleType{{Name: profile.TypeOnCPU, Unit: "nanoseconds", Core: true, Samples: true, Rank: 10,
			Desc: "On-CPU time: running on a CPU, estimated from sampling"}},
		EventUnit: "samples",
		Counts: append([]probes.Fact{
			{Name: "oncpu_samples", Desc: "samples taken in the target"},
			{Name: "oncpu_signal_frames", Desc: "of them, taken in a signal handler: the interrupted function is put back under the handler's frames"},
		}, probes.LeafFacts("cpu", "samples")...),
		Drops: []probes.Fact{
			{Name: "cpu_user_stack", Desc: "samples whose user stack could not be stored"},
			{Name: "cpu_kernel_stack", Desc: "samples whose kernel stack could not be stored"},
			{Name: "cpu_counts_full", Desc: "samples lost because the per-stack count map was full"},
		},
		Summary: summary,
	})
}

func summary(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nOn CPU: %s of CPU time (%d samples at %d Hz)\n", text.Ns(profile.Total(p, profile.TypeOnCPU)), c.Counts["oncpu_samples"], c.Hz)
	text.TopFunctions(w, p, profile.TypeOnCPU, 10)
}
