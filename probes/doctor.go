package probes

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
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
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
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
	err = features.HaveMapType(ebpf.RingBuf)
	out = append(out, Check{Name: "ring buffer maps", OK: err == nil, Detail: okOr(err), Fix: "needs Linux 5.8+"})

	out = append(out, perfEventCheck())
	_, err = os.Stat("/sys/bus/event_source/devices/uprobe/type")
	out = append(out, Check{Name: "uprobes", OK: err == nil, Detail: okOr(err), Fix: "use a kernel with CONFIG_UPROBE_EVENTS=y"})
	tracefs := "mounted: iostall uses per-syscall tracepoints (only I/O syscalls pay)"
	if _, err := os.Stat("/sys/kernel/tracing/events"); err != nil {
		if _, err := os.Stat("/sys/kernel/debug/tracing/events"); err != nil {
			tracefs = "not mounted: iostall falls back to raw sys_enter/sys_exit (every syscall on the machine pays); mount -t tracefs nodev /sys/kernel/tracing"
		}
	}
	out = append(out, Check{Name: "tracefs", OK: true, Detail: tracefs})

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
			err = p.Attach(self, Options{Hz: 99, Load: load})
			if err == nil {
				err = p.Begin(MonotonicNs())
			}
		}
		p.Close()
		c := Check{Name: "probe " + name, OK: err == nil, Detail: okOr(err)}
		var skip *Skipped
		switch {
		case errors.As(err, &skip): // nothing of this kind in perfprobe itself to attach to
			c.OK, c.Detail = true, "not tried: perfprobe itself offers nothing to attach to ("+skip.Reason+"); uprobes: see above"
		case errors.Is(err, ErrNoBTF):
			c.Fix = "provide kernel BTF (see the BTF line)"
		case errors.Is(err, ErrNotPermitted), errors.Is(err, unix.EPERM):
			c.Fix = "run as root or with CAP_BPF+CAP_PERFMON"
		case err != nil:
			c.Fix = "this kernel refuses the probe; the other probes still work"
		}
		out = append(out, c)
	}
	return out
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
