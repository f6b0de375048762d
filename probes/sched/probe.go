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

// The windows map's slots and the window's own key in a threads map; they
// mirror sched.h.
const (
	windowCur  = 0
	windowPrev = 1
	windowKey  = 0
)

// SwitchFromTask makes the probe read the state a thread leaves the CPU in
// from its task_struct, as on kernels before 5.18 whose sched_switch
// tracepoint does not pass it. Read at Attach; tests use it to run that
// program on newer kernels.
var SwitchFromTask = false

// Probe watches the scheduler for the targets' threads.
type Probe struct {
	objs   schedObjects
	progs  map[string]*ebpf.Program
	loaded bool
	links  []link.Link
	path   []string

	// Rolling windows (Drain): each window has its own threads map.
	threadsSpec *ebpf.MapSpec   // to make the next window's
	cur         *ebpf.Map       // this window's (objs.Threads is the first), in both slots of windows between drains
	prev        *ebpf.Map       // in the WINDOW_PREV slot: cur, unless a Drain failed half-way
	next        *ebpf.Map       // the next window's, made ahead so that a switch is one update
	win         uint32          // this window's index, 0 or 1
	fromNs      uint64          // when this window began
	drained     [dropMax]uint64 // drops counted in earlier windows
	switches    uint64          // switches counted in earlier windows (Progress)

	stacks *probes.Stacks            // stack ids stay valid across windows: read once
	unseen map[int]map[uint32]unseen // per target: its threads not switched yet
}

// unseen is a thread the scheduler has not switched since its process
// became a target: its name and state ('R' running, ...; 0: gone).
type unseen struct {
	name  string
	state byte
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
	p.threadsSpec = spec.Maps["threads"].Copy()
	p.progs, err = probes.LoadPrograms(spec, o.Collection(), keep, &p.objs.schedMaps, &p.objs.schedVariables)
	if err != nil {
		return fmt.Errorf("loading sched objects: %w", err)
	}
	p.loaded, p.cur, p.prev = true, p.objs.Threads, p.objs.Threads
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

// Begin implements probes.Probe: the first window starts at
// windowStartNs.
func (p *Probe) Begin(windowStartNs uint64) error {
	if err := p.cur.Put(uint32(windowKey), schedThreadValue{FromNs: windowStartNs}); err != nil {
		return fmt.Errorf("starting the window: %w", err)
	}
	p.fromNs = windowStartNs
	p.next, _ = ebpf.NewMap(p.threadsSpec) // or at the first Drain
	return p.objs.WindowStartNs.Set(windowStartNs)
}

// Progress implements probes.Probe.
func (p *Probe) Progress() probes.Progress {
	var pr probes.Progress
	if !p.loaded {
		return pr
	}
	pr.Events = p.switches
	if c, err := probes.SumPerCPU(p.objs.Counters, 2*countMax); err == nil {
		for _, w := range []int{0, countMax} {
			pr.Events += c[w+countVoluntary] + c[w+countInvoluntary]
		}
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
// counts and drops of the current window (since Begin or the last Drain)
// to c. Intervals still open at endNs are closed there.
func (p *Probe) Collect(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	_, err := p.read(c, p.cur, p.win, p.fromNs, endNs, true)
	return err
}

// Drain implements probes.Drainer. The programs move to a new threads map
// whose window starts at endNs, and the one they leave, which no program
// writes once the update returns, is read into c: intervals open at endNs
// are split there (their first part in this window, the rest in the
// next), and each thread's entry is carried to the new window unless its
// first event there did that already (carry). The histograms, counts and
// per-stack time of the window are then cleared for the window after
// next. An interval that ends between endNs and the switch (one map update,
// made ready beforehand) counts whole in the window that ends.
func (p *Probe) Drain(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	if p.prev != p.cur { // the last Drain failed before the end
		if err := p.setPrev(); err != nil {
			return err
		}
	}
	next := p.next
	if next == nil {
		var err error
		if next, err = ebpf.NewMap(p.threadsSpec); err != nil {
			return fmt.Errorf("creating the next window's threads map: %w", err)
		}
	}
	p.next = nil
	win := p.win ^ 1
	if err := next.Put(uint32(windowKey), schedThreadValue{FromNs: endNs, Win: win}); err != nil {
		next.Close()
		return fmt.Errorf("starting the next window: %w", err)
	}
	if err := p.objs.Windows.Update(uint32(windowCur), next, ebpf.UpdateAny); err != nil {
		next.Close()
		return fmt.Errorf("switching windows: %w", err)
	}
	old, oldWin, from := p.cur, p.win, p.fromNs
	p.cur, p.win, p.fromNs = next, win, endNs
	threads, err := p.read(c, old, oldWin, from, endNs, false)
	if err == nil {
		p.carry(c, threads, endNs, win)
	}
	if err := p.setPrev(); err != nil {
		c.Warnings = append(c.Warnings, "probe sched: "+err.Error())
	}
	p.next, _ = ebpf.NewMap(p.threadsSpec) // or at the next Drain
	return err
}

// carry puts every thread of the window that ended and is still there in
// the new window's map, as its first event there would (carry in
// sched.bpf.c): the copy that gets there first stays, both being the same.
func (p *Probe) carry(c *profile.Capture, threads []thread, fromNs uint64, win uint32) {
	targets := map[uint32]bool{}
	for _, th := range threads {
		if th.v.Open == offNone && th.v.InNs == 0 {
			continue // exited
		}
		target, ok := targets[th.v.Tgid]
		if !ok {
			var ti schedTargetInfo
			target = p.objs.Targets.Lookup(th.v.Tgid, &ti) == nil
			targets[th.v.Tgid] = target
		}
		if !target {
			continue // its process is no target any more
		}
		n := th.v
		carry(&n, fromNs, win)
		err := p.cur.Update(th.tid, &n, ebpf.UpdateNoExist)
		if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("probe sched: carrying thread %d to the next window: %v", th.tid, err))
		}
	}
}

// setPrev makes the current map the one threads are carried from too, now
// that every thread of the previous one is in it, and closes the previous
// one, which no program reads once the update returns.
func (p *Probe) setPrev() error {
	if err := p.objs.Windows.Update(uint32(windowPrev), p.cur, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("retiring the previous window: %w", err)
	}
	p.closeThreads(p.prev)
	p.prev = p.cur
	return nil
}

// carry turns n, a thread's entry at the end of a window, into its entry
// in the next window, which starts at fromNs and has index win: as carry in
// sched.bpf.c does on the thread's first event there, so that whichever
// comes first, the entry is the same.
func carry(n *schedThreadValue, fromNs uint64, win uint32) {
	n.OncpuNs, n.BlockedNs, n.RunqNs, n.DstateNs = 0, 0, 0, 0
	n.Voluntary, n.Involuntary = 0, 0
	n.AccBlockedNs, n.AccRunqNs = [kindMax]uint64{}, [kindMax]uint64{}
	n.AccBlockedCount, n.AccRunqCount = [kindMax]uint64{}, [kindMax]uint64{}
	n.FromNs, n.Win = fromNs, win
}

// closeThreads closes a threads map no slot holds any more (objs.Threads
// too: closing a map twice does nothing).
func (p *Probe) closeThreads(m *ebpf.Map) {
	if m != nil {
		m.Close()
	}
}

// thread is one entry of a threads map.
type thread struct {
	tid uint32
	v   schedThreadValue
}

// open is the time of a thread's entry that the entry has not counted
// yet at the end of its window: on CPU since its last switch-in, or the
// parts of its open off-CPU interval, each from the window's start
// (FromNs) at the earliest to end at the latest. A part's count goes to
// the window where it ends: nBlocked is 1 when the blocked part ended in
// the window (the wakeup came in it), nRunq is 0 (the thread is still
// waiting). At the end of the capture (final) both end: each part with
// time counts 1.
type open struct {
	oncpu, blocked, runq uint64
	nBlocked, nRunq      uint64
}

func openAt(v *schedThreadValue, end uint64, final bool) open {
	at := func(x uint64) uint64 { return min(max(x, v.FromNs), end) }
	var o open
	if v.Open == offNone {
		if v.InNs != 0 {
			o.oncpu = end - at(v.InNs)
		}
		return o
	}
	if v.Open == offStack {
		woken := end
		if v.WakeNs != 0 {
			woken = at(v.WakeNs)
		}
		o.blocked = woken - at(v.OffNs)
		if o.blocked > 0 && (final || (v.WakeNs != 0 && v.WakeNs > v.FromNs && v.WakeNs <= end)) {
			o.nBlocked = 1
		}
	}
	if v.WakeNs != 0 {
		o.runq = end - at(v.WakeNs)
		if final && o.runq > 0 {
			o.nRunq = 1
		}
	}
	return o
}

// read adds what the threads map of window win (begun at fromNs) and the
// window's slots in the other maps hold to c, closing what is open at
// endNs, and returns the threads. Unless final (Collect), it then clears
// the window's histograms, counts and per-stack time.
func (p *Probe) read(c *profile.Capture, threads *ebpf.Map, win uint32, fromNs, endNs uint64, final bool) ([]thread, error) {
	if p.stacks == nil {
		p.stacks = probes.NewStacks(p.objs.Stacks)
	}
	stacks := p.stacks
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

	tids, values, err := probes.Entries[uint32, schedThreadValue](threads)
	if err != nil {
		return nil, fmt.Errorf("reading thread accounting: %w", err)
	}
	all, seen := make([]thread, 0, len(tids)), make(map[uint32]bool, len(tids))
	for i, tid := range tids {
		if tid != windowKey {
			all = append(all, thread{tid, values[i]})
		}
	}
	var pending []func() // stacks of time not yet in offcpu, added after its entries are read
	for i := range all {
		tid, tv := all[i].tid, &all[i].v
		th := probes.Thread(c, tv.Tgid, tid, probes.CommString(tv.Comm))
		o := openAt(tv, endNs, final)
		th.OnCPUNs += tv.OncpuNs + o.oncpu
		th.BlockedNs += tv.BlockedNs + o.blocked
		th.RunqueueNs += tv.RunqNs + o.runq
		th.UninterruptibleNs += tv.DstateNs
		c.Counts["voluntary_switches"] += tv.Voluntary
		c.Counts["involuntary_switches"] += tv.Involuntary
		seen[tid] = true
		pid, name := tv.Tgid, th.Name
		for k := range kindMax { // time accumulated in the thread, not yet in offcpu
			user, kernel := tv.UserStack[k], tv.KernelStack[k]
			b, r, nb, nr := tv.AccBlockedNs[k], tv.AccRunqNs[k], tv.AccBlockedCount[k], tv.AccRunqCount[k]
			var d, nd uint64
			if k == kindDState {
				d, nd = b, nb
			}
			if nb+nr > 0 {
				pending = append(pending, func() { add(pid, tid, name, user, kernel, b, r, nb, nr, d, nd) })
			}
		}
		if tv.Open == offStack { // open at the end: its part in this window
			k := min(tv.Kind, kindMax-1)
			user, kernel := tv.UserStack[k], tv.KernelStack[k]
			var d uint64
			if k == kindDState {
				d = o.blocked
				th.UninterruptibleNs += o.blocked
			}
			pending = append(pending, func() { add(pid, tid, name, user, kernel, o.blocked, o.runq, o.nBlocked, o.nRunq, d, o.nBlocked) })
		}
	}
	for _, f := range pending {
		f()
	}

	keys, vals, err := probes.Entries[schedOffcpuKey, schedOffcpuValue](p.objs.Offcpu)
	if err != nil {
		return nil, fmt.Errorf("reading off-CPU stacks: %w", err)
	}
	var done []schedOffcpuKey
	for i, ok := range keys {
		if ok.Win != win {
			continue // the next window's, written meanwhile
		}
		ov := &vals[i]
		add(ok.Tgid, ok.Tid, probes.CommString(ov.Comm), ok.UserStack, ok.KernelStack, ov.BlockedNs, ov.RunqNs, ov.BlockedCount, ov.RunqCount, ov.DstateNs, ov.DstateCount)
		done = append(done, ok)
	}

	// Threads the scheduler never switched while their process was a
	// target ran or slept through all of that time; their state tells
	// which. They are listed once per target, with their state, at the end
	// of its first window: a thread cannot change state unseen (it would
	// be switched or woken), a thread made later is seen when it is woken
	// new, and a thread once seen keeps its entry, carried from window to
	// window.
	if p.unseen == nil {
		p.unseen = map[int]map[uint32]unseen{}
	}
	live := map[int]bool{}
	for _, t := range c.Targets {
		if !t.Exited.IsZero() || !t.Removed.IsZero() {
			continue
		}
		live[t.PID] = true
		since := fromNs
		if t.Added.After(c.Start) {
			since += uint64(t.Added.Sub(c.Start))
		}
		if since >= endNs {
			continue
		}
		list, ok := p.unseen[t.PID]
		if !ok {
			list = map[uint32]unseen{}
			for tid, name := range probes.ThreadNames(t.PID) {
				if !seen[tid] {
					list[tid] = unseen{name, threadState(t.PID, tid)}
				}
			}
			p.unseen[t.PID] = list
		}
		for tid, u := range list {
			switch {
			case seen[tid], u.state == 0: // seen from now on, or gone
				delete(list, tid)
			case u.state == 'R':
				probes.Thread(c, uint32(t.PID), tid, u.name).OnCPUNs += endNs - since
			default:
				probes.Thread(c, uint32(t.PID), tid, u.name).BlockedNs += endNs - since
			}
		}
	}
	for pid := range p.unseen {
		if !live[pid] {
			delete(p.unseen, pid)
		}
	}

	for i, name := range []string{"runqueue", "blocked"} {
		h, err := probes.SumHist(p.objs.Hists, win*histMax+uint32(i))
		if err != nil {
			return nil, fmt.Errorf("reading histogram %s: %w", name, err)
		}
		c.Histograms[name] = h
	}
	counts, err := probes.SumPerCPUAt(p.objs.Counters, int(win)*countMax, countMax)
	if err != nil {
		return nil, err
	}
	c.Counts["wakeups"] = counts[countWakeups]
	c.Counts["new_threads"] = counts[countNewThreads]
	c.Counts["offcpu_stacks_reused"] = counts[countStacksReused]
	d, err := probes.SumPerCPU(p.objs.Drops, dropMax)
	if err != nil {
		return nil, err
	}
	for i, n := range dropNames {
		c.Drops[n] = d[i] - p.drained[i]
	}
	if final {
		return all, nil
	}
	p.drained = [dropMax]uint64(d)
	p.switches += counts[countVoluntary] + counts[countInvoluntary]
	probes.DeleteKeys(p.objs.Offcpu, done)
	if err := probes.ClearPerCPU(p.objs.Hists, int(win)*histMax, histMax); err != nil {
		return nil, err
	}
	if err := probes.ClearPerCPU(p.objs.Counters, int(win)*countMax, countMax); err != nil {
		return nil, err
	}
	return all, nil
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
		if p.prev != p.cur {
			p.closeThreads(p.prev)
		}
		p.closeThreads(p.cur)
		if p.next != nil {
			p.next.Close()
		}
		p.cur, p.prev, p.next = nil, nil, nil
		return p.objs.Close()
	}
	return nil
}
