package sched

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// Indexes of the hists, counters and drops arrays; they mirror sched.h.
const (
	histRunq = iota
	histBlocked
	histMax
)

const (
	countVoluntary = iota
	countInvoluntary
	countWakeups
	countNewThreads
	countStacksReused
	countMax
)

const (
	dropUserStack = iota
	dropKernelStack
	dropOffcpuFull
	dropThreadsFull
	dropUnpaired
	dropMax
)

var dropNames = [dropMax]string{"sched_user_stack", "sched_kernel_stack", "sched_offcpu_full", "sched_threads_full", "sched_unpaired_switch"}

// Kinds of switch-out; they mirror enum kind in sched.h.
const (
	kindSleep = iota
	kindPreempted
	kindDState
	kindMax
)

// Open-interval states of a thread; they mirror enum interval in sched.h.
const (
	offNone = iota
	offStack
	offNoStack
)

// SwitchFromTask makes the probe read the state a thread leaves the CPU in
// from its task_struct, as on kernels before 5.18 whose sched_switch
// tracepoint does not pass it. Read at Attach; tests use it to run that
// program on newer kernels.
var SwitchFromTask = false

// Probe watches the scheduler for the targets' threads.
type Probe struct {
	objs    schedObjects
	progs   map[string]*ebpf.Program
	loaded  bool
	links   []link.Link
	startNs uint64
	path    []string
}

// Path implements probes.Path.
func (p *Probe) Path() string { return strings.Join(p.path, "; ") }

// choosePrograms picks the sched_switch program for this kernel's
// tracepoint arguments, and says why.
func (p *Probe) choosePrograms(k *probes.Kernel) ([]string, error) {
	for _, tp := range []string{"sched_wakeup", "sched_wakeup_new"} {
		if !k.Tracepoint(tp, 1) {
			return nil, &probes.Missing{What: "the " + tp + "(p) tracepoint for BPF programs (tp_btf)", Since: "5.5"}
		}
	}
	withState := k.Tracepoint("sched_switch", 4)
	switch {
	case withState && !SwitchFromTask:
		p.path = append(p.path, "sched_switch passes prev_state")
		return []string{"handle_sched_switch", "handle_sched_wakeup", "handle_sched_wakeup_new"}, nil
	case withState || k.Tracepoint("sched_switch", 3):
		why := "Linux 5.18+ passes it"
		if withState {
			why = "forced"
		}
		p.path = append(p.path, "prev_state read from the task ("+why+")")
		return []string{"handle_sched_switch_task_state", "handle_sched_wakeup", "handle_sched_wakeup_new"}, nil
	}
	return nil, &probes.Missing{What: "the sched_switch(preempt, prev, next) tracepoint for BPF programs (tp_btf)", Since: "5.5"}
}

// Name implements probes.Probe.
func (p *Probe) Name() string { return "sched" }

// Attach loads the programs filtered to the session's targets and
// attaches them to the scheduler tracepoints.
func (p *Probe) Attach(t *probes.Target, o probes.Options) error {
	k, err := probes.ReadKernel()
	if err != nil {
		return err
	}
	keep, err := p.choosePrograms(k)
	if err != nil {
		return err
	}
	spec, err := loadSched()
	if err != nil {
		return fmt.Errorf("loading sched spec: %w", err)
	}
	// Without bpf_task_pt_regs (5.15+) a blocking switch-out cannot tell
	// where the thread entered the kernel, so stacks are reused by time alone.
	regs := k.Helper(ebpf.TracePoint, asm.FnTaskPtRegs) == nil // the same helper set as tp_btf programs
	if !regs {
		p.path = append(p.path, "stacks reused by time alone (bpf_task_pt_regs is Linux 5.15+)")
	}
	if err := spec.Variables["have_task_pt_regs"].Set(regs); err != nil {
		return fmt.Errorf("setting have_task_pt_regs: %w", err)
	}
	if err := spec.Variables["stack_interval_ns"].Set(uint64(o.StackInterval)); err != nil {
		return fmt.Errorf("setting stack_interval_ns: %w", err)
	}
	p.progs, err = probes.LoadPrograms(spec, o.Collection(), keep, &p.objs.schedMaps, &p.objs.schedVariables)
	if err != nil {
		return fmt.Errorf("loading sched objects: %w", err)
	}
	p.loaded = true
	if err := o.FillTargets(p.objs.Targets, t); err != nil {
		return err
	}
	for _, name := range keep {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.progs[name]})
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// Begin implements probes.Probe.
func (p *Probe) Begin(windowStartNs uint64) error {
	p.startNs = windowStartNs
	return p.objs.WindowStartNs.Set(windowStartNs)
}

// Progress implements probes.Probe.
func (p *Probe) Progress() probes.Progress {
	var pr probes.Progress
	if !p.loaded {
		return pr
	}
	if c, err := probes.SumPerCPU(p.objs.Counters, countMax); err == nil {
		pr.Events = c[countVoluntary] + c[countInvoluntary]
	}
	if d, err := probes.SumPerCPU(p.objs.Drops, dropMax); err == nil {
		pr.Drops = d[dropOffcpuFull] + d[dropThreadsFull]
	}
	return pr
}

// Detach stops the programs; the maps stay readable.
func (p *Probe) Detach() {
	for _, l := range p.links {
		l.Close()
	}
	p.links = nil
}

// Collect adds off-CPU stacks, thread accounting, histograms, switch
// counts and drops to c. Intervals still open at endNs are closed there.
func (p *Probe) Collect(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	stacks := probes.NewStacks(p.objs.Stacks)
	add := func(pid, tid uint32, name string, user, kernel int32, blocked, runq, nb, nr, dstate, nd uint64) {
		u, k := stacks.Get(user), stacks.Get(kernel)
		if blocked > 0 {
			c.Stacks = append(c.Stacks, profile.Stack{Type: profile.TypeOffCPUBlocked, PID: pid, TID: tid, Thread: name, User: u, Kernel: k, Value: int64(blocked), Count: int64(nb)})
		}
		if dstate > 0 {
			c.Stacks = append(c.Stacks, profile.Stack{Type: profile.TypeOffCPUUninterruptible, PID: pid, TID: tid, Thread: name, User: u, Kernel: k, Value: int64(dstate), Count: int64(nd)})
		}
		if runq > 0 {
			c.Stacks = append(c.Stacks, profile.Stack{Type: profile.TypeOffCPURunqueue, PID: pid, TID: tid, Thread: name, User: u, Kernel: k, Value: int64(runq), Count: int64(nr)})
		}
	}

	var (
		tk   uint32
		tv   schedThreadValue
		open []func()
		seen = map[uint32]bool{}
	)
	it := p.objs.Threads.Iterate()
	for it.Next(&tk, &tv) {
		th := probes.Thread(c, tv.Tgid, tk, probes.CommString(tv.Comm))
		th.OnCPUNs += tv.OncpuNs
		th.BlockedNs += tv.BlockedNs
		th.RunqueueNs += tv.RunqNs
		c.Counts["voluntary_switches"] += tv.Voluntary
		c.Counts["involuntary_switches"] += tv.Involuntary
		seen[tk] = true
		th.UninterruptibleNs += tv.DstateNs
		for k := range kindMax { // time accumulated in the thread, not yet in offcpu
			pid, tid, name, user, kernel := tv.Tgid, tk, th.Name, tv.UserStack[k], tv.KernelStack[k]
			b, r, nb, nr := tv.AccBlockedNs[k], tv.AccRunqNs[k], tv.AccBlockedCount[k], tv.AccRunqCount[k]
			var d, nd uint64
			if k == kindDState {
				d, nd = b, nb
			}
			if nb+nr > 0 {
				open = append(open, func() { add(pid, tid, name, user, kernel, b, r, nb, nr, d, nd) })
			}
		}
		switch {
		case tv.Open == offNone && tv.InNs != 0 && tv.InNs < endNs: // on CPU at the end
			th.OnCPUNs += endNs - tv.InNs
		case tv.Open != offNone: // off CPU at the end: close the interval there
			var blocked, runq uint64
			switch {
			case tv.WakeNs != 0 && tv.WakeNs < endNs:
				runq = endNs - tv.WakeNs
				if tv.Open == offStack {
					blocked = tv.WakeNs - tv.OffNs
				}
			case tv.WakeNs == 0 && tv.Open == offStack && tv.OffNs < endNs:
				blocked = endNs - tv.OffNs
			}
			th.BlockedNs += blocked
			th.RunqueueNs += runq
			if tv.Open == offStack {
				k := min(tv.Kind, kindMax-1)
				pid, tid, name, user, kernel := tv.Tgid, tk, th.Name, tv.UserStack[k], tv.KernelStack[k]
				var d uint64
				if k == kindDState {
					d = blocked
					th.UninterruptibleNs += blocked
				}
				open = append(open, func() { add(pid, tid, name, user, kernel, blocked, runq, 1, 1, d, 1) })
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading thread accounting: %w", err)
	}
	for _, f := range open {
		f()
	}

	var (
		ok schedOffcpuKey
		ov schedOffcpuValue
	)
	it = p.objs.Offcpu.Iterate()
	for it.Next(&ok, &ov) {
		add(ok.Tgid, ok.Tid, probes.CommString(ov.Comm), ok.UserStack, ok.KernelStack, ov.BlockedNs, ov.RunqNs, ov.BlockedCount, ov.RunqCount, ov.DstateNs, ov.DstateCount)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading off-CPU stacks: %w", err)
	}

	// Threads the scheduler never switched while their process was a
	// target ran or slept through all of that time; their state now tells
	// which.
	for _, t := range c.Targets {
		if !t.Exited.IsZero() || !t.Removed.IsZero() {
			continue
		}
		since := p.startNs
		if t.Added.After(c.Start) {
			since += uint64(t.Added.Sub(c.Start))
		}
		if since >= endNs {
			continue
		}
		for tid, name := range probes.ThreadNames(t.PID) {
			if seen[tid] {
				continue
			}
			th := probes.Thread(c, uint32(t.PID), tid, name)
			if state := threadState(t.PID, tid); state == 'R' {
				th.OnCPUNs += endNs - since
			} else if state != 0 {
				th.BlockedNs += endNs - since
			}
		}
	}

	for i, name := range []string{"runqueue", "blocked"} {
		h, err := probes.SumHist(p.objs.Hists, uint32(i))
		if err != nil {
			return fmt.Errorf("reading histogram %s: %w", name, err)
		}
		c.Histograms[name] = h
	}
	counts, err := probes.SumPerCPU(p.objs.Counters, countMax)
	if err != nil {
		return err
	}
	c.Counts["wakeups"] = counts[countWakeups]
	c.Counts["new_threads"] = counts[countNewThreads]
	c.Counts["offcpu_stacks_reused"] = counts[countStacksReused]
	d, err := probes.SumPerCPU(p.objs.Drops, dropMax)
	if err != nil {
		return err
	}
	for i, n := range dropNames {
		c.Drops[n] = d[i]
	}
	return nil
}

func threadState(pid int, tid uint32) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

// Programs implements probes.Probe.
func (p *Probe) Programs() map[string]*ebpf.Program {
	if !p.loaded {
		return nil
	}
	return p.progs
}

// Close implements probes.Probe.
func (p *Probe) Close() error {
	p.Detach()
	if p.loaded {
		p.loaded = false
		for _, prog := range p.progs {
			prog.Close()
		}
		return p.objs.Close()
	}
	return nil
}
