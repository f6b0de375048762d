package sched

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/internal/goruntime"
	"github.com/perfprobe/perfprobe/probes"
)

// goStackFlag marks a user stack id that keys go_stacks (GO_STACK_FLAG).
const goStackFlag = 0x40000000

// goLocked is what the probe knows of its Go targets' runtime layouts,
// so that a thread waiting for its locked goroutine is attributed to that
// goroutine's stack (sched.bpf.c, go_locked_ctx).
type goLocked struct {
	warned   map[string]bool // executables already warned about
	warnings []string        // not yet in a capture
	stacks   map[int32][]uint64
}

// goLockedOff leaves go_offsets empty (tests: the cost without the check).
var goLockedOff = false

// addGoTarget puts the runtime offsets of target t in go_offsets when it
// is a Go program on amd64; a Go version without DWARF that the table does
// not know leaves the target as it was, with one warning per executable.
func (p *Probe) addGoTarget(t *probes.Target) {
	if t == nil || p.objs.GoOffsets == nil || goLockedOff {
		return
	}
	exe := t.ImagePath
	if exe == "" {
		exe = fmt.Sprintf("/proc/%d/exe", t.PID)
	}
	o, err := goruntime.ForExecutable(exe)
	if err != nil {
		if !errors.Is(err, goruntime.ErrNotGo) {
			p.goWarn(t, err)
		}
		p.objs.GoOffsets.Delete(uint32(t.PID)) // exec'd into something else
		return
	}
	v := schedGoOffsets{
		TlsG:      o.TLSG,
		G_m:       o.GM,
		G_stackHi: o.GStackHi,
		G_schedSp: o.GSched + o.GobufSP,
		G_schedPc: o.GSched + o.GobufPC,
		G_schedG:  o.GSched + o.GobufG,
		G_schedBp: o.GSched + o.GobufBP,
		M_g0:      o.MG0,
		M_lockedg: o.MLockedg,
	}
	if err := p.objs.GoOffsets.Update(uint32(t.PID), &v, ebpf.UpdateAny); err != nil {
		p.goWarn(t, fmt.Errorf("recording its Go runtime offsets: %w (locked goroutines stay on their threads' runtime stacks)", err))
	}
}

func (p *Probe) goWarn(t *probes.Target, err error) {
	if p.golocked.warned == nil {
		p.golocked.warned = map[string]bool{}
	}
	key := t.Exe + "\x00" + err.Error()
	if p.golocked.warned[key] {
		return
	}
	p.golocked.warned[key] = true
	p.golocked.warnings = append(p.golocked.warnings, fmt.Sprintf("probe sched: pid %d: %v", t.PID, err))
}

// AddTarget implements probes.TargetAdder: a Go target's runtime
// offsets, and the code ranges of every target (addLeafTarget).
func (p *Probe) AddTarget(t *probes.Target) error {
	if p.loaded {
		p.addGoTarget(t)
		return p.addLeafTarget(t)
	}
	return nil
}

// userStack returns the addresses of user stack id, leaf first: from the
// stacks map, or a locked goroutine's stack from go_stacks.
func (p *Probe) userStack(id int32) []uint64 {
	if id < 0 || id&goStackFlag == 0 {
		return p.stacks.Get(id)
	}
	if st, ok := p.golocked.stacks[id]; ok {
		return st
	}
	if p.golocked.stacks == nil {
		p.golocked.stacks = map[int32][]uint64{}
	}
	var gs schedGoStack
	var st []uint64
	if err := p.objs.GoStacks.Lookup(uint32(id&^goStackFlag), &gs); err == nil {
		st = append(st, gs.Pcs[:min(int(gs.Depth), len(gs.Pcs))]...)
	}
	p.golocked.stacks[id] = st
	return st
}

// SwitchOutCost is the time target switch-outs took in the sched_switch
// program, measured in BPF (measure_switch_out), apart for those that
// walked a locked goroutine's stack.
type SwitchOutCost struct {
	WalkedNs, Walked uint64 // switch-outs that walked a locked goroutine's stack
	OtherNs, Other   uint64 // the others
}

// measure, when set (tests), makes probes attached from then on time their
// switch-outs and report the totals to it at Collect.
var measure func(SwitchOutCost)

// setMeasure sets measure_switch_out in spec when measuring.
func setMeasure(spec *ebpf.CollectionSpec) error {
	if measure == nil {
		return nil
	}
	if err := spec.Variables["measure_switch_out"].Set(true); err != nil {
		return fmt.Errorf("setting measure_switch_out: %w", err)
	}
	return nil
}

// reportCost hands the switch-out times measured so far to measure.
func (p *Probe) reportCost() {
	if measure == nil {
		return
	}
	v, err := probes.SumPerCPU(p.objs.GoCost, int(schedGoCostSlotGO_COST_MAX))
	if err != nil {
		return
	}
	measure(SwitchOutCost{
		WalkedNs: v[schedGoCostSlotGO_COST_WALKED_NS], Walked: v[schedGoCostSlotGO_COST_WALKED],
		OtherNs: v[schedGoCostSlotGO_COST_OTHER_NS], Other: v[schedGoCostSlotGO_COST_OTHER],
	})
}
