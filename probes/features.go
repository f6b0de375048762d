package probes

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
)

// Kernel is what the running kernel offers the probes, read from its BTF
// (BTFPath, so PERFPROBE_BTF_PATH can simulate a kernel that lacks
// something) and from the kernel's own feature probes. Each probe asks it
// which path this kernel can load before loading anything.
type Kernel struct {
	Release string
	spec    *btf.Spec
}

var kernels struct {
	mu sync.Mutex
	m  map[string]*Kernel // by BTF path
}

// ReadKernel returns the running kernel's features, read once per BTF path.
func ReadKernel() (*Kernel, error) {
	path := BTFPath()
	kernels.mu.Lock()
	defer kernels.mu.Unlock()
	if k := kernels.m[path]; k != nil {
		return k, nil
	}
	var (
		spec *btf.Spec
		err  error
	)
	if path == "/sys/kernel/btf/vmlinux" {
		spec, err = btf.LoadKernelSpec() // cached by the library, shared with CO-RE
	} else {
		var load *ebpf.CollectionOptions
		if load, err = LoadOptions(); err == nil {
			spec = load.Programs.KernelTypes
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrNoBTF, path, err)
	}
	k := &Kernel{Release: kernelRelease(), spec: spec}
	if kernels.m == nil {
		kernels.m = map[string]*Kernel{}
	}
	kernels.m[path] = k
	return k, nil
}

// Tracepoint reports whether the kernel has tracepoint name passing args
// arguments to a tp_btf program: the argument layout a program is written
// for.
func (k *Kernel) Tracepoint(name string, args int) bool {
	n, ok := k.tracepointArgs(name)
	return ok && n == args
}

// tracepointArgs returns the number of arguments tracepoint name passes,
// from the btf_trace_<name> type the kernel declares for each of its
// tracepoints; ok is false when the kernel has no such tracepoint.
func (k *Kernel) tracepointArgs(name string) (n int, ok bool) {
	var td *btf.Typedef
	if err := k.spec.TypeByName("btf_trace_"+name, &td); err != nil {
		return 0, false
	}
	ptr, isPtr := td.Type.(*btf.Pointer)
	if !isPtr {
		return 0, false
	}
	proto, isProto := ptr.Target.(*btf.FuncProto)
	if !isProto || len(proto.Params) == 0 {
		return 0, false
	}
	return len(proto.Params) - 1, true // the first is the tracepoint's private data
}

// HasField reports whether struct name has a member called field.
func (k *Kernel) HasField(name, field string) bool {
	var st *btf.Struct
	if err := k.spec.TypeByName(name, &st); err != nil {
		return false
	}
	for _, m := range st.Members {
		if m.Name == field {
			return true
		}
	}
	return false
}

// Helper returns nil when programs of type pt may call helper fn here,
// an error wrapping ebpf.ErrNotSupported when they may not.
func (k *Kernel) Helper(pt ebpf.ProgramType, fn asm.BuiltinFunc) error {
	return notSupported(features.HaveProgramHelper(pt, fn))
}

// MapType returns nil when the kernel has maps of type mt.
func (k *Kernel) MapType(mt ebpf.MapType) error {
	return notSupported(features.HaveMapType(mt))
}

// UprobeMulti reports whether one uprobe_multi link can attach a program to
// many addresses at once (Linux 6.6+).
func (k *Kernel) UprobeMulti() bool {
	return features.HaveBPFLinkUprobeMulti() == nil
}

// notSupported keeps ebpf.ErrNotSupported and turns other probe failures
// (no privileges to probe) into errors that say so.
func notSupported(err error) error {
	if err == nil || errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	return fmt.Errorf("probing the kernel: %w", err)
}

// Missing is returned by Attach when this kernel lacks something a probe
// needs and there is no other way to get it: a default probe is then
// skipped with this one line, and a probe the user named fails with it.
type Missing struct {
	What  string // e.g. "task local storage maps"
	Since string // the first Linux release that has it, e.g. "5.11"
}

func (m *Missing) Error() string {
	return fmt.Sprintf("this kernel lacks %s (Linux %s+)", m.What, m.Since)
}

// Path is implemented by probes whose hooks depend on the kernel: it says
// which way the probe chose on this one and why, for doctor and
// capture.json. Valid after Attach.
type Path interface {
	Path() string
}

// LoadPrograms loads spec with only the programs named in keep (the
// others are for other kernels and would not load here), assigns its maps
// and variables to each of to (bpf2go's Maps and Variables structs) and
// returns the loaded programs by name; the caller owns them.
func LoadPrograms(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, keep []string, to ...any) (map[string]*ebpf.Program, error) {
	for name := range spec.Programs {
		if !slices.Contains(keep, name) {
			delete(spec.Programs, name)
		}
	}
	if opts == nil {
		opts = &ebpf.CollectionOptions{}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, *opts)
	if err != nil {
		return nil, err
	}
	for _, t := range to {
		if err := coll.Assign(t); err != nil {
			coll.Close()
			return nil, err
		}
	}
	progs := coll.Programs
	coll.Programs = nil
	coll.Close() // what was not assigned: the maps behind the variables, mapped already
	return progs, nil
}
