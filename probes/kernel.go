package probes

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/profile"
)

// BTFPath is where the kernel's BTF is read from. PERFPROBE_BTF_PATH
// overrides it (to use a BTF file for a kernel built without one, or to
// simulate its absence in tests).
func BTFPath() string {
	if p := os.Getenv("PERFPROBE_BTF_PATH"); p != "" {
		return p
	}
	return "/sys/kernel/btf/vmlinux"
}

// LoadOptions returns the collection options every probe loads with: the
// kernel BTF from BTFPath, or ErrNoBTF when it is missing.
func LoadOptions() (*ebpf.CollectionOptions, error) {
	path := BTFPath()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s (%v); perfprobe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y, or PERFPROBE_BTF_PATH pointing at a BTF file for this kernel", ErrNoBTF, path, errors.Unwrap(err))
	}
	defer f.Close()
	if path == "/sys/kernel/btf/vmlinux" {
		return &ebpf.CollectionOptions{}, nil // the library reads it itself, cached
	}
	spec, err := btf.LoadSplitSpecFromReader(f, nil)
	if err != nil {
		spec, err = btf.LoadSpec(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %v", ErrNoBTF, path, err)
	}
	return &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: spec}}, nil
}

// CheckPrivileges returns ErrNotPermitted unless the process is root or
// holds CAP_BPF and CAP_PERFMON.
func CheckPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	caps, err := effectiveCaps()
	if err == nil && caps&(1<<unix.CAP_BPF) != 0 && caps&(1<<unix.CAP_PERFMON) != 0 {
		return nil
	}
	return fmt.Errorf("%w: loading eBPF probes needs root or CAP_BPF+CAP_PERFMON; run with sudo", ErrNotPermitted)
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// MonotonicNs reads the clock bpf_ktime_get_ns uses.
func MonotonicNs() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// OnlineCPUs lists the CPUs from /sys/devices/system/cpu/online.
func OnlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("reading online CPUs: %w", err)
	}
	var cpus []int
	for part := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parsing online CPUs %q: %w", b, err)
		}
		z := a
		if isRange {
			if z, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parsing online CPUs %q: %w", b, err)
			}
		}
		for c := a; c <= z; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// SumPerCPU reads n slots of a per-CPU array of uint64, summed over CPUs.
func SumPerCPU(m *ebpf.Map, n int) ([]uint64, error) {
	return SumPerCPUAt(m, 0, n)
}

// SumPerCPUAt reads slots first..first+n-1 of a per-CPU array of uint64,
// summed over CPUs: one window's set in an array that holds one per window.
func SumPerCPUAt(m *ebpf.Map, first, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range n {
		var vals []uint64
		if err := m.Lookup(uint32(first+i), &vals); err != nil {
			return nil, fmt.Errorf("reading %s[%d]: %w", m, first+i, err)
		}
		for _, v := range vals {
			out[i] += v
		}
	}
	return out, nil
}

// ClearPerCPU zeroes slots first..first+n-1 of a per-CPU array on every
// CPU: a window's set, read and no longer written, made ready for the
// window that will use it next.
func ClearPerCPU(m *ebpf.Map, first, n int) error {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	zero := make([][]byte, cpus)
	for i := range zero {
		zero[i] = make([]byte, m.ValueSize())
	}
	for i := range n {
		if err := m.Update(uint32(first+i), zero, ebpf.UpdateExist); err != nil {
			return fmt.Errorf("clearing %s[%d]: %w", m, first+i, err)
		}
	}
	return nil
}

// SumHist reads slot key of a per-CPU array of `struct hist`
// (bpf/common.h) summed over CPUs; profile.Histogram has the same layout.
func SumHist(m *ebpf.Map, key uint32) (*profile.Histogram, error) {
	var per []profile.Histogram
	if err := m.Lookup(key, &per); err != nil {
		return nil, fmt.Errorf("reading %s[%d]: %w", m, key, err)
	}
	h := &profile.Histogram{}
	for i := range per {
		h.Add(&per[i])
	}
	return h, nil
}

// Stacks reads stack traces by id from a stack-trace map, caching each.
type Stacks struct {
	m     *ebpf.Map
	cache map[int32][]uint64
}

// NewStacks wraps a BPF_MAP_TYPE_STACK_TRACE map.
func NewStacks(m *ebpf.Map) *Stacks {
	return &Stacks{m: m, cache: map[int32][]uint64{}}
}

// Get returns the addresses of stack id, leaf first; nil for a negative id
// (no stack or dropped) or an id no longer in the map.
func (s *Stacks) Get(id int32) []uint64 {
	if id < 0 {
		return nil
	}
	if st, ok := s.cache[id]; ok {
		return st
	}
	var raw [127]uint64
	var st []uint64
	if err := s.m.Lookup(uint32(id), &raw); err == nil {
		for _, a := range raw {
			if a == 0 {
				break
			}
			st = append(st, a)
		}
	}
	s.cache[id] = st
	return st
}

// CommString converts a kernel comm buffer to a string.
func CommString(comm [16]int8) string {
	b := make([]byte, 0, 16)
	for _, c := range comm {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// Thread returns the capture's accounting entry for thread tid of process
// pid, creating it.
func Thread(c *profile.Capture, pid, tid uint32, name string) *profile.Thread {
	if c.Threads == nil {
		c.Threads = map[uint32]*profile.Thread{}
	}
	t, ok := c.Threads[tid]
	if !ok {
		t = &profile.Thread{TID: tid}
		c.Threads[tid] = t
	}
	if t.Name == "" {
		t.Name = name
	}
	if t.PID == 0 {
		t.PID = pid
	}
	return t
}
