package probes

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// targetMapName is the map of target processes every probe declares
// (bpf/common.h) and the session shares among them.
const targetMapName = "targets"

// MaxTargets is how many processes one session can profile at once
// (MAX_TARGETS in bpf/common.h).
const MaxTargets = 4096

// Flags of a target entry; they mirror TARGET_* in bpf/common.h.
const (
	targetChildren = 1 // its new child processes become targets at fork
	targetForked   = 2 // added in the kernel when a followed target forked it
)

// Indexes of follow.bpf.c's counters and drops; they mirror follow.h.
const (
	followCountChildren = iota
	followCountMax
)

const (
	followDropTargetsFull = iota
	followDropMax
)

// targetEntry is the value of a target in the map.
type targetEntry = followTargetInfo

// newTargetMap creates an empty map of target processes, from the one
// definition every probe shares.
func newTargetMap() (*ebpf.Map, error) {
	spec, err := loadFollow()
	if err != nil {
		return nil, fmt.Errorf("loading follow spec: %w", err)
	}
	m, err := ebpf.NewMap(spec.Maps[targetMapName])
	if err != nil {
		return nil, fmt.Errorf("creating the target map: %w", err)
	}
	return m, nil
}

// putTarget adds pid to the target map unless it is there already (a
// child the kernel added first keeps its entry).
func putTarget(m *ebpf.Map, pid int, e targetEntry) error {
	err := m.Update(uint32(pid), &e, ebpf.UpdateNoExist)
	switch {
	case errors.Is(err, ebpf.ErrKeyExist):
		return nil
	case errors.Is(err, unix.E2BIG):
		return fmt.Errorf("%w: a session profiles at most %d processes", err, MaxTargets)
	}
	return err
}

// follower runs the session's own programs on the target map: at fork, a
// child process of a target that follows its children becomes a target
// before it runs; exec and exit of a target are noted in its entry.
type follower struct {
	objs     followObjects
	progs    map[string]*ebpf.Program
	links    []link.Link
	children bool
}

// startFollower loads and attaches the follower's programs on targets:
// exec and exit always, fork when children.
func startFollower(targets *ebpf.Map, children bool, load *ebpf.CollectionOptions) (*follower, error) {
	k, err := ReadKernel()
	if err != nil {
		return nil, err
	}
	keep := []string{followProgHandleSchedProcessExec, followProgHandleSchedProcessExit}
	if _, ok := k.tracepointArgs("sched_process_exit"); !ok || !k.Tracepoint("sched_process_exec", 3) {
		return nil, &Missing{What: "the sched_process_exec and sched_process_exit tracepoints for BPF programs (tp_btf)", Since: "5.5"}
	}
	if children {
		if !k.Tracepoint("sched_process_fork", 2) {
			return nil, &Missing{What: "the sched_process_fork(parent, child) tracepoint for BPF programs (tp_btf)", Since: "5.5"}
		}
		keep = append(keep, followProgHandleSchedProcessFork)
	}
	spec, err := loadFollow()
	if err != nil {
		return nil, fmt.Errorf("loading follow spec: %w", err)
	}
	f := &follower{children: children}
	opts := Options{Load: load, Targets: targets}
	f.progs, err = LoadPrograms(spec, opts.Collection(), keep, &f.objs.followMaps)
	if err != nil {
		return nil, fmt.Errorf("loading the target follower: %w", err)
	}
	for _, name := range keep {
		l, err := link.AttachTracing(link.TracingOptions{Program: f.progs[name]})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("attaching %s: %w", name, err)
		}
		f.links = append(f.links, l)
	}
	return f, nil
}

// counts returns the children followed and the children lost to a full map.
func (f *follower) counts() (children, full uint64) {
	if c, err := SumPerCPU(f.objs.Counters, followCountMax); err == nil {
		children = c[followCountChildren]
	}
	if d, err := SumPerCPU(f.objs.Drops, followDropMax); err == nil {
		full = d[followDropTargetsFull]
	}
	return children, full
}

func (f *follower) detach() {
	for _, l := range slices.Backward(f.links) {
		l.Close()
	}
	f.links = nil
}

func (f *follower) close() {
	f.detach()
	for _, p := range f.progs {
		p.Close()
	}
	f.progs = nil
	f.objs.followMaps.Close()
}
