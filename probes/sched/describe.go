package sched

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
		Name: "sched", Default: true, Rank: 20,
		Doc: "off-CPU time: blocked (switch-out to wakeup, D state apart) and run-queue latency, with the stacks that waited",
		New: func() probes.Probe { return &Probe{} },
		SampleTypes: []profile.SampleType{
			{Name: profile.TypeOffCPUBlocked, Unit: "nanoseconds", Core: true, Rank: 20,
				Desc: "Off-CPU time: from switch-out until wakeup (sleeps, locks, I/O)"},
			{Name: profile.TypeOffCPURunqueue, Unit: "nanoseconds", Core: true, Rank: 21,
				Desc: "Run-queue latency: runnable but waiting for a CPU after wakeup or preemption"},
			{Name: profile.TypeOffCPUUninterruptible, Unit: "nanoseconds", Rank: 22,
				Desc: "Uninterruptible sleep (D state): the part of blocked time that could not be interrupted, often disk I/O"},
		},
		EventUnit: "switches",
		Counts: append([]probes.Fact{
			{Name: "voluntary_switches", Desc: "switch-outs of a thread that blocked"},
			{Name: "involuntary_switches", Desc: "switch-outs of a thread preempted while runnable"},
			{Name: "wakeups", Desc: "wakeups of the target's threads"},
			{Name: "new_threads", Desc: "threads the target created in the window"},
			{Name: "offcpu_stacks_reused", Desc: "switch-outs that reused the thread's last stacks (the stack interval)"},
		}, probes.LeafFacts("sched", "blocked and run-queue periods")...),
		Histograms: []probes.Fact{
			{Name: "runqueue", Desc: "wakeup or preemption to switch-in"},
			{Name: "blocked", Desc: "switch-out to wakeup"},
		},
		Drops: []probes.Fact{
			{Name: "sched_user_stack", Desc: "switch-outs whose user stack could not be stored"},
			{Name: "sched_kernel_stack", Desc: "switch-outs whose kernel stack could not be stored"},
			{Name: "sched_offcpu_full", Desc: "off-CPU intervals lost because the per-stack map was full"},
			{Name: "sched_threads_full", Desc: "threads not followed because the thread map was full"},
			{Name: "sched_unpaired_switch", Desc: "switch-ins without a switch-out seen in the window"},
			{Name: "sched_pid_hists_full", Desc: "off-CPU intervals left out of their process's histograms (the per-process map was full); the capture's histograms have them"},
			{Name: "sched_go_stacks_full", Desc: "locked goroutines' stacks not recorded (the map was full): the thread's runtime stack kept"},
			{Name: "sched_go_stack_collision", Desc: "locked goroutines' stacks whose hash another stack had: the thread's runtime stack kept"},
			{Name: "sched_go_locked_invalid", Desc: "switch-outs of a thread with a locked goroutine whose saved context did not check out (runtime layout not as expected): the thread's runtime stack kept"},
		},
		Summary: summary,
	})
}

func summary(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	if p == nil {
		return
	}
	threads := 0
	for _, t := range c.Threads {
		if t.BlockedNs > 0 {
			threads++
		}
	}
	total := profile.Total(p, profile.TypeOffCPUBlocked)
	fmt.Fprintf(w, "\nBlocked off CPU: %s across %d threads (sleeping, waiting on locks, I/O or other threads)\n", text.Ns(total), threads)
	var idle, prof int64
	for _, st := range profile.TopStacks(p, profile.TypeOffCPUBlocked, -1) {
		if st.GoIdle {
			idle += st.Value
		} else if st.Profiler {
			prof += st.Value
		}
	}
	if prof > 0 {
		fmt.Fprintf(w, "  %s of it is the Go runtime's profilers serving perfprobe's requests (left out below)\n", text.Ns(prof))
	}
	if idle > 0 {
		fmt.Fprintf(w, "  %s of it is idle Go runtime threads (no goroutine ready to run); %s is the program waiting:\n", text.Ns(idle), text.Ns(total-idle-prof))
	}
	text.TopStacks(w, p, profile.TypeOffCPUBlocked, 5, true)
	if d := profile.Total(p, profile.TypeOffCPUUninterruptible); d > 0 {
		fmt.Fprintf(w, "  %s of it uninterruptible (D state: disk I/O, page faults, some locks):\n", text.Ns(d))
		text.TopStacks(w, p, profile.TypeOffCPUUninterruptible, 3, false)
	}
	fmt.Fprintf(w, "\nRun queue: %s runnable but waiting for a CPU\n", text.Ns(profile.Total(p, profile.TypeOffCPURunqueue)))
	if h := c.Histograms["runqueue"]; h != nil && h.Count > 0 {
		fmt.Fprintf(w, "  latency %s  (%d waits)\n", text.Percentiles(h), h.Count)
	}
	text.TopStacks(w, p, profile.TypeOffCPURunqueue, 3, false)
	fmt.Fprintf(w, "\nContext switches: %d voluntary, %d involuntary (preempted while runnable)\n",
		c.Counts["voluntary_switches"], c.Counts["involuntary_switches"])
}
