package probes

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/internal/tracefs"
)

// Check is one line of `perfprobe doctor`.
type Check struct {
	Name   string
	OK     bool
	Detail string
	Fix    string // what to do when not OK
}

// CheckSystem inspects the kernel features perfprobe relies on.
func CheckSystem() []Check {
	var out []Check
	release := kernelRelease()
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	kernelOK := major > 5 || (major == 5 && minor >= 15)
	out = append(out, Check{Name: "kernel", OK: kernelOK, Detail: release,
		Fix: "perfprobe needs Linux 5.15 or newer (BPF links for perf events, tp_btf)"})

	btfPath := BTFPath()
	_, err := os.Stat(btfPath)
	out = append(out, Check{Name: "BTF", OK: err == nil, Detail: btfPath + detailErr(err),
		Fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or point PERFPROBE_BTF_PATH at a BTF file for this kernel"})

	err = CheckPrivileges()
	detail := fmt.Sprintf("euid %d", os.Geteuid())
	if caps, cerr := effectiveCaps(); cerr == nil {
		detail += fmt.Sprintf(", CapEff %#x", caps)
	}
	out = append(out, Check{Name: "privileges", OK: err == nil, Detail: detail, Fix: "run as root (sudo) or grant CAP_BPF and CAP_PERFMON"})

	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl)
	memlock := "unlimited"
	if rl.Cur != unix.RLIM_INFINITY {
		memlock = fmt.Sprintf("%d KiB", rl.Cur/1024)
	}
	memOK := rl.Cur == unix.RLIM_INFINITY || rl.Cur >= 64<<20 || kernelOK // 5.11+ charges BPF memory to the cgroup
	out = append(out, Check{Name: "memlock", OK: memOK, Detail: memlock + " (kernels 5.11+ charge BPF memory to the cgroup instead)",
		Fix: "raise RLIMIT_MEMLOCK (ulimit -l unlimited)"})

	for _, f := range []struct {
		name string
		pt   ebpf.ProgramType
	}{{"perf_event programs", ebpf.PerfEvent}, {"tracepoint programs", ebpf.TracePoint}, {"uprobe programs", ebpf.Kprobe}} {
		err := features.HaveProgramType(f.pt)
		out = append(out, Check{Name: f.name, OK: err == nil, Detail: okOr(err), Fix: "this kernel cannot load them; see the probe table below"})
	}

	out = append(out, perfEventCheck())
	_, err = os.Stat("/sys/bus/event_source/devices/uprobe/type")
	out = append(out, Check{Name: "uprobes", OK: err == nil, Detail: okOr(err), Fix: "use a kernel with CONFIG_UPROBE_EVENTS=y"})
	var tracefsLine string
	if fs, err := tracefs.Open(); err != nil {
		tracefsLine = err.Error() + ": iostall falls back to raw sys_enter/sys_exit (every syscall on the machine pays); run as root, or mount -t tracefs nodev /sys/kernel/tracing"
	} else {
		tracefsLine = fs.String() + ": iostall uses per-syscall tracepoints (only I/O syscalls pay)"
		if fs.Private() {
			tracefsLine = "not mounted on this host, so perfprobe mounted it privately (a detached mount no other process sees, gone when it exits): iostall uses per-syscall tracepoints (only I/O syscalls pay)"
		}
		fs.Close()
	}
	out = append(out, Check{Name: "tracefs", OK: true, Detail: tracefsLine})

	out = append(out, featureChecks()...)

	kprobes := "available"
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe/type"); err != nil {
		kprobes = "not available"
	}
	out = append(out, Check{Name: "kprobes, fentry", OK: true, Detail: kprobes + "; not needed: perfprobe uses tracepoints (tp_btf, tested by the sched probe below) and uprobes"})
	return out
}

func perfEventCheck() Check {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})), Sample: 1e7}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	paranoid, _ := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	return Check{Name: "perf_event CPU clock", OK: err == nil,
		Detail: okOr(err) + ", perf_event_paranoid " + strings.TrimSpace(string(paranoid)),
		Fix:    "run as root or with CAP_PERFMON; a kernel without CONFIG_PERF_EVENTS cannot sample"}
}

// CheckProbes loads and attaches each registered probe against perfprobe's
// own process and detaches it again: the only honest test of a probe.
func CheckProbes() []Check {
	self := &Target{PID: os.Getpid(), Comm: "perfprobe", pidfd: -1}
	load, lerr := LoadOptions()
	var out []Check
	for _, name := range Names() {
		p, _ := New(name)
		err := lerr
		if err == nil {
			err = CheckPrivileges()
		}
		if err == nil {
			err = p.Attach(self, Options{Hz: DefaultHz, Load: load})
			if err == nil {
				err = p.Begin(MonotonicNs())
			}
		}
		path := ""
		if pp, ok := p.(Path); ok && err == nil {
			path = pp.Path()
		}
		p.Close()
		c := Check{Name: "probe " + name, OK: err == nil, Detail: okOr(err)}
		if path != "" {
			c.Detail += ": " + path
		}
		var skip *Skipped
		var missing *Missing
		switch {
		case errors.As(err, &skip): // nothing of this kind in perfprobe itself to attach to
			c.OK, c.Detail = true, "not tried: perfprobe itself offers nothing to attach to ("+skip.Reason+"); uprobes: see above"
		case errors.Is(err, ErrNoBTF):
			c.Fix = "provide kernel BTF (see the BTF line)"
		case errors.Is(err, ErrNotPermitted), errors.Is(err, unix.EPERM):
			c.Fix = "run as root or with CAP_BPF+CAP_PERFMON"
		case errors.As(err, &missing):
			c.Fix = "a newer kernel has it; the other probes still work, and a capture without --probes skips this one"
		case err != nil:
			c.Detail = kernelRefusal(describeLoadError(err))
			c.Fix = "the other probes still work, and a capture without --probes skips this one"
		}
		out = append(out, c)
	}
	return append(out, followCheck(load, lerr))
}

// followCheck loads and attaches the session's own programs: the exec and
// exit tracking every session has, and the fork hook that follows
// children (--children, and run by default).
func followCheck(load *ebpf.CollectionOptions, err error) Check {
	c := Check{Name: "follow children"}
	if err == nil {
		err = CheckPrivileges()
	}
	var m *ebpf.Map
	if err == nil {
		m, err = newTargetMap()
	}
	if err == nil {
		var f *follower
		if f, err = startFollower(m, true, load); err == nil {
			f.close()
		}
		m.Close()
	}
	c.OK, c.Detail = err == nil, okOr(err)
	if err == nil {
		c.Detail = "ok: new processes of a target become targets at fork (sched_process_fork), before they run"
	} else {
		c.Detail = kernelRefusal(describeLoadError(err))
		c.Fix = "captures work without it; --children and run's children are not followed"
	}
	return c
}

func okOr(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func detailErr(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// featureChecks lists the kernel features whose absence makes a probe take
// another path, with what that path costs. None of them fails doctor: the
// probe lines below say what each probe does with them.
func featureChecks() []Check {
	k, err := ReadKernel()
	if err != nil {
		return []Check{{Name: "kernel features", OK: false, Detail: err.Error(), Fix: "provide kernel BTF (see the BTF line)"}}
	}
	have := func(ok bool, yes, no string) string {
		if ok {
			return yes
		}
		return no
	}
	return []Check{
		{Name: "tracepoint block_io_start", OK: true, Detail: have(k.Tracepoint("block_io_start", 1),
			"yes: iostall times block requests from it", "no (Linux 6.5+): iostall times block requests from block_getrq and block_rq_issue")},
		{Name: "sched_switch prev_state", OK: true, Detail: have(k.Tracepoint("sched_switch", 4),
			"yes: passed to the sched probe", "no (Linux 5.18+): the sched probe reads it from the task")},
		{Name: "task storage maps", OK: true, Detail: have(k.MapType(ebpf.TaskStorage) == nil,
			"yes: iostall keeps syscall start times there", "no (Linux 5.11+): iostall cannot run")},
		{Name: "bpf_task_pt_regs", OK: true, Detail: have(k.Helper(ebpf.TracePoint, asm.FnTaskPtRegs) == nil,
			"yes: sched reuses a thread's stacks only from the same call site and syscall", "no (Linux 5.15+): sched reuses stacks by time alone")},
		{Name: "uprobe_multi links", OK: true, Detail: have(k.UprobeMulti(),
			"yes: tls attaches one link per program and file", "no (Linux 6.6+): tls attaches one perf uprobe per site (slower to attach and detach)")},
		{Name: "ring buffers, bpf_loop", OK: true, Detail: "not used: every probe aggregates in hash and per-CPU maps"},
	}
}
