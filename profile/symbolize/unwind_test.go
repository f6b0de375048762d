package symbolize

import (
	"cmp"
	"debug/elf"
	"os"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

const leafCProgram = `#include <time.h>

__attribute__((noinline)) int napper(void) {
	struct timespec ts = {0, 1000};
	return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, 0);
}

int main(void) { return napper(); }
`

// fileMapping maps the whole file at path, as the process would at its
// link-time addresses (so that addresses are ELF virtual addresses).
func fileMapping(t testing.TB, path string) *procMapping {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("opening %s: %v", path, err)
	}
	st, _ := f.Stat()
	o, err := newObjFile(f, f)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	o.loc = debugLoc{path: path}
	start := o.loads[0].Vaddr - o.loads[0].Off
	return &procMapping{Mapping: Mapping{Start: start, Limit: start + uint64(st.Size()), Path: path}, obj: o}
}

func fakeProcess(ms ...*procMapping) *Process {
	p := &Process{cache: map[frameKey]Frame{}, held: map[*objFile]bool{}}
	p.maps = ms
	slices.SortFunc(p.maps, func(a, b *procMapping) int { return cmp.Compare(a.Start, b.Start) })
	return p
}

// symbolRange returns the address range of the function name in path.
func symbolRange(t *testing.T, path, name string) (uint64, uint64) {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, _ := ef.Symbols()
	dyn, _ := ef.DynamicSymbols()
	for _, s := range append(syms, dyn...) {
		if s.Name == name && s.Size > 0 {
			return s.Value, s.Value + s.Size
		}
	}
	t.Skipf("no symbol %s in %s", name, path)
	return 0, 0
}

// firstPC returns the first pc in [lo, hi) whose rule is of kind.
func firstPC(t *testing.T, p *Process, lo, hi uint64, kind uint8) uint64 {
	t.Helper()
	for pc := lo; pc < hi; pc++ {
		if p.frameRule(pc, false).kind == kind {
			return pc
		}
	}
	t.Fatalf("no pc in [%#x, %#x) with rule kind %d", lo, hi, kind)
	return 0
}

// A C function with a frame pointer calling libc's clock_nanosleep
// (frameless): the caller's return address at the word the CFA rule names
// is put back; missing words, a framed leaf, an unknown pc and a walk that
// already has the caller leave the stack as it is.
func TestSpliceLeafNative(t *testing.T) {
	gcc := lookTool(t, "gcc")
	exe := build(t, "c-leaf", "leaf", map[string]string{"main.c": leafCProgram}, nil,
		gcc, "-O2", "-fno-omit-frame-pointer", "-o", "OUT", "main.c")
	libc := "/lib/x86_64-linux-gnu/libc.so.6"
	p := fakeProcess(fileMapping(t, exe), fileMapping(t, libc))
	p.maps[1].Start += 1 << 40 // libc far from the executable, as mapped
	p.maps[1].Limit += 1 << 40
	base := p.maps[1].Start

	cnLo, _ := symbolRange(t, libc, "clock_nanosleep")
	leaf := base + cnLo // the entry: CFA = rsp+8, the return address at SP
	if r := p.frameRule(leaf, false); r.kind != ruleSP || r.ra != 0 {
		t.Fatalf("rule at clock_nanosleep's entry = %+v, want the return address at SP", r)
	}
	nLo, nHi := symbolRange(t, exe, "napper")
	inNapper := firstPC(t, p, nLo, nHi, ruleFrame)
	ra := inNapper + 1 // a return address whose call is in napper's framed body
	mLo, _ := symbolRange(t, exe, "main")
	grand := mLo + 1

	words := []StackWord{{Index: 0, Value: ra}}
	got, res := p.SpliceLeaf([]uint64{leaf, grand}, words)
	if res != LeafSpliced || !slices.Equal(got, []uint64{leaf, ra, grand}) {
		t.Errorf("SpliceLeaf = %#x, %v; want [leaf ra grand], LeafSpliced", got, res)
	}
	// A stale word elsewhere is not taken for the return address.
	if got, res := p.SpliceLeaf([]uint64{leaf, grand}, []StackWord{{Index: 3, Value: ra}}); res != LeafUnresolved || len(got) != 2 {
		t.Errorf("word at the wrong index: %#x, %v; want unchanged, LeafUnresolved", got, res)
	}
	if got, res := p.SpliceLeaf([]uint64{leaf, grand}, nil); res != LeafUnresolved || len(got) != 2 {
		t.Errorf("no words: %#x, %v; want unchanged, LeafUnresolved", got, res)
	}
	if got, res := p.SpliceLeaf([]uint64{inNapper, grand}, words); res != LeafFramed || len(got) != 2 {
		t.Errorf("framed leaf: %#x, %v; want unchanged, LeafFramed", got, res)
	}
	if got, res := p.SpliceLeaf([]uint64{leaf, ra}, words); res != LeafFramed || len(got) != 2 {
		t.Errorf("walk already has the caller: %#x, %v; want unchanged, LeafFramed", got, res)
	}
	if _, res := p.SpliceLeaf([]uint64{8, grand}, words); res != LeafNoRule {
		t.Errorf("unmapped leaf: %v, want LeafNoRule", res)
	}
}

// leafForTest has no frame (no locals, no calls).
//
//go:noinline
func leafForTest(x uint64) uint64 { return x*3 + 1 }

// Go: a frameless function's return address is at SP (pcsp 0); inside a
// function with a frame the frame pointer is its own.
func TestFrameRuleGo(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	pie := ef.Type != elf.ET_EXEC
	ef.Close()
	if pie {
		t.Skip("the test binary is position independent: runtime pcs are not its ELF addresses")
	}
	p := fakeProcess(fileMapping(t, exe))
	leaf := uint64(reflect.ValueOf(leafForTest).Pointer())
	if r := p.frameRule(leaf, false); r.kind != ruleSP || r.ra != 0 {
		t.Errorf("rule at leafForTest = %+v, want the return address at SP", r)
	}
	pcs := make([]uintptr, 1)
	runtime.Callers(1, pcs) // a return address inside this function, which has a frame
	if r := p.frameRule(uint64(pcs[0]), true); r.kind != ruleFrame {
		t.Errorf("rule inside TestFrameRuleGo = %+v, want its own frame", r)
	}
	_ = leafForTest(1)
}

// BenchmarkSpliceLeaf is the cost of splicing one stack with a frameless
// libc leaf, rules cached (the usual case: call sites repeat).
func BenchmarkSpliceLeaf(b *testing.B) {
	gcc := lookTool(b, "gcc")
	exe := build(b, "c-leaf", "leaf", map[string]string{"main.c": leafCProgram}, nil,
		gcc, "-O2", "-fno-omit-frame-pointer", "-o", "OUT", "main.c")
	libc := "/lib/x86_64-linux-gnu/libc.so.6"
	p := fakeProcess(fileMapping(b, exe), fileMapping(b, libc))
	p.maps[1].Start += 1 << 40
	p.maps[1].Limit += 1 << 40
	ef, _ := elf.Open(libc)
	dyn, _ := ef.DynamicSymbols()
	ef.Close()
	var leaf uint64
	for _, s := range dyn {
		if s.Name == "clock_nanosleep" {
			leaf = p.maps[1].Start + s.Value
		}
	}
	ef, _ = elf.Open(exe)
	syms, _ := ef.Symbols()
	ef.Close()
	var ra, grand uint64
	for _, s := range syms {
		switch s.Name {
		case "napper":
			for pc := s.Value; pc < s.Value+s.Size; pc++ {
				if p.frameRule(pc, false).kind == ruleFrame {
					ra = pc + 1
					break
				}
			}
		case "main":
			grand = s.Value + 1
		}
	}
	user, words := []uint64{leaf, grand, grand}, []StackWord{{0, ra}}
	if _, res := p.SpliceLeaf(user, words); res != LeafSpliced {
		b.Fatalf("SpliceLeaf = %v, want LeafSpliced", res)
	}
	b.ResetTimer()
	for range b.N {
		p.SpliceLeaf(user, words)
	}
}

// BenchmarkUnwindInitLibc is the one-off cost of a binary's rules: libc's
// .eh_frame read and parsed (the first frameless leaf in it), its symbols
// already read.
func BenchmarkUnwindInitLibc(b *testing.B) {
	libc := "/lib/x86_64-linux-gnu/libc.so.6"
	for range b.N {
		b.StopTimer()
		m := fileMapping(b, libc)
		m.obj.load() // symbols are read for symbolizing anyway
		b.StartTimer()
		var u unwindCache
		u.init(m.obj)
		if len(u.fdes) == 0 {
			b.Fatal("no FDEs in libc")
		}
		m.obj.drop()
	}
}
