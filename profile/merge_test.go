package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// stackProfile builds a one-type profile from root-first stacks with values.
func stackProfile(typ, unit string, stacks map[string]int64, fileOf string) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: typ, Unit: unit}}, DefaultSampleType: typ}
	fns := map[string]*profile.Location{}
	loc := func(name string) *profile.Location {
		if l, ok := fns[name]; ok {
			return l
		}
		// IDs deliberately differ between profiles built in different orders.
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, Filename: fileOf}
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Address: 0x1000 * uint64(len(p.Location)+1), Line: []profile.Line{{Function: f}}}
		p.Location = append(p.Location, l)
		fns[name] = l
		return l
	}
	for st, v := range stacks {
		frames := bytes.Split([]byte(st), []byte(";"))
		s := &profile.Sample{Value: []int64{v}}
		for i := len(frames) - 1; i >= 0; i-- {
			s.Location = append(s.Location, loc(string(frames[i])))
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestMergeOneSymbolSpace(t *testing.T) {
	ebpf := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.spin":                         800,
		"runtime.goexit;main.worker;syscall.Syscall;sys_nanosleep_[k]": 50,
	}, "")
	gocpu := stackProfile("cpu", "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.spin": 700,
		"runtime.goexit;main.gc":               100,
	}, "/src/main.go")
	gocpu.SampleType = append([]*profile.ValueType{{Type: "samples", Unit: "count"}}, gocpu.SampleType...)
	for _, s := range gocpu.Sample {
		s.Value = append([]int64{s.Value[0] / 10}, s.Value...)
	}
	wall := stackProfile("time", "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.spin":  900,
		"runtime.goexit;main.worker;time.Sleep": 600,
	}, "/src/main.go")

	cpuPart, err := GoPart("cpu", gocpu)
	if err != nil {
		t.Fatal(err)
	}
	wallPart, err := GoPart("wall", wall)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GoPart("wall", gocpu); err == nil {
		t.Error("GoPart(wall) of a CPU profile: want an error")
	}
	m, err := Merge(Part{Profile: ebpf, Source: SourceEBPF}, cpuPart, wallPart)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, st := range m.SampleType {
		types = append(types, st.Type)
	}
	if len(types) != 3 || types[0] != TypeOnCPU || types[1] != TypeGoCPU || types[2] != TypeGoWall {
		t.Fatalf("merged types %v, want [oncpu go_cpu go_wall] (the CPU profile's samples/count left out)", types)
	}
	for typ, want := range map[string]int64{TypeOnCPU: 850, TypeGoCPU: 800, TypeGoWall: 1500} {
		if got := Total(m, typ); got != want {
			t.Errorf("total %s = %d, want %d", typ, got, want)
		}
	}
	names := map[string]int{}
	for _, f := range m.Function {
		names[f.Name]++
	}
	for name, n := range names {
		if n != 1 {
			t.Errorf("function %s appears %d times, want once", name, n)
		}
	}
	if len(names) != 7 {
		t.Errorf("%d functions, want 7: %v", len(names), names)
	}
	for _, f := range m.Function {
		if f.Name == "main.spin" && f.Filename != "/src/main.go" {
			t.Errorf("main.spin file %q: the Go profile's file should fill in what eBPF lacked", f.Filename)
		}
	}
	for _, s := range m.Sample {
		nonzero := 0
		for _, v := range s.Value {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero != 1 || len(s.Label[SourceLabel]) != 1 {
			t.Errorf("sample %v labels %v: want one non-zero type and one source", s.Value, s.Label)
		}
	}
	if _, err := Merge(Part{Profile: ebpf, Types: map[string]string{"nope": "x"}}); err == nil {
		t.Error("merging nothing: want an error")
	}
}

func TestWallByGoroutine(t *testing.T) {
	ebpfOn := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.spin": 500,
		"runtime.mstart;runtime.schedule":      99, // not a goroutine: ignored
	}, "")
	ebpfBlocked := stackProfile(TypeOffCPUBlocked, "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.nap;syscall.Syscall6;do_nanosleep_[k]": 300,
	}, "")
	wall := stackProfile("time", "nanoseconds", map[string]int64{
		"runtime.goexit;main.worker;main.spin":           500,
		"runtime.goexit;main.worker;main.nap":            300,
		"runtime.goexit;main.worker;sync.(*Mutex).Lock":  200,
		"runtime.main;main.main;time.Sleep":              1000,
		"runtime.goexit;main.idle;runtime.gopark":        0,
		"runtime.goexit;net/http.(*conn).serve;net.read": 0,
	}, "")
	wp, _ := GoPart("wall", wall)
	m, err := Merge(Part{Profile: ebpfOn, Source: SourceEBPF}, Part{Profile: ebpfBlocked, Source: SourceEBPF}, wp)
	if err != nil {
		t.Fatal(err)
	}
	rows := WallByGoroutine(m, -1)
	if len(rows) != 2 {
		t.Fatalf("rows %+v, want main.main and main.worker", rows)
	}
	w := rows[1]
	if rows[0].Entry != "main.main" || w.Entry != "main.worker" {
		t.Fatalf("entries %s, %s", rows[0].Entry, w.Entry)
	}
	if w.WallNs != 1000 || w.OnCPUNs != 500 || w.BlockedNs != 300 || w.ParkedNs != 200 || w.ExplainedPct != 80 || w.WallPct != 50 {
		t.Errorf("worker row %+v: want wall 1000, oncpu 500, blocked 300, parked 200, explained 80%%, 50%% of wall", w)
	}
	if w.TopWait != "main.spin" {
		t.Errorf("top wait %q, want main.spin", w.TopWait)
	}
	if rows[0].ParkedNs != 1000 || rows[0].ExplainedPct != 0 {
		t.Errorf("main row %+v: all parked", rows[0])
	}
}

func TestGoroutineEntry(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"runtime.goexit", "main.worker", "main.spin"}, "main.worker"},
		{[]string{"runtime.main", "main.main"}, "main.main"},
		{[]string{"runtime.goexit", "main.main.gowrap2", "main.worker", "main.spin"}, "main.worker"},
		{[]string{"runtime.mstart", "runtime.schedule"}, ""},
		{[]string{"runtime.goexit"}, ""},
		{[]string{"main.worker", "main.spin"}, "main.worker"}, // Go CPU profiles leave runtime.goexit out
		{nil, ""},
	} {
		if got := GoroutineEntry(tc.in); got != tc.want {
			t.Errorf("GoroutineEntry(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckConsistency(t *testing.T) {
	on := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{
		"main.main;main.hot":                     600,
		"main.main;main.warm":                    300,
		"main.main;syscall.write;ksys_write_[k]": 100,
	}, "")
	gc := stackProfile("cpu", "nanoseconds", map[string]int64{
		"main.main;main.hot":      550,
		"main.main;main.warm":     350,
		"main.main;syscall.write": 100,
	}, "")
	cp, _ := GoPart("cpu", gc)
	m, err := Merge(Part{Profile: on, Source: SourceEBPF}, cp)
	if err != nil {
		t.Fatal(err)
	}
	c := CheckConsistency(m, 5)
	if c == nil || !c.Agree || c.Overlap != 3 || c.MaxDiffPts != 5 || c.EBPF[0].Function != "main.hot" {
		t.Fatalf("consistency %+v: want agreement, overlap 3, max diff 5 points", c)
	}
	if CheckConsistency(on, 5) != nil {
		t.Error("a profile without go_cpu: want nil")
	}
}

func TestLoadAndParse(t *testing.T) {
	dir := t.TempDir()
	p := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{"a;b": 5}, "")
	var gz bytes.Buffer
	if err := p.Write(&gz); err != nil {
		t.Fatal(err)
	}
	capDir := filepath.Join(dir, "cap")
	os.Mkdir(capDir, 0o755)
	os.WriteFile(filepath.Join(capDir, CaptureProfile), gz.Bytes(), 0o644)
	var raw bytes.Buffer
	p.WriteUncompressed(&raw)
	os.WriteFile(filepath.Join(dir, "raw.pb"), raw.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "oncpu.folded"), []byte("a;b 5\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "junk"), []byte("hello world\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "trunc.pb.gz"), gz.Bytes()[:gz.Len()/2], 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	for _, name := range []string{"cap", "raw.pb", "oncpu.folded"} {
		got, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("Load(%s): %v", name, err)
			continue
		}
		if Total(got, TypeOnCPU) != 5 {
			t.Errorf("Load(%s): oncpu total %d, want 5", name, Total(got, TypeOnCPU))
		}
	}
	for _, name := range []string{"junk", "trunc.pb.gz", "empty", "missing"} {
		if _, err := Load(filepath.Join(dir, name)); err == nil {
			t.Errorf("Load(%s): want an error", name)
		}
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load(a directory without a profile): want an error")
	}
}

func FuzzParse(f *testing.F) {
	p := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{"a;b": 5, "a;c": 7}, "f.go")
	var gz, raw bytes.Buffer
	p.Write(&gz)
	p.WriteUncompressed(&raw)
	f.Add(gz.Bytes())
	f.Add(raw.Bytes())
	f.Add([]byte("a;b;c 10\nx 1\n"))
	f.Add([]byte("--- contention:\ncycles/second=1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "folded")
		if err != nil {
			return
		}
		if err := p.CheckValid(); err != nil {
			t.Fatalf("Parse accepted an invalid profile: %v", err)
		}
		for _, st := range p.SampleType {
			Total(p, st.Type)
			TopFunctions(p, st.Type, 5)
		}
	})
}

func TestMovers(t *testing.T) {
	base := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{"main;a": 500, "main;b": 300, "main;c": 200}, "")
	cur := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{"main;a": 2000, "main;b": 6000, "main;c": 2000}, "")
	m := Movers(base, cur, TypeOnCPU, 3)
	if len(m) != 3 || m[0].Function != "b" || m[0].FlatDelta != 30 || m[1].Function != "a" || m[1].FlatDelta != -30 || m[2].FlatDelta != 0 {
		t.Fatalf("movers %+v: want b +30 points, a -30, c 0", m)
	}
	if got := CommonTypes(base, cur); len(got) != 1 || got[0] != TypeOnCPU {
		t.Errorf("common types %v", got)
	}
}

// A heap profile's four types keep their units and values under the go_*
// names; a heap profile without inuse types is refused.
func TestGoPartHeap(t *testing.T) {
	heap := stackProfile("alloc_objects", "count", map[string]int64{
		"runtime.goexit;main.handler;main.alloc": 3,
		"runtime.goexit;main.handler;main.small": 5,
	}, "/src/main.go")
	heap.SampleType = append(heap.SampleType,
		&profile.ValueType{Type: "alloc_space", Unit: "bytes"},
		&profile.ValueType{Type: "inuse_objects", Unit: "count"},
		&profile.ValueType{Type: "inuse_space", Unit: "bytes"})
	for _, s := range heap.Sample {
		n := s.Value[0]
		s.Value = []int64{n, n << 20, 1, 1 << 20}
	}
	ebpf := stackProfile(TypeOnCPU, "nanoseconds", map[string]int64{"runtime.goexit;main.handler;main.alloc": 10}, "")
	part, err := GoPart("heap", heap)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Merge(Part{Profile: ebpf, Source: SourceEBPF}, part)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, st := range m.SampleType {
		units[st.Type] = st.Unit
	}
	for typ, want := range map[string]struct {
		unit  string
		total int64
	}{
		TypeGoAllocObjects: {"count", 8}, TypeGoAllocSpace: {"bytes", 8 << 20},
		TypeGoInuseObjects: {"count", 2}, TypeGoInuseSpace: {"bytes", 2 << 20},
		TypeOnCPU: {"nanoseconds", 10},
	} {
		if units[typ] != want.unit {
			t.Errorf("%s has unit %q, want %q", typ, units[typ], want.unit)
		}
		if got := Total(m, typ); got != want.total {
			t.Errorf("total %s = %d, want %d", typ, got, want.total)
		}
		if st, ok := LookupSampleType(typ); typ != TypeOnCPU && (!ok || st.Unit != want.unit) {
			t.Errorf("%s registered as %+v, want unit %q", typ, st, want.unit)
		}
	}
	heap.SampleType = heap.SampleType[:2]
	for _, s := range heap.Sample {
		s.Value = s.Value[:2]
	}
	if _, err := GoPart("heap", heap); err == nil || !strings.Contains(err.Error(), "inuse_objects") {
		t.Errorf("GoPart(heap) of a profile without inuse types: %v, want an error naming inuse_objects", err)
	}
}
