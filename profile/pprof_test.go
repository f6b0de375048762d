package profile

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// tableSymbols resolves from fixed tables, as a process snapshot would.
type tableSymbols struct{ user, kernel map[uint64]string }

var exe = &symbolize.Mapping{Start: 0x400000, Limit: 0x500000, Path: "/bin/app", BuildID: "abc123"}

func (s tableSymbols) User(addr uint64, ret bool) symbolize.Frame {
	if ret {
		addr-- // the caller's call instruction
	}
	if name, ok := s.user[addr]; ok {
		return symbolize.Frame{Addr: addr, Function: name, File: "app.go", Line: int(addr & 0xff), Mapping: exe, Known: true}
	}
	return symbolize.Frame{Addr: addr, Function: fmt.Sprintf("app+0x%x", addr-exe.Start), Mapping: exe}
}

func (s tableSymbols) Kernel(addr uint64) symbolize.Frame {
	return symbolize.Frame{Addr: addr, Function: s.kernel[addr], Mapping: &symbolize.Mapping{Path: "[kernel.kallsyms]", Kernel: true}, Known: true}
}

func testCapture() (*Capture, Symbols) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := &Capture{
		Target: Target{PID: 42, Comm: "app"},
		Start:  start, End: start.Add(2 * time.Second), Hz: 100,
		Stacks: []Stack{
			// leaf first: spin <- main
			{Type: TypeOnCPU, TID: 42, Thread: "app", User: []uint64{0x401000, 0x402011}, Value: 30e7, Count: 30},
			{Type: TypeOnCPU, TID: 43, Thread: "worker", User: []uint64{0x401000, 0x402011}, Value: 10e7, Count: 10},
			{Type: TypeOnCPU, TID: 43, Thread: "worker", User: []uint64{0x409999}, Value: 1e7, Count: 1},
			{Type: TypeOffCPUBlocked, TID: 43, Thread: "worker", User: []uint64{0x403000, 0x402021}, Kernel: []uint64{0xffff1000, 0xffff2001}, Value: 5e8, Count: 50},
			{Type: TypeOffCPURunqueue, TID: 43, Thread: "worker", User: []uint64{0x403000, 0x402021}, Kernel: []uint64{0xffff1000, 0xffff2001}, Value: 2e6, Count: 50},
		},
	}
	syms := tableSymbols{
		user:   map[uint64]string{0x401000: "main.spin", 0x402010: "main.main", 0x402020: "main.main", 0x402fff: "main.sleep"},
		kernel: map[uint64]string{0xffff1000: "schedule", 0xffff2000: "do_nanosleep"},
	}
	// a leaf under kernel frames is a return address too: 0x403000-1
	return c, syms
}

func TestToPprof(t *testing.T) {
	c, syms := testCapture()
	p, err := c.ToPprof(syms)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	// Round trip through the wire format.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	p, err = profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"samples": 41, TypeOnCPU: 41e7, TypeOffCPUBlocked: 5e8, TypeOffCPURunqueue: 2e6}
	for typ, v := range want {
		if got := Total(p, typ); got != v {
			t.Errorf("total %s = %d, want %d", typ, got, v)
		}
	}
	top := TopFunctions(p, TypeOnCPU, 3)
	if top[0].Function != "main.spin" || top[0].Flat != 40e7 || top[0].CumPct < 97 {
		t.Errorf("top on-CPU = %+v, want main.spin 40e7 flat", top[0])
	}
	// The unknown frame stays visible as module+offset.
	if top[1].Function != "app+0x9999" {
		t.Errorf("second function %q, want app+0x9999", top[1].Function)
	}
	// Kernel frames are leafward of user frames and marked.
	bl := TopStacks(p, TypeOffCPUBlocked, 1)[0]
	wantFrames := []string{"schedule_[k]", "do_nanosleep_[k]", "main.sleep", "main.main"}
	if fmt.Sprint(bl.Frames) != fmt.Sprint(wantFrames) || bl.Thread != "worker" {
		t.Errorf("blocked stack %v (thread %q), want %v (worker)", bl.Frames, bl.Thread, wantFrames)
	}
	if p.Mapping[0].BuildID == "" && p.Mapping[1].BuildID == "" {
		t.Error("no build id on any mapping")
	}
	for _, s := range p.Sample {
		if len(s.NumLabel["tid"]) != 1 || len(s.Label["thread"]) != 1 {
			t.Errorf("sample without tid/thread labels: %v %v", s.NumLabel, s.Label)
		}
	}
	if p.DefaultSampleType != TypeOnCPU || p.Period != 1e7 || p.DurationNanos != 2e9 {
		t.Errorf("default %q period %d duration %d", p.DefaultSampleType, p.Period, p.DurationNanos)
	}
}

// pidSymbols resolves each process's addresses from its own table.
type pidSymbols map[int]tableSymbols

func (s pidSymbols) User(addr uint64, ret bool) symbolize.Frame { return s[0].User(addr, ret) }
func (s pidSymbols) Kernel(addr uint64) symbolize.Frame         { return s[0].Kernel(addr) }
func (s pidSymbols) UserOf(pid int, addr uint64, ret bool) symbolize.Frame {
	return s[pid].User(addr, ret)
}

// Stacks of several processes: each resolves in its own process (the same
// address names another function in each), and each sample carries its
// pid and its process's comm.
func TestToPprofProcesses(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := &Capture{
		Target: Target{PID: 42, Comm: "app"},
		Targets: []Target{
			{PID: 42, Comm: "app"},
			{PID: 43, Comm: "tool", Parent: 42},
		},
		Start: start, End: start.Add(time.Second), Hz: 100,
		Stacks: []Stack{
			{Type: TypeOnCPU, PID: 42, TID: 42, User: []uint64{0x401000}, Value: 3e7, Count: 3},
			{Type: TypeOnCPU, PID: 43, TID: 43, User: []uint64{0x401000}, Value: 5e7, Count: 5},
			{Type: TypeOnCPU, TID: 44, User: []uint64{0x401000}, Value: 1e7, Count: 1}, // no pid: the target's
		},
	}
	syms := pidSymbols{
		0:  {user: map[uint64]string{}},
		42: {user: map[uint64]string{0x401000: "main.spin"}},
		43: {user: map[uint64]string{0x401000: "tool.work"}},
	}
	p, err := c.ToPprof(syms)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range p.Sample {
		pid, comm := s.NumLabel["pid"], s.Label["comm"]
		if len(pid) != 1 || len(comm) != 1 {
			t.Fatalf("sample labels %v %v: want one pid and one comm", s.NumLabel, s.Label)
		}
		got[fmt.Sprintf("%d %s %s", pid[0], comm[0], s.Location[0].Line[0].Function.Name)] += s.Value[0]
	}
	want := map[string]int64{"42 app main.spin": 4, "43 tool tool.work": 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("samples by pid, comm and leaf: %v, want %v", got, want)
	}
	if !strings.Contains(p.Comments[0], "2 processes") {
		t.Errorf("comment %q does not say the capture is of several processes", p.Comments[0])
	}
}

func TestToPprofUnknownType(t *testing.T) {
	c := &Capture{SampleTypes: []string{TypeOnCPU}, Stacks: []Stack{{Type: "bogus", Value: 1}}}
	if _, err := c.ToPprof(ProcessSymbols{}); err == nil {
		t.Fatal("want error for a stack of a type the capture's probes do not have")
	}
}

// BenchmarkToPprof symbolizes and builds a profile of 5,000 distinct
// stacks of 20 frames over 2,000 distinct addresses.
func BenchmarkToPprof(b *testing.B) {
	syms := tableSymbols{user: map[uint64]string{}, kernel: map[uint64]string{}}
	for a := uint64(0); a < 2000; a++ {
		syms.user[0x401000+a*16] = fmt.Sprintf("pkg.func%d", a)
	}
	c := &Capture{Start: time.Unix(0, 0), End: time.Unix(10, 0), Hz: 99}
	for i := range 5000 {
		st := make([]uint64, 20)
		for j := range st {
			st[j] = 0x401000 + uint64((i*7+j*13)%2000)*16
		}
		c.Stacks = append(c.Stacks, Stack{Type: TypeOnCPU, TID: uint32(i % 8), Thread: "w", User: st, Value: 1e7, Count: 1})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ToPprof(syms); err != nil {
			b.Fatal(err)
		}
	}
}
