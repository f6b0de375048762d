package symbolize

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nativeInlineSource is the C program of the native inlining tests, with
// MARK comments on the lines they look for.
func nativeInlineSource(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/nativeinline/main.c")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// buildNativeInline builds the program with gcc -O2 and flags as
// <variant>/prog.
func buildNativeInline(t testing.TB, variant string, flags ...string) string {
	t.Helper()
	gcc := lookTool(t, "gcc")
	args := append([]string{gcc, "-O2"}, flags...)
	args = append(args, "-o", "OUT", "main.c")
	return build(t, "nativeinline-"+variant, "prog", map[string]string{"main.c": nativeInlineSource(t)}, nil, args...)
}

// inlinedRanges returns, from the binary's DWARF read with debug/dwarf,
// the address ranges of every inlined instance of the function name,
// and all the inlined subroutines' ranges.
func inlinedRanges(t testing.TB, bin, name string) (of, all [][2]uint64) {
	t.Helper()
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	d, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r, or := d.Reader(), d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagInlinedSubroutine {
			continue
		}
		rs, err := d.Ranges(e)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
		or.Seek(e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset))
		o, err := or.Next()
		if err != nil {
			t.Fatal(err)
		}
		if o.Val(dwarf.AttrName) == name {
			of = append(of, rs...)
		}
	}
	return of, all
}

// symbolOf returns the value and size of the symbol name.
func symbolOf(t testing.TB, bin, name string) (addr, size uint64) {
	t.Helper()
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value, s.Size
		}
	}
	t.Fatalf("%s: no symbol %s", bin, name)
	return 0, 0
}

// framesString is f and its inlined functions as "function file:line",
// innermost first, file names shortened to their base.
func framesString(f Frame) string {
	var s []string
	for _, x := range f.Frames() {
		s = append(s, fmt.Sprintf("%s %s:%d", x.Function, filepath.Base(x.File), x.Line))
	}
	return strings.Join(s, " < ")
}

var nativeInlineVariants = []struct {
	name  string
	flags []string
}{
	{"g", []string{"-g"}}, // gcc's default DWARF version (5 from gcc 11)
	{"dwarf4", []string{"-gdwarf-4"}},
	{"dwarf5", []string{"-gdwarf-5"}},
	{"lto", []string{"-g", "-flto"}}, // abstract origins in other units (DW_FORM_ref_addr)
}

// TestNativeInlined: an address inside planted_mix, inlined into
// planted_step, itself inlined into planted_outer, symbolizes to
// planted_outer at its call into planted_step, with planted_mix (at a
// line of its body) and planted_step (at its call into planted_mix) as
// Inlined, in every DWARF version; without DWARF, and outside inlined
// code, Inlined is nil.
func TestNativeInlined(t *testing.T) {
	src := nativeInlineSource(t)
	mixFirst, mixLast := lineOf(t, src, "MARK mix first"), lineOf(t, src, "MARK mix last")
	callMix, callStep := lineOf(t, src, "MARK call mix"), lineOf(t, src, "MARK call step")
	t.Setenv("DEBUGINFOD_URLS", "")
	for _, v := range nativeInlineVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := buildNativeInline(t, v.name, v.flags...)
			mix, all := inlinedRanges(t, bin, "planted_mix")
			if len(mix) == 0 {
				t.Fatal("gcc inlined planted_mix nowhere")
			}
			outer, outerSize := symbolOf(t, bin, "planted_outer")
			tg := start(t, bin)
			base := tg.addrs[0] - outer // load bias (PIE)
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()

			// The first address of the inlined planted_mix.
			f := p.Symbolize(base+mix[0][0], false)
			t.Logf("%#x: %s", mix[0][0], framesString(f))
			if f.Function != "planted_outer" || !f.Known || filepath.Base(f.File) != "main.c" || f.Line != callStep {
				t.Errorf("outer frame %s %s:%d, want planted_outer main.c:%d (its call into planted_step)", f.Function, f.File, f.Line, callStep)
			}
			if len(f.Inlined) != 2 {
				t.Fatalf("%d inlined frames (%s), want planted_mix and planted_step", len(f.Inlined), framesString(f))
			}
			in0, in1 := f.Inlined[0], f.Inlined[1]
			if in0.Function != "planted_mix" || filepath.Base(in0.File) != "main.c" || in0.Line < mixFirst || in0.Line > mixLast {
				t.Errorf("Inlined[0] %s %s:%d, want planted_mix main.c:%d-%d", in0.Function, in0.File, in0.Line, mixFirst, mixLast)
			}
			if in1.Function != "planted_step" || filepath.Base(in1.File) != "main.c" || in1.Line != callMix {
				t.Errorf("Inlined[1] %s %s:%d, want planted_step main.c:%d (its call into planted_mix)", in1.Function, in1.File, in1.Line, callMix)
			}
			for _, in := range f.Inlined {
				if in.Addr != f.Addr || in.Mapping != f.Mapping || !in.Known || in.Inlined != nil {
					t.Errorf("inlined frame %+v: want Addr, Mapping of the frame, Known, no Inlined", in)
				}
			}

			// Every byte of every range of planted_mix: the same chain,
			// and the innermost line in planted_mix's body.
			n := 0
			for _, rg := range mix {
				for a := rg[0]; a < rg[1]; a++ {
					f := p.Symbolize(base+a, false)
					n++
					got := fmt.Sprintf("%s/%s:%d/%s:%d", f.Function, funcOf(f, 0), lineAt(f, 1), funcOf(f, 1), f.Line)
					want := fmt.Sprintf("planted_outer/planted_mix:%d/planted_step:%d", callMix, callStep)
					if got != want || f.Inlined[0].Line < mixFirst || f.Inlined[0].Line > mixLast {
						t.Errorf("%#x: %s, want planted_mix at main.c:%d-%d < planted_step main.c:%d < planted_outer main.c:%d", a, framesString(f), mixFirst, mixLast, callMix, callStep)
					}
				}
			}

			// An address of planted_outer outside all inlined code.
			in := func(a uint64) bool {
				for _, rg := range all {
					if rg[0] <= a && a < rg[1] {
						return true
					}
				}
				return false
			}
			plain := 0
			for a := outer; a < outer+outerSize; a++ {
				if in(a) {
					continue
				}
				plain++
				if f := p.Symbolize(base+a, false); f.Function != "planted_outer" || f.Inlined != nil {
					t.Errorf("%#x outside inlined code: %s, want planted_outer without Inlined", a, framesString(f))
				}
			}
			t.Logf("%d addresses in planted_mix, %d of planted_outer outside inlined code", n, plain)
			if plain == 0 {
				t.Error("no address of planted_outer outside inlined code")
			}
		})
	}
}

func funcOf(f Frame, i int) string {
	if i < len(f.Inlined) {
		return f.Inlined[i].Function
	}
	return "-"
}

func lineAt(f Frame, i int) int {
	if i < len(f.Inlined) {
		return f.Inlined[i].Line
	}
	return -1
}

// TestNativeInlinedNoDWARF: the same program linked without its DWARF
// (-Wl,--strip-debug: same code, same symbols) has no inlined frames.
func TestNativeInlinedNoDWARF(t *testing.T) {
	withDWARF := buildNativeInline(t, "g", "-g")
	bin := buildNativeInline(t, "nodwarf", "-g", "-Wl,--strip-debug")
	if ef, err := elf.Open(bin); err != nil {
		t.Fatal(err)
	} else if s := ef.Section(".debug_info"); s != nil {
		ef.Close()
		t.Fatal("-Wl,--strip-debug left .debug_info")
	} else {
		ef.Close()
	}
	t.Setenv("DEBUGINFOD_URLS", "")
	mix, _ := inlinedRanges(t, withDWARF, "planted_mix")
	if len(mix) == 0 {
		t.Fatal("gcc inlined planted_mix nowhere")
	}
	outer, _ := symbolOf(t, bin, "planted_outer")
	if o, _ := symbolOf(t, withDWARF, "planted_outer"); o != outer {
		t.Fatalf("planted_outer at %#x without DWARF, %#x with: not the same code", outer, o)
	}
	tg := start(t, bin)
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := p.Symbolize(tg.addrs[0]-outer+mix[0][0], false)
	if f.Function != "planted_outer" || !f.Known || f.Inlined != nil || f.File != "" {
		t.Errorf("without DWARF: %s (Inlined %v), want planted_outer without file or inlined frames", framesString(f), f.Inlined)
	}
}

// TestNativeInlinedLikeAddr2line: every address of planted_outer and
// main symbolizes to the functions and lines binutils' addr2line -f -i
// gives, inlined ones included, in the same order.
func TestNativeInlinedLikeAddr2line(t *testing.T) {
	tool := lookTool(t, "addr2line")
	for _, v := range nativeInlineVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := buildNativeInline(t, v.name, v.flags...)
			f, err := os.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			o, err := newObjFile(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			var addrs []uint64
			for _, fn := range []string{"planted_outer", "main"} {
				a, size := symbolOf(t, bin, fn)
				for i := uint64(0); i < size; i++ {
					addrs = append(addrs, a+i)
				}
			}
			args := []string{"-f", "-i", "-e", bin}
			for _, a := range addrs {
				args = append(args, fmt.Sprintf("%#x", a))
			}
			out, err := exec.Command(tool, args...).Output()
			if err != nil {
				t.Fatalf("addr2line: %v", err)
			}
			want := splitAddr2line(t, string(out), len(addrs))
			bad, inlined := 0, 0
			for i, a := range addrs {
				name, file, line, inl, ok := o.lookup(a)
				if !ok {
					t.Fatalf("%#x: not found", a)
				}
				fr := Frame{Function: name, File: file, Line: line, Inlined: inl}
				var got []string
				for _, x := range fr.Frames() {
					got = append(got, fmt.Sprintf("%s:%d", x.Function, x.Line))
				}
				if len(inl) > 0 {
					inlined++
				}
				if g := strings.Join(got, " < "); g != want[i] {
					if bad++; bad <= 10 {
						t.Errorf("%#x: %s, addr2line -i says %s", a, g, want[i])
					}
				}
			}
			t.Logf("%d addresses compared, %d with inlined functions", len(addrs), inlined)
			if bad > 0 {
				t.Errorf("%d of %d addresses differ from addr2line -f -i", bad, len(addrs))
			}
			if inlined < len(addrs)/4 {
				t.Errorf("only %d of %d addresses in inlined code", inlined, len(addrs))
			}
		})
	}
}

// splitAddr2line splits the output of addr2line -f -i for n addresses
// into "function:line < caller:line ..." per address. An address's
// frames end where the next starts; as addr2line does not mark that,
// each address is resolved again alone when the count does not add up.
func splitAddr2line(t *testing.T, out string, n int) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("addr2line: odd number of output lines")
	}
	// Each address's chain ends with a function that is a symbol of the
	// binary (planted_outer or main); inlined ones come before it.
	var res []string
	var cur []string
	for i := 0; i < len(lines); i += 2 {
		fn, pos := lines[i], lines[i+1]
		pos, _, _ = strings.Cut(pos, " (discriminator")
		ln := pos[strings.LastIndexByte(pos, ':')+1:]
		if ln == "?" {
			ln = "0"
		}
		cur = append(cur, fn+":"+ln)
		if fn == "planted_outer" || fn == "main" {
			res = append(res, strings.Join(cur, " < "))
			cur = nil
		}
	}
	if len(res) != n || cur != nil {
		t.Fatalf("addr2line: %d chains for %d addresses", len(res), n)
	}
	return res
}

// TestNativeInlinedLibc compares the inlined functions of addresses
// spread over the C library (its debug file: DWARF 5, compressed, many
// compile units) with addr2line -f -i, by function and line (see
// TestDWARFLinesLibc on file names), once with the default budget of
// decoded inline trees and once with a budget of 1000 nodes and ranges,
// which drops them again and again.
func TestNativeInlinedLibc(t *testing.T) {
	tool := lookTool(t, "addr2line")
	debug := libcDebugFile(t)
	addrs := libcAddrs(t, debug, 500)
	// A few bytes on from each, to land inside inlined code more often.
	for i, n := 0, len(addrs); i < n; i++ {
		addrs = append(addrs, addrs[i]+7, addrs[i]+23)
	}
	// addr2line -i does not separate addresses: a sentinel address (0,
	// "??") follows each.
	args := []string{"-f", "-i", "-e", debug}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a), "0")
	}
	out, err := exec.Command(tool, args...).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	var want []string
	var cur []string
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		fn, pos := lines[i], lines[i+1]
		if fn == "??" && strings.HasPrefix(pos, "??:") {
			want = append(want, strings.Join(cur, " < "))
			cur = nil
			continue
		}
		pos, _, _ = strings.Cut(pos, " (discriminator")
		ln := pos[strings.LastIndexByte(pos, ':')+1:]
		if ln == "?" {
			ln = "0"
		}
		cur = append(cur, fn+":"+ln)
	}
	if len(want) != len(addrs) {
		t.Fatalf("addr2line: %d answers for %d addresses", len(want), len(addrs))
	}
	unbounded := 0 // entries kept with the default budget
	for _, budget := range []int{maxInlineEntries, 1000} {
		t.Run(fmt.Sprint("budget-", budget), func(t *testing.T) {
			defer func(b int) { maxInlineEntries = b }(maxInlineEntries)
			maxInlineEntries = budget
			l, ef, _ := openLines(t, debug)
			symtab, err := ef.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			syms := elfSymbols(ef, symtab)
			bad, inlined, maxEntries, maxTree := 0, 0, 0, 0
			for i, a := range addrs {
				s, ok := lookupSymbol(syms, a)
				if !ok {
					continue
				}
				file, line, _ := l.lookup(a)
				file, line, inl := l.inlined(a, file, line)
				fr := Frame{Function: s.name, File: file, Line: line, Inlined: inl}
				var got []string
				for _, x := range fr.Frames() {
					got = append(got, fmt.Sprintf("%s:%d", x.Function, x.Line))
				}
				if inl != nil {
					inlined++
				}
				// addr2line names the outer function by DWARF, we by the
				// symbol (aliases differ): compare the inlined part and the
				// outer line.
				g, w := strings.Join(got, " < "), want[i]
				if k := strings.LastIndex(g, " < "); k >= 0 {
					g = g[:k] + g[strings.LastIndexByte(g, ':'):]
				} else {
					g = g[strings.LastIndexByte(g, ':'):]
				}
				if k := strings.LastIndex(w, " < "); k >= 0 {
					w = w[:k] + w[strings.LastIndexByte(w, ':'):]
				} else if k := strings.LastIndexByte(w, ':'); k >= 0 {
					w = w[k:]
				}
				if g != w {
					if bad++; bad <= 10 {
						t.Errorf("%#x: %s, addr2line -f -i says %s", a, strings.Join(got, " < "), want[i])
					}
				}
				l.imu.Lock()
				maxEntries = max(maxEntries, l.inlEntries)
				for _, c := range l.decoded {
					maxTree = max(maxTree, l.inl[c].Load().entries())
				}
				l.imu.Unlock()
			}
			t.Logf("%d addresses, %d with inlined functions, %d differ; at most %d inline entries kept, %d in one unit", len(addrs), inlined, bad, maxEntries, maxTree)
			if maxEntries > budget+maxTree {
				t.Errorf("%d inline entries kept, over the budget %d plus the largest unit's %d", maxEntries, budget, maxTree)
			}
			if unbounded == 0 {
				unbounded = maxEntries
			} else if maxEntries >= unbounded {
				t.Errorf("%d inline entries kept with a budget of %d, as many as without (%d): never dropped", maxEntries, budget, unbounded)
			}
			if bad > len(addrs)/100 {
				t.Errorf("%d of %d addresses differ from addr2line -f -i (1%% allowed)", bad, len(addrs))
			}
			if inlined < len(addrs)/20 {
				t.Errorf("only %d of %d addresses in inlined code", inlined, len(addrs))
			}
		})
	}
}

const cxxInlineProgram = `namespace planted {
template <typename T> struct Acc {
	T v;
	__attribute__((always_inline)) inline void add(T x) {
		for (int i = 0; i < 29; i++) // MARK add first
			v = v * 31 + x + i; // MARK add body
	}
};
}

__attribute__((noinline)) long cxx_outer(long n) {
	planted::Acc<long> a{1};
	for (long k = 0; k < n; k++)
		a.add(k); // MARK call add
	return a.v;
}

int main(int argc, char **) { return (int)cxx_outer(argc * 100); }
`

// TestNativeInlinedCXX: a C++ member function template inlined into
// cxx_outer is named by its linkage name, demangled (SystemName the
// mangled one), as addr2line -C shows it.
func TestNativeInlinedCXX(t *testing.T) {
	gxx := lookTool(t, "g++")
	bin := build(t, "nativeinline-cxx", "prog", map[string]string{"main.cc": cxxInlineProgram}, nil, gxx, "-O2", "-g", "-o", "OUT", "main.cc")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := newObjFile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	outer, size := symbolOf(t, bin, "_Z9cxx_outerl")
	first, body, call := lineOf(t, cxxInlineProgram, "MARK add first"), lineOf(t, cxxInlineProgram, "MARK add body"), lineOf(t, cxxInlineProgram, "MARK call add")
	n := 0
	for a := outer; a < outer+size; a++ {
		name, _, line, inl, ok := o.lookup(a)
		if !ok || name != "_Z9cxx_outerl" {
			t.Fatalf("%#x: %q, want _Z9cxx_outerl", a, name)
		}
		if inl == nil {
			continue
		}
		n++
		if len(inl) != 1 || inl[0].Function != "planted::Acc<long>::add(long)" || inl[0].SystemName != "_ZN7planted3AccIlE3addEl" || inl[0].Line < first || inl[0].Line > body || line != call {
			t.Errorf("%#x: inlined %+v, outer line %d; want planted::Acc<long>::add(long) (_ZN7planted3AccIlE3addEl) at lines %d-%d, called at %d", a, inl, line, first, body, call)
		}
	}
	if n == 0 {
		t.Error("no address of cxx_outer in inlined code")
	}
	t.Logf("%d of %d addresses of cxx_outer in the inlined Acc::add", n, size)
}

// TestDeclaresInlined: the abbreviation scan that spares reading units
// without inlined subroutines never skips one that has some (in the C
// library's debug file, all of its compile units, and the test program in
// both DWARF versions), and does skip units; a unit read through a Data of
// its own gives the same tree as through one of the whole .debug_info.
func TestDeclaresInlined(t *testing.T) {
	bins := []string{buildNativeInline(t, "dwarf4", "-gdwarf-4"), buildNativeInline(t, "dwarf5", "-gdwarf-5")}
	bins = append(bins, filepath.Join(buildDebug(t), "full"))
	if testing.Short() {
		t.Log("-short: not reading the C library's debug file")
	} else if debug := libcDebugFile(t); debug != "" {
		bins = append(bins, debug)
	}
	for _, bin := range bins {
		l, _, _ := openLines(t, bin)
		with, skipped := 0, 0
		for i, cu := range l.cus {
			declares, refAddr := l.isec.scanAbbrev(cu.abbrev)
			alone, whole := l.decodeInline(cu, refAddr), l.decodeInline(cu, true)
			has := alone != nil
			if (whole != nil) != has || has && (len(whole.nodes) != len(alone.nodes) || fmt.Sprint(whole.funcs, whole.files) != fmt.Sprint(alone.funcs, alone.files)) {
				t.Errorf("%s: unit %d read alone and in the whole .debug_info differ", bin, i)
			}
			if has && !declares {
				t.Errorf("%s: unit %d (at %#x) has inlined subroutines, its abbreviations (at %#x) declare none", bin, i, cu.off, cu.abbrev)
			}
			if has {
				with++
			}
			if !declares {
				skipped++
			}
		}
		t.Logf("%s: %d units, %d with inlined subroutines, %d skipped by their abbreviations", bin, len(l.cus), with, skipped)
		if with == 0 && strings.Contains(bin, "nativeinline") {
			t.Errorf("%s: no unit with inlined subroutines", bin)
		}
		if len(l.cus) > 100 && skipped == 0 {
			t.Errorf("%s: none of %d units skipped", bin, len(l.cus))
		}
	}
}

// BenchmarkNativeInlined is the cost of the inlined functions of an
// address: decoding its compile unit's inline tree (the debuginfo test
// program's one unit, whose plantedHotLoop BenchmarkSymbolizeDebugInfo
// names; an address inside planted_mix), and a lookup in a decoded tree.
func BenchmarkNativeInlined(b *testing.B) {
	full := filepath.Join(buildDebug(b), "full")
	nat := buildNativeInline(b, "g", "-g")
	hot, _ := symbolOf(b, full, "plantedHotLoop")
	mix, _ := inlinedRanges(b, nat, "planted_mix")
	for _, c := range []struct {
		name, bin string
		pc        uint64
		inlined   int
	}{{"plantedHotLoop", full, hot, 0}, {"planted_mix", nat, mix[0][0], 2}} {
		l, _, _ := openLines(b, c.bin)
		file, line, _ := l.lookup(c.pc)
		b.Run("decoding/"+c.name, func(b *testing.B) {
			for b.Loop() {
				l.imu.Lock()
				for _, cu := range l.decoded {
					l.inl[cu].Store(nil)
				}
				l.decoded, l.inlEntries = l.decoded[:0], 0
				l.imu.Unlock()
				if _, _, inl := l.inlined(c.pc, file, line); len(inl) != c.inlined {
					b.Fatalf("%d inlined", len(inl))
				}
			}
		})
		b.Run("decoded/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, inl := l.inlined(c.pc, file, line); len(inl) != c.inlined {
					b.Fatalf("%d inlined", len(inl))
				}
			}
		})
	}
}

// TestNativeInliningOff: with NativeInlining false, lines stay and no
// frame has inlined functions.
func TestNativeInliningOff(t *testing.T) {
	bin := buildNativeInline(t, "g", "-g")
	mix, _ := inlinedRanges(t, bin, "planted_mix")
	if len(mix) == 0 {
		t.Fatal("gcc inlined planted_mix nowhere")
	}
	defer func(v bool) { NativeInlining = v }(NativeInlining)
	for _, on := range []bool{true, false} {
		NativeInlining = on
		l, _, _ := openLines(t, bin)
		file, line, ok := l.lookup(mix[0][0])
		_, _, inl := l.inlined(mix[0][0], file, line)
		if !ok || filepath.Base(file) != "main.c" || (inl != nil) != on || (l.isec != nil) != on {
			t.Errorf("NativeInlining %v: %s:%d (%v), %d inlined, DWARF kept %v; want main.c, inlined frames and DWARF kept only when on", on, file, line, ok, len(inl), l.isec != nil)
		}
	}
}

func has1(l *dwarfLines, cu compUnit, whole bool) []inlineNode {
	return l.decodeInline(cu, whole).nodes
}
