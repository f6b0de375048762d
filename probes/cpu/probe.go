package cpu

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// Indexes of the counters and drops arrays; they mirror cpu.h.
const (
	countSamples = iota
	countMax
)

const (
	dropUserStack = iota
	dropKernelStack
	dropCountsFull
	dropMax
)

// Probe samples the targets on every CPU.
type Probe struct {
	objs     cpuObjects
	loaded   bool
	ioctl    bool // attached by ioctl, not BPF links (before 5.15)
	events   []int
	links    []link.Link
	periodNs uint64

	countsSpec *ebpf.MapSpec   // to make the counts map of the next window
	counts     *ebpf.Map       // the current window's counts (objs.Counts until the first Drain)
	drained    [dropMax]uint64 // drops counted before the current window
}

// Name implements probes.Probe.
func (p *Probe) Name() string { return "cpu" }

// Path implements probes.Path.
func (p *Probe) Path() string {
	how := "BPF perf_event links"
	switch {
	case AttachByIoctl:
		how = "attached by ioctl (forced)"
	case p.ioctl:
		how = "attached by ioctl (BPF links to perf events are Linux 5.15+)"
	}
	return fmt.Sprintf("software CPU clock on %d CPUs, %s", len(p.events), how)
}

// AttachByIoctl attaches the sampler to each perf event with the
// PERF_EVENT_IOC_SET_BPF ioctl, as on kernels before 5.15 that have no BPF
// links to perf events. Read at Attach; tests use it on newer kernels.
var AttachByIoctl = false

// attachIoctl attaches the sampler to perf event fd without a BPF link:
// closing the event detaches it.
func (p *Probe) attachIoctl(fd int) error {
	p.ioctl = true
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, p.objs.HandleCpuSample.FD()); err != nil {
		return fmt.Errorf("attaching to the CPU clock event: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return fmt.Errorf("enabling the CPU clock event: %w", err)
	}
	return nil
}

// Attach loads the sampler, filtered to the session's targets, and opens
// one software CPU-clock event per online CPU.
func (p *Probe) Attach(t *probes.Target, o probes.Options) error {
	spec, err := loadCpu()
	if err != nil {
		return fmt.Errorf("loading cpu spec: %w", err)
	}
	p.countsSpec = spec.Maps["counts"].Copy()
	if err := spec.LoadAndAssign(&p.objs, o.Collection()); err != nil {
		return fmt.Errorf("loading cpu objects: %w", err)
	}
	p.loaded, p.counts = true, p.objs.Counts
	if err := o.FillTargets(p.objs.Targets, t); err != nil {
		return err
	}
	cpus, err := probes.OnlineCPUs()
	if err != nil {
		return err
	}
	p.periodNs = uint64(1e9 / o.Hz)
	for _, cpu := range cpus {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_CPU_CLOCK,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: p.periodNs, // a fixed period in ns: every sample is worth exactly this much CPU time
		}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("opening the CPU clock event on cpu %d: %w", cpu, err)
		}
		p.events = append(p.events, fd)
		if AttachByIoctl || p.ioctl {
			if err := p.attachIoctl(fd); err != nil {
				return err
			}
			continue
		}
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: p.objs.HandleCpuSample, Attach: ebpf.AttachPerfEvent})
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) { // BPF links to perf events are 5.15+
			if err := p.attachIoctl(fd); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("attaching to the CPU clock event on cpu %d: %w", cpu, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// Begin implements probes.Probe.
func (p *Probe) Begin(windowStartNs uint64) error {
	return p.objs.WindowStartNs.Set(windowStartNs)
}

// Progress implements probes.Probe.
func (p *Probe) Progress() probes.Progress {
	var pr probes.Progress
	if !p.loaded {
		return pr
	}
	if c, err := probes.SumPerCPU(p.objs.Counters, int(countMax)); err == nil {
		pr.Events = c[countSamples]
	}
	if d, err := probes.SumPerCPU(p.objs.Drops, int(dropMax)); err == nil {
		pr.Drops = d[dropCountsFull]
	}
	return pr
}

// Detach stops sampling; the maps stay readable.
func (p *Probe) Detach() {
	for _, l := range p.links {
		l.Close()
	}
	p.links = nil
	for _, fd := range p.events {
		unix.Close(fd)
	}
	p.events = nil
}

// Collect adds the on-CPU stacks, sample counts and drops of the current
// window (since Begin or the last Drain) to c.
func (p *Probe) Collect(c *profile.Capture, _ uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	return p.read(c, p.counts)
}

// Drain implements probes.Drainer: the programs count into a fresh map
// from now on, and the current window's is read into c. The switch is one
// update of the window map, which returns once no program still runs on
// the old map, so every sample is in exactly one window.
func (p *Probe) Drain(c *profile.Capture, _ uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	next, err := ebpf.NewMap(p.countsSpec)
	if err != nil {
		return fmt.Errorf("creating the next window's counts: %w", err)
	}
	if err := p.objs.Window.Update(uint32(0), next, ebpf.UpdateAny); err != nil {
		next.Close()
		return fmt.Errorf("switching windows: %w", err)
	}
	prev := p.counts
	p.counts = next
	err = p.read(c, prev)
	if prev != p.objs.Counts {
		prev.Close()
	}
	return err
}

// read adds the stacks counted in counts and the drops since the last
// window to c.
func (p *Probe) read(c *profile.Capture, counts *ebpf.Map) error {
	stacks := probes.NewStacks(p.objs.Stacks)
	var (
		key   cpuSampleKey
		val   cpuSampleValue
		total uint64
	)
	it := counts.Iterate()
	for it.Next(&key, &val) {
		name := probes.CommString(val.Comm)
		c.Stacks = append(c.Stacks, profile.Stack{
			Type:   profile.TypeOnCPU,
			PID:    key.Tgid,
			TID:    key.Tid,
			Thread: name,
			User:   stacks.Get(key.UserStack),
			Kernel: stacks.Get(key.KernelStack),
			Value:  int64(val.Count * p.periodNs),
			Count:  int64(val.Count),
		})
		probes.Thread(c, key.Tgid, key.Tid, name).Samples += val.Count
		total += val.Count
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading on-CPU counts: %w", err)
	}
	c.Counts["oncpu_samples"] = total
	d, err := probes.SumPerCPU(p.objs.Drops, int(dropMax))
	if err != nil {
		return err
	}
	for i, name := range []string{"cpu_user_stack", "cpu_kernel_stack", "cpu_counts_full"} {
		c.Drops[name] = d[i] - p.drained[i]
		p.drained[i] = d[i]
	}
	return nil
}

// Programs implements probes.Probe.
func (p *Probe) Programs() map[string]*ebpf.Program {
	if !p.loaded {
		return nil
	}
	return map[string]*ebpf.Program{"handle_cpu_sample": p.objs.HandleCpuSample}
}

// Close implements probes.Probe.
func (p *Probe) Close() error {
	p.Detach()
	if p.loaded {
		p.loaded = false
		if p.counts != p.objs.Counts {
			p.counts.Close()
		}
		return p.objs.Close()
	}
	return nil
}
