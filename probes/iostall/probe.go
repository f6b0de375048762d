package iostall

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/perfprobe/perfprobe/internal/tracefs"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

func init() {
	if len(syscallTable) > scMax {
		panic("iostall: more syscalls than slots (SC_MAX in iostall.h)")
	}
}

// Sizes mirrored from iostall.h.
const (
	scNrMax = 512
	scMax   = 32
)

// Indexes of the counters and drops arrays (enums of iostall.h, generated
// by bpf2go -type); the lengths are int, as SumPerCPU takes them.
const (
	countUnpairedExits     = iostallIostallCountCOUNT_UNPAIRED_EXITS
	countRestarted         = iostallIostallCountCOUNT_RESTARTED
	countSlow              = iostallIostallCountCOUNT_SLOW
	countBlockPartial      = iostallIostallCountCOUNT_BLOCK_PARTIAL
	countBlockUnpaired     = iostallIostallCountCOUNT_BLOCK_UNPAIRED
	countBlockIssueUnbuilt = iostallIostallCountCOUNT_BLOCK_ISSUE_UNBUILT
	countUnpairedEntries   = iostallIostallCountCOUNT_UNPAIRED_ENTRIES
	countMax               = int(iostallIostallCountCOUNT_MAX)
)

var countNames = [...]string{
	countUnpairedExits:     "syscalls_unpaired_exits",
	countRestarted:         "syscalls_restarted",
	countSlow:              "syscalls_slow",
	countBlockPartial:      "block_partial_completions",
	countBlockUnpaired:     "block_unpaired_completions",
	countBlockIssueUnbuilt: "block_issued_unbuilt",
	countUnpairedEntries:   "syscalls_unpaired_entries",
}

const (
	dropUserStack    = iostallIostallDropDROP_USER_STACK
	dropIowaitFull   = iostallIostallDropDROP_IOWAIT_FULL
	dropInflight     = iostallIostallDropDROP_INFLIGHT
	dropRequestsFull = iostallIostallDropDROP_REQUESTS_FULL
	dropDisksFull    = iostallIostallDropDROP_DISKS_FULL
	dropPidHists     = iostallIostallDropDROP_PID_HISTS_FULL
	dropMax          = int(iostallIostallDropDROP_MAX)
)

var dropNames = [...]string{
	dropUserStack:    "iostall_user_stack",
	dropIowaitFull:   "iostall_iowait_full",
	dropInflight:     "iostall_inflight",
	dropRequestsFull: "iostall_requests_full",
	dropDisksFull:    "iostall_disks_full",
	dropPidHists:     "iostall_pid_hists_full",
}

// Sized by COUNT_MAX and DROP_MAX: a value added last to enum iostall_count
// or iostall_drop without a name here does not compile.
var (
	_ [countMax]string = countNames
	_ [dropMax]string  = dropNames
)

// Who submitted a block request (enum origin), as disk_key.origin holds it.
const (
	originTarget = uint32(iostallOriginORIGIN_TARGET)
	originOther  = uint32(iostallOriginORIGIN_OTHER)
)

// tracedSyscall is one syscall the probe times.
type tracedSyscall struct {
	name  string // as strace names it; histograms are "syscall_<name>"
	nr    int    // x86-64 number
	bytes bool   // a positive return is a byte count
	event string // tracepoint name (sys_enter_<event>) when it differs from name
}

// syscallTable lists the traced syscalls with their x86-64 numbers; its
// order gives their slots in the syscalls map.
var syscallTable = []tracedSyscall{
	{name: "read", nr: 0, bytes: true},
	{name: "write", nr: 1, bytes: true},
	{name: "open", nr: 2},
	{name: "close", nr: 3},
	{name: "pread64", nr: 17, bytes: true},
	{name: "pwrite64", nr: 18, bytes: true},
	{name: "readv", nr: 19, bytes: true},
	{name: "writev", nr: 20, bytes: true},
	{name: "msync", nr: 26},
	{name: "sendfile", nr: 40, bytes: true, event: "sendfile64"},
	{name: "fsync", nr: 74},
	{name: "fdatasync", nr: 75},
	{name: "ftruncate", nr: 77},
	{name: "sync", nr: 162},
	{name: "io_getevents", nr: 208},
	{name: "io_submit", nr: 209},
	{name: "openat", nr: 257},
	{name: "sync_file_range", nr: 277},
	{name: "fallocate", nr: 285},
	{name: "preadv", nr: 295, bytes: true},
	{name: "pwritev", nr: 296, bytes: true},
	{name: "syncfs", nr: 306},
	{name: "copy_file_range", nr: 326, bytes: true},
	{name: "preadv2", nr: 327, bytes: true},
	{name: "pwritev2", nr: 328, bytes: true},
	{name: "io_pgetevents", nr: 333},
	{name: "io_uring_enter", nr: 426},
	{name: "openat2", nr: 437},
}

// RawSyscalls makes the probe time syscalls from the raw tp_btf
// sys_enter/sys_exit tracepoints instead of the per-syscall
// syscalls:sys_enter_<name>/sys_exit_<name> ones. Read at Attach.
//
// The raw tracepoints run a program for every syscall of every process on
// the machine; the per-syscall ones run only for the traced syscalls and
// leave every other syscall alone, which is why they are the default.
// Measured on Linux 6.18 (2-CPU VM, syscalls ~1.5 µs; throughput with the
// probe over without, medians of three runs of TestOverhead): an untraced
// syscall (getppid) of the target or of any other process runs at
// 0.78-0.81x with the raw tracepoints and 0.93-1.02x with the per-syscall
// ones; a traced one (1-byte pwrite64) at 0.77-0.84x (other process) and
// 0.69-0.74x (target) raw, 0.69-0.80x and 0.59-0.72x per-syscall. But
// detaching the per-syscall tracepoints takes 1.5-7 s (each waits for RCU
// grace periods, one after another under a kernel mutex; raw: 30 ms), and
// they need tracefs for their ids: the host's, or else one the probe
// mounts privately (internal/tracefs; needs CAP_SYS_ADMIN). Without either
// the probe falls back to the raw ones and says so in a capture warning.
var RawSyscalls = false

// BlockFromGetrq makes the probe time block requests the way it does on
// kernels before 6.5, which have no block_io_start: from block_getrq,
// joined to the request at block_rq_issue. Read at Attach; both ways are
// there on newer kernels, so tests can compare them.
var BlockFromGetrq = false

// blockPath is how block requests are timed on this kernel.
type blockPath int

const (
	blockNone    blockPath = iota
	blockIOStart           // block_io_start -> block_rq_complete (6.5+)
	blockGetrq             // block_getrq -> block_rq_issue -> block_rq_complete
)

// chooseBlockPath picks the block hooks this kernel has, with the argument
// layout the programs are written for, and says why.
func chooseBlockPath(k *probes.Kernel) (blockPath, string) {
	if !k.Tracepoint("block_rq_complete", 3) {
		return blockNone, "no block latency: this kernel has no block_rq_complete(rq, error, nr_bytes) tracepoint (Linux 4.13+)"
	}
	switch {
	case k.Tracepoint("block_io_start", 1) && !BlockFromGetrq:
		return blockIOStart, "block requests timed from block_io_start to block_rq_complete"
	case k.Tracepoint("block_getrq", 1) && k.Tracepoint("block_rq_issue", 1):
		why := "block_io_start is Linux 6.5+"
		if BlockFromGetrq {
			why = "forced"
		}
		return blockGetrq, "block requests timed from block_getrq (joined at block_rq_issue) to block_rq_complete (" + why + ")"
	}
	return blockNone, "no block latency: this kernel has neither block_io_start(rq) (6.5+) nor block_getrq(bio) and block_rq_issue(rq) (5.11+)"
}

// Probe times the targets' I/O syscalls and every disk's requests.
type Probe struct {
	objs     iostallObjects
	loaded   bool
	links    []io.Closer
	closing  chan struct{} // closed once links detached in the background are gone
	progs    map[string]*ebpf.Program
	warnings []string
	path     []string // the hooks chosen for this kernel, and why
	pidHists bool     // histograms per target process (Options.TargetHistograms)

	window  *probes.Window  // rolling windows (Drain)
	drained [dropMax]uint64 // drops counted in earlier windows
	calls   uint64          // syscalls counted in earlier windows (Progress)
	stacks  *probes.Stacks  // stack ids stay valid across windows: read once
}

// Path implements probes.Path.
func (p *Probe) Path() string { return strings.Join(p.path, "; ") }

// Name implements probes.Probe.
func (p *Probe) Name() string { return "iostall" }

// Attach loads the programs filtered to the session's targets and
// attaches them to the syscall and block tracepoints.
func (p *Probe) Attach(t *probes.Target, o probes.Options) error {
	if runtime.GOARCH != "amd64" {
		return &probes.Skipped{Reason: "iostall knows the syscall numbers of amd64 only"}
	}
	k, err := probes.ReadKernel()
	if err != nil {
		return err
	}
	if err := k.MapType(ebpf.TaskStorage); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return &probes.Missing{What: "task local storage maps (where a syscall's start time is kept)", Since: "5.11"}
		}
		return err
	}
	spec, err := loadIostall()
	if err != nil {
		return fmt.Errorf("loading iostall spec: %w", err)
	}
	// Syscalls at least this slow are attributed to the user stack that
	// made them (sample type iowait); faster ones only count in the
	// per-syscall histograms.
	threshold := o.IOThreshold
	if threshold < 0 {
		threshold = probes.DefaultIOThreshold
	}
	var slots [scNrMax]uint8
	for i, s := range syscallTable {
		slots[s.nr] = uint8(i + 1)
	}
	for name, v := range map[string]any{
		"threshold_ns": uint64(threshold),
		"sc_slot":      slots,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if err := o.SetPIDHists(spec); err != nil {
		return err
	}
	p.pidHists = o.TargetHistograms
	// The per-syscall tracepoints need tracefs for their ids: the host's,
	// or one mounted privately where the host has none.
	var events *tracefs.FS
	if !RawSyscalls {
		if events, err = tracefs.Open(); err == nil {
			defer events.Close() // attached tracepoints stay attached
		}
	}
	raw := RawSyscalls || events == nil
	var keep, tracing []string // programs to load; those attached as tracing programs
	switch {
	case RawSyscalls:
		p.path = append(p.path, "syscalls timed from raw sys_enter/sys_exit (asked for)")
	case raw:
		p.path = append(p.path, "syscalls timed from raw sys_enter/sys_exit (no tracefs)")
		p.warnings = append(p.warnings, "iostall: "+err.Error()+", so syscalls are timed from the raw sys_enter/sys_exit tracepoints, "+
			"which run for every syscall on the machine (run as root, or mount it: mount -t tracefs nodev /sys/kernel/tracing)")
	default:
		p.path = append(p.path, "syscalls timed from per-syscall tracepoints ("+events.String()+")")
	}
	if raw {
		for _, tp := range []string{"sys_enter", "sys_exit"} {
			if !k.Tracepoint(tp, 2) {
				return &probes.Missing{What: "the " + tp + "(regs, nr) tracepoint for BPF programs (tp_btf), needed without tracefs", Since: "5.5"}
			}
		}
		keep = append(keep, "handle_sys_enter", "handle_sys_exit")
		tracing = append(tracing, "handle_sys_enter", "handle_sys_exit")
	} else {
		keep = append(keep, "handle_syscall_enter", "handle_syscall_exit")
	}
	block, why := chooseBlockPath(k)
	p.path = append(p.path, why)
	var blockProgs []string
	switch block {
	case blockIOStart:
		blockProgs = []string{"handle_block_io_start", "handle_block_rq_complete"}
	case blockGetrq:
		blockProgs = []string{"handle_block_getrq", "handle_block_rq_issue", "handle_block_rq_complete"}
	default:
		p.warnings = append(p.warnings, "iostall: "+why+"; syscalls are still timed")
	}
	keep = append(keep, blockProgs...)
	tracing = append(tracing, blockProgs...)
	p.progs, err = probes.LoadPrograms(spec, o.Collection(), keep, &p.objs.iostallMaps, &p.objs.iostallVariables)
	if err != nil {
		return fmt.Errorf("loading iostall objects: %w", err)
	}
	p.loaded = true
	if p.window, err = probes.NewWindow(p.objs.Window, p.objs.Window0); err != nil {
		return err
	}
	if err := o.FillTargets(p.objs.Targets, t); err != nil {
		return err
	}
	if !raw {
		for _, s := range syscallTable {
			event := s.name
			if s.event != "" {
				event = s.event
			}
			for _, tp := range []struct{ name, prog string }{
				{"sys_enter_" + event, "handle_syscall_enter"}, {"sys_exit_" + event, "handle_syscall_exit"},
			} {
				if !events.Has("syscalls", tp.name) {
					p.warnings = append(p.warnings, fmt.Sprintf("iostall: no tracepoint syscalls:%s in this kernel: %s is not timed", tp.name, s.name))
					continue
				}
				l, err := events.Attach("syscalls", tp.name, p.progs[tp.prog])
				if err != nil {
					return fmt.Errorf("attaching syscalls:%s: %w", tp.name, err)
				}
				p.links = append(p.links, l)
			}
		}
	}
	for _, name := range tracing {
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
	return p.objs.WindowStartNs.Set(windowStartNs)
}

// Progress implements probes.Probe: traced syscalls completed so far and
// everything dropped.
func (p *Probe) Progress() probes.Progress {
	var pr probes.Progress
	if !p.loaded {
		return pr
	}
	pr.Events = p.calls
	for _, w := range []int{0, scMax} {
		for i := range syscallTable {
			var per []iostallScValue
			if err := p.objs.Syscalls.Lookup(uint32(w+i), &per); err == nil {
				for _, v := range per {
					pr.Events += v.Hist.Count
				}
			}
		}
	}
	if d, err := probes.SumPerCPU(p.objs.Drops, dropMax); err == nil {
		for _, n := range d {
			pr.Drops += n
		}
	}
	return pr
}

// Detach stops the programs at once (they return without recording
// anything) and detaches them in the background, since the per-syscall
// tracepoints take seconds to go; the maps stay readable and Close waits
// for the detaching to end.
func (p *Probe) Detach() {
	if p.loaded {
		_ = p.objs.WindowStartNs.Set(uint64(0))
	}
	if len(p.links) == 0 {
		return
	}
	links, done := p.links, make(chan struct{})
	p.links, p.closing = nil, done
	go func() {
		defer close(done)
		for _, l := range links {
			l.Close()
		}
	}()
}

// Collect adds the per-syscall histograms and counts, the iowait stacks,
// the per-disk histograms and counts, and drops of the current window
// (since Begin or the last Drain) to c.
func (p *Probe) Collect(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	return p.read(c, p.window.Index, true)
}

// Drain implements probes.Drainer: the programs move to the other window
// and the one they leave is read into c and cleared. A syscall counts in
// the window where it returns and a block request in the one where it
// completes, whole; those in flight at the switch go on in the kernel.
func (p *Probe) Drain(c *profile.Capture, _ uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	old, err := p.window.Next()
	if err != nil {
		return err
	}
	return p.read(c, old, false)
}

// read adds what window win holds to c; unless final (Collect), it then
// clears it for the window after next.
func (p *Probe) read(c *profile.Capture, win uint32, final bool) error {
	c.Warnings = append(c.Warnings, p.warnings...)
	var calls uint64
	for i, s := range syscallTable {
		var per []iostallScValue
		if err := p.objs.Syscalls.Lookup(win*scMax+uint32(i), &per); err != nil {
			return fmt.Errorf("reading syscall %s: %w", s.name, err)
		}
		h := &profile.Histogram{}
		var bytes, errs uint64
		for _, v := range per {
			h.Add(&profile.Histogram{Slots: v.Hist.Slots, Count: v.Hist.Count, SumNs: v.Hist.SumNs, MaxNs: v.Hist.MaxNs})
			bytes += v.Bytes
			errs += v.Errors
		}
		if h.Count == 0 {
			continue
		}
		calls += h.Count
		name := "syscall_" + s.name
		c.Histograms[name] = h
		c.Counts[name+"_calls"] = h.Count
		c.Counts[name+"_errors"] = errs
		if s.bytes {
			c.Counts[name+"_bytes"] = bytes
		}
	}

	if p.stacks == nil {
		p.stacks = probes.NewStacks(p.objs.Stacks)
	}
	stacks := p.stacks
	keys, vals, err := probes.Entries[iostallIowaitKey, iostallIowaitValue](p.objs.Iowait)
	if err != nil {
		return fmt.Errorf("reading iowait stacks: %w", err)
	}
	var done []iostallIowaitKey
	for i, ik := range keys {
		if ik.Win != win {
			continue // the next window's, written meanwhile
		}
		done = append(done, ik)
		if ik.Slot >= uint32(len(syscallTable)) {
			continue
		}
		iv := &vals[i]
		c.Stacks = append(c.Stacks, profile.Stack{
			Type: profile.TypeIOWait, PID: ik.Tgid, TID: ik.Tid, Thread: probes.CommString(iv.Comm),
			User: stacks.Get(ik.UserStack), Value: int64(iv.Ns), Count: int64(iv.Count),
			Labels: map[string]string{"syscall": syscallTable[ik.Slot].name},
		})
	}

	var pidKeys []probes.PIDHistKey
	if p.pidHists {
		var perPID map[uint32]map[uint32]*profile.Histogram
		if perPID, pidKeys, err = probes.ReadPIDHists(p.objs.PidHists, win, scMax); err != nil {
			return err
		}
		for pid, hs := range perPID {
			for i, h := range hs {
				if int(i) < len(syscallTable) {
					probes.AddTargetHist(c, int(pid), "syscall_"+syscallTable[i].name, h)
				}
			}
		}
	}

	disks, err := p.collectDisks(c, win)
	if err != nil {
		return err
	}
	if final {
		p.collectInFlight(c)
	}

	counts, err := probes.SumPerCPUAt(p.objs.Counters, int(win)*countMax, countMax)
	if err != nil {
		return err
	}
	for i, n := range countNames {
		c.Counts[n] = counts[i]
	}
	d, err := probes.SumPerCPU(p.objs.Drops, dropMax)
	if err != nil {
		return err
	}
	for i, n := range dropNames {
		c.Drops[n] = d[i] - p.drained[i]
	}
	if final {
		return nil
	}
	p.drained = [dropMax]uint64(d)
	p.calls += calls
	probes.DeleteKeys(p.objs.Iowait, done)
	probes.DeleteKeys(p.objs.PidHists, pidKeys)
	probes.DeleteKeys(p.objs.Disks, disks)
	if err := probes.ClearPerCPU(p.objs.Syscalls, int(win)*scMax, scMax); err != nil {
		return err
	}
	return probes.ClearPerCPU(p.objs.Counters, int(win)*countMax, countMax)
}

// collectInFlight notes the targets' threads that are inside a traced
// syscall now, at the end of the capture: the probe times a syscall only
// once it returns, so a thread stuck in one is otherwise invisible here
// (the sched probe still sees it blocked). Counts syscall_<name>_in_flight
// and warns. Drain leaves it out: a call in flight at a switch counts in
// the window where it returns, and reading every thread's
// /proc/PID/task/TID/syscall took 40% of a drain of 200 processes.
func (p *Probe) collectInFlight(c *profile.Capture) {
	byNr := map[int]string{}
	for _, s := range syscallTable {
		byNr[s.nr] = s.name
	}
	for _, t := range c.Targets {
		if !t.Exited.IsZero() || !t.Removed.IsZero() {
			continue
		}
		for tid, name := range probes.ThreadNames(t.PID) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", t.PID, tid))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			nr, err := strconv.Atoi(f[0])
			if err != nil {
				continue // "running"
			}
			if sc, ok := byNr[nr]; ok {
				c.Counts["syscall_"+sc+"_in_flight"]++
				c.Warnings = append(c.Warnings, fmt.Sprintf("iostall: thread %d (%s) of pid %d was inside %s when the capture ended; that call is not in the capture", tid, name, t.PID, sc))
			}
		}
	}
}

// diskStats is one disk's requests from one origin, summed over CPUs.
type diskStats struct {
	hist                           profile.Histogram
	reads, writes, flushes, others uint64
	readBytes, writeBytes, errors  uint64
}

func (s *diskStats) add(o *diskStats) {
	s.hist.Add(&o.hist)
	s.reads += o.reads
	s.writes += o.writes
	s.flushes += o.flushes
	s.others += o.others
	s.readBytes += o.readBytes
	s.writeBytes += o.writeBytes
	s.errors += o.errors
}

// collectDisks adds, per disk, histogram "block_<major>_<minor>" (every
// request, whoever submitted it) and "block_<major>_<minor>_target" (those
// the target submitted), each with counts _ios, _reads, _writes, _flushes,
// _others (discards and the like), _bytes (read + written), _read_bytes,
// _write_bytes and _errors; plus block_<major>_<minor>_other_ios (requests
// from any other context: writeback, the journal, other processes) and
// block_<major>_<minor>_dev_<name> = 1 naming the device. It reads window
// win and returns its keys.
func (p *Probe) collectDisks(c *profile.Capture, win uint32) ([]iostallDiskKey, error) {
	var (
		k    iostallDiskKey
		per  []iostallDiskValue
		all  = map[uint32]*[2]diskStats{}
		keys []iostallDiskKey
	)
	it := p.objs.Disks.Iterate()
	for it.Next(&k, &per) {
		if k.Win != win {
			continue
		}
		keys = append(keys, k)
		if k.Origin > originOther {
			continue
		}
		d := all[k.Dev]
		if d == nil {
			d = new([2]diskStats)
			all[k.Dev] = d
		}
		for _, v := range per {
			d[k.Origin].add(&diskStats{
				hist:  profile.Histogram{Slots: v.Hist.Slots, Count: v.Hist.Count, SumNs: v.Hist.SumNs, MaxNs: v.Hist.MaxNs},
				reads: v.Reads, writes: v.Writes, flushes: v.Flushes, others: v.Others,
				readBytes: v.ReadBytes, writeBytes: v.WriteBytes, errors: v.Errors,
			})
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading disk statistics: %w", err)
	}
	for dev, d := range all {
		major, minor := dev>>20, dev&(1<<20-1)
		base := fmt.Sprintf("block_%d_%d", major, minor)
		put := func(name string, s *diskStats) {
			c.Histograms[name] = &s.hist
			c.Counts[name+"_ios"] = s.hist.Count
			c.Counts[name+"_reads"] = s.reads
			c.Counts[name+"_writes"] = s.writes
			c.Counts[name+"_flushes"] = s.flushes
			c.Counts[name+"_others"] = s.others
			c.Counts[name+"_bytes"] = s.readBytes + s.writeBytes
			c.Counts[name+"_read_bytes"] = s.readBytes
			c.Counts[name+"_write_bytes"] = s.writeBytes
			c.Counts[name+"_errors"] = s.errors
		}
		total := d[originTarget]
		total.add(&d[originOther])
		put(base, &total)
		if d[originTarget].hist.Count > 0 {
			put(base+"_target", &d[originTarget])
		}
		c.Counts[base+"_other_ios"] = d[originOther].hist.Count
		if name := deviceName(major, minor); name != "" {
			c.Counts[base+"_dev_"+name] = 1
		}
	}
	return keys, nil
}

// deviceName returns the kernel's name of block device major:minor (DEVNAME
// in /sys/dev/block/M:m/uevent, e.g. "vda" or "nvme0n1"), "" if unknown.
func deviceName(major, minor uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major, minor))
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return v
		}
	}
	return ""
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
	if p.closing != nil {
		<-p.closing
		p.closing = nil
	}
	if p.loaded {
		p.loaded = false
		for _, prog := range p.progs {
			prog.Close()
		}
		p.window.Close()
		return p.objs.Close()
	}
	return nil
}
