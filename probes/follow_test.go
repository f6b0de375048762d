package probes

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// filterRounds is how many times each benchmark program filters one tgid,
// so that the cost of a filter stands out from that of running a program.
const filterRounds = 32

// filterProgram returns a program that filters tgid filterRounds times:
// by comparing it with a constant, as probes did with `const volatile
// target_tgid`, or (targets != nil) by looking it up in the target map,
// as they do now.
func filterProgram(targets *ebpf.Map, tgid, constant uint32) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R6, 0),
		asm.StoreImm(asm.RFP, -4, int64(tgid), asm.Word),
	}
	for i := range filterRounds {
		skip := fmt.Sprintf("skip%d", i)
		if targets == nil {
			insns = append(insns,
				asm.LoadMem(asm.R1, asm.RFP, -4, asm.Word), // unknown to the verifier: not folded
				asm.JNE.Imm(asm.R1, int32(constant), skip),
			)
		} else {
			insns = append(insns,
				asm.Mov.Reg(asm.R2, asm.RFP),
				asm.Add.Imm(asm.R2, -4),
				asm.LoadMapPtr(asm.R1, targets.FD()),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, skip),
			)
		}
		insns = append(insns, asm.Add.Imm(asm.R6, 1), asm.Mov.Reg(asm.R0, asm.R6).WithSymbol(skip))
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, Instructions: insns, License: "GPL"})
}

// BenchmarkTargetFilter measures in the kernel (BPF_PROG_RUN) what the
// target filter costs a probe per event: a lookup in the target map, hit
// (a target) or miss (any other process, e.g. in sched_switch), with one
// target or a full map, against the comparison with a constant tgid it
// replaced. It reports bpf-ns/filter.
func BenchmarkTargetFilter(b *testing.B) {
	if err := CheckPrivileges(); err != nil {
		b.Skip(err)
	}
	m, err := newTargetMap()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	const target, other = 4242, 1 << 30
	fill := func(n int) {
		for pid := range n {
			if err := putTarget(m, target+pid, targetEntry{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	in := make([]byte, 64)
	for _, bc := range []struct {
		name    string
		targets int // in the map; 0: the constant
		tgid    uint32
	}{
		{"constant", 0, target},
		{"map/hit/1-target", 1, target},
		{"map/miss/1-target", 1, other},
		{"map/hit/4096-targets", MaxTargets, target},
		{"map/miss/4096-targets", MaxTargets, other},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var tm *ebpf.Map
			if bc.targets > 0 {
				fill(bc.targets)
				tm = m
			}
			prog, err := filterProgram(tm, bc.tgid, target)
			if err != nil {
				b.Fatal(err)
			}
			defer prog.Close()
			const repeat = 100000
			var total time.Duration
			runs := 0
			for b.Loop() {
				_, per, err := prog.Benchmark(in, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += per
				runs++
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(runs)/filterRounds, "bpf-ns/filter")
		})
	}
}

// The target map takes MaxTargets processes and says so when full; an
// entry the kernel made first (a followed child) is kept; the benchmark's
// programs pass the verifier.
func TestTargetMap(t *testing.T) {
	if err := CheckPrivileges(); err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_BPF") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	m, err := newTargetMap()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := putTarget(m, 7, targetEntry{Flags: targetForked, Parent: 6}); err != nil {
		t.Fatal(err)
	}
	if err := putTarget(m, 7, targetEntry{}); err != nil {
		t.Fatalf("adding a pid already there: %v", err)
	}
	var e targetEntry
	if err := m.Lookup(uint32(7), &e); err != nil || e.Parent != 6 {
		t.Errorf("entry of 7 = %+v, %v: want the first one kept", e, err)
	}
	for pid := 8; pid < 7+MaxTargets; pid++ {
		if err := putTarget(m, pid, targetEntry{}); err != nil {
			t.Fatalf("adding target %d of %d: %v", pid-6, MaxTargets, err)
		}
	}
	if err := putTarget(m, 7+MaxTargets, targetEntry{}); err == nil || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("adding one target too many: %v, want an error saying the limit", err)
	}
	for _, tm := range []*ebpf.Map{nil, m} {
		prog, err := filterProgram(tm, 7, 7)
		if err != nil {
			t.Fatalf("loading the filter program (map %v): %v", tm != nil, err)
		}
		prog.Close()
	}
}
