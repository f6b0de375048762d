package profile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	p = roundTrip(t, p)
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

// inlineSymbols resolves 0x401000 to main.spin with main.step and
// main.add inlined into it, as symbolize does for Go code.
type inlineSymbols struct{ tableSymbols }

func (s inlineSymbols) User(addr uint64, ret bool) symbolize.Frame {
	f := s.tableSymbols.User(addr, ret)
	if f.Function == "main.spin" {
		f.Line = 30 // the call into main.step
		f.Inlined = []symbolize.Frame{
			{Addr: f.Addr, Function: "main.add", File: "app.go", Line: 10, Mapping: exe, Known: true},
			{Addr: f.Addr, Function: "main.step", File: "app.go", Line: 20, Mapping: exe, Known: true},
		}
	}
	return f
}

// TestToPprofInlined: an address with inlined functions is one Location
// with one Line per function, innermost first, and everything reading
// frames sees the inlined functions, the innermost as the leaf.
func TestToPprofInlined(t *testing.T) {
	c, syms := testCapture()
	p, err := c.ToPprof(inlineSymbols{syms.(tableSymbols)})
	if err != nil {
		t.Fatal(err)
	}
	var spin *profile.Location
	for _, l := range p.Location {
		if l.Address == 0x401000 {
			spin = l
		}
	}
	if spin == nil {
		t.Fatal("no location for 0x401000")
	}
	var lines []string
	for _, ln := range spin.Line {
		lines = append(lines, fmt.Sprintf("%s:%d", ln.Function.Name, ln.Line))
	}
	if got := strings.Join(lines, " "); got != "main.add:10 main.step:20 main.spin:30" {
		t.Errorf("location lines %q, want main.add:10 main.step:20 main.spin:30", got)
	}
	top := TopFunctions(p, TypeOnCPU, 5)
	if top[0].Function != "main.add" || top[0].Flat != 40e7 {
		t.Errorf("top on-CPU %+v, want main.add with the 40e7 of its address", top[0])
	}
	for _, s := range p.Sample {
		if s.Location[0] == spin {
			if got := fmt.Sprint(Frames(s)); got != "[main.add main.step main.spin main.main]" {
				t.Errorf("frames %s, want [main.add main.step main.spin main.main]", got)
			}
		}
	}

	// go tool pprof shows the inlined functions as such.
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_TOOLS") == "1" {
			t.Fatal("go not in PATH")
		}
		t.Skip("go not in PATH: not checking go tool pprof's view")
	}
	path := filepath.Join(t.TempDir(), "p.pb.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(goTool, "tool", "pprof", "-traces", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -traces: %v\n%s", err, out)
	}
	for _, want := range []string{"main.add (inline)", "main.step (inline)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go tool pprof -traces lacks %q:\n%s", want, out)
		}
	}
}

// roundTrip returns p written in pprof's wire format and parsed back.
func roundTrip(t *testing.T, p *profile.Profile) *profile.Profile {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
