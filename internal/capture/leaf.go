package capture

import (
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// leafProbes names the probe whose counts a stack's frameless-leaf
// outcome goes to, by sample type; only the types counted once per event
// are listed (offcpu_uninterruptible repeats part of offcpu_blocked).
var leafProbes = map[string]string{
	profile.TypeOnCPU:          "cpu",
	profile.TypeOffCPUBlocked:  "sched",
	profile.TypeOffCPURunqueue: "sched",
}

// SpliceLeaves turns the splicing of frameless leaves' callers on (the
// default); off, stacks stay as the frame-pointer walk found them, for
// comparisons and tests.
var SpliceLeaves = true

// spliceLeaves puts back in c's user stacks the callers that frame-pointer
// walks skipped above frameless leaves (symbolize.Process.SpliceLeaf),
// each in its own process, and counts per probe the events whose stacks
// were spliced (<probe>_leaf_spliced) and those whose leaf was frameless
// but could not be resolved (<probe>_leaf_unresolved) or had no unwind rule
// (<probe>_leaf_no_rule), which keep the stack as walked.
func spliceLeaves(c *profile.Capture, procs map[int]*symbolize.Process) {
	if !SpliceLeaves {
		return
	}
	for i := range c.Stacks {
		s := &c.Stacks[i]
		if len(s.User) == 0 {
			continue
		}
		pid := int(s.PID)
		if pid == 0 {
			pid = c.Target.PID
		}
		p := procs[pid]
		if p == nil {
			continue
		}
		user, res := p.SpliceLeaf(s.User, s.Leaf)
		s.User = user
		name, ok := leafProbes[s.Type]
		if !ok {
			continue
		}
		if c.Counts == nil {
			c.Counts = map[string]uint64{}
		}
		switch res {
		case symbolize.LeafSpliced:
			c.Counts[name+"_leaf_spliced"] += uint64(s.Count)
		case symbolize.LeafUnresolved:
			c.Counts[name+"_leaf_unresolved"] += uint64(s.Count)
		case symbolize.LeafNoRule:
			c.Counts[name+"_leaf_no_rule"] += uint64(s.Count)
		}
	}
}
