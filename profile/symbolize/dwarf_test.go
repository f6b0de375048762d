package symbolize

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// addr2line returns binutils' file and line for each address in path.
func addr2line(t testing.TB, path string, addrs []uint64) []string {
	t.Helper()
	tool := lookTool(t, "addr2line")
	args := []string{"-e", path}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	out, err := exec.Command(tool, args...).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l, _, _ := strings.Cut(sc.Text(), " (discriminator")
		lines = append(lines, l)
	}
	if len(lines) != len(addrs) {
		t.Fatalf("addr2line: %d lines for %d addresses", len(lines), len(addrs))
	}
	return lines
}

// openLines reads the line tables of the ELF file at path.
func openLines(t testing.TB, path string) (*dwarfLines, *elf.File, *os.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatal(err)
	}
	l, warn := newDWARFLines(ef, f, path)
	if l == nil {
		t.Fatalf("%s: no line tables (%s)", path, warn)
	}
	return l, ef, f
}

// compareAddr2line checks our file and line against addr2line's for addrs
// (only the line when lineOnly). Where addr2line knows nothing, neither
// must we. It returns how many addresses had a line.
func compareAddr2line(t *testing.T, path string, addrs []uint64, lineOnly bool) int {
	t.Helper()
	l, _, _ := openLines(t, path)
	want := addr2line(t, path, addrs)
	known, bad := 0, 0
	for i, a := range addrs {
		file, line, ok := l.lookup(a)
		got := "??:0"
		if ok {
			got = fmt.Sprintf("%s:%d", file, line)
			known++
		}
		w := want[i]
		if strings.HasSuffix(w, ":?") || strings.HasSuffix(w, ":0") {
			w = "??:0" // a file without a line: we say nothing
		}
		same := got == w
		if lineOnly {
			_, wl, _ := strings.Cut(w, ":")
			same = strings.HasSuffix(got, ":"+wl)
		}
		if !same {
			if bad++; bad <= 10 {
				t.Errorf("%#x: %s, addr2line says %s", a, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d addresses differ from addr2line", bad, len(addrs))
	}
	return known
}

// TestDWARFLinesMatchAddr2line looks up every byte address of the test
// program's .text and checks file and line against binutils' addr2line.
func TestDWARFLinesMatchAddr2line(t *testing.T) {
	full := filepath.Join(buildDebug(t), "full")
	ef, err := elf.Open(full)
	if err != nil {
		t.Fatal(err)
	}
	text := ef.Section(".text")
	ef.Close()
	var addrs []uint64
	for a := text.Addr; a < text.Addr+text.Size; a++ {
		addrs = append(addrs, a)
	}
	known := compareAddr2line(t, full, addrs, false)
	t.Logf("%d of %d .text addresses have a line", known, len(addrs))
	if known < len(addrs)/4 {
		t.Errorf("only %d of %d addresses have a line", known, len(addrs))
	}
}

// Two compilation units, one with code inlined from a header in a relative
// include directory.
var twoUnits = map[string]string{
	"a.c": `#include "inc/h.h"
int other(int);
int main(int argc, char **argv) {
	(void)argv;
	return twice(argc) + other(argc);
}
`,
	"b.c": `#include "inc/h.h"
__attribute__((noinline)) int other(int x) {
	int s = 0;
	for (int i = 0; i < x; i++)
		s += twice(i);
	return s;
}
`,
	"inc/h.h": `static inline int twice(int x) {
	return x * 2 + (x >> 3);
}
`,
}

// TestDWARFLinesVersions compares every .text address of a two-unit
// program with an inlined header function, built with DWARF 4 and 5, with
// addr2line.
func TestDWARFLinesVersions(t *testing.T) {
	gcc := lookTool(t, "gcc")
	for _, v := range []string{"4", "5"} {
		t.Run("dwarf"+v, func(t *testing.T) {
			dir := filepath.Join(buildDir, "dwarf"+v)
			if err := os.MkdirAll(filepath.Join(dir, "inc"), 0o755); err != nil {
				t.Fatal(err)
			}
			bin := build(t, "dwarf"+v, "prog", twoUnits, nil, gcc, "-O2", "-gdwarf-"+v, "-o", "OUT", "a.c", "b.c")
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			text := ef.Section(".text")
			ef.Close()
			var addrs []uint64
			for a := text.Addr; a < text.Addr+text.Size; a++ {
				addrs = append(addrs, a)
			}
			known := compareAddr2line(t, bin, addrs, false)
			l, _, _ := openLines(t, bin)
			headers := 0
			for _, a := range addrs {
				if f, _, ok := l.lookup(a); ok && f == filepath.Join(dir, "inc", "h.h") {
					headers++
				}
			}
			t.Logf("%d of %d .text addresses have a line, %d in inc/h.h", known, len(addrs), headers)
			// Concurrent lookups in a fresh table agree with sequential ones.
			fresh, _, _ := openLines(t, bin)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for _, a := range addrs {
						f1, l1, ok1 := fresh.lookup(a)
						f2, l2, ok2 := l.lookup(a)
						if f1 != f2 || l1 != l2 || ok1 != ok2 {
							t.Errorf("%#x: concurrently %s:%d %v, before %s:%d %v", a, f1, l1, ok1, f2, l2, ok2)
							return
						}
					}
				})
			}
			wg.Wait()
			if len(l.cus) != 2 || headers == 0 {
				t.Errorf("%d compilation units, %d addresses in inc/h.h: want 2 units and some", len(l.cus), headers)
			}
		})
	}
}

// libcDebugFile returns the path of the C library's separate debug file
// (Debian's libc6-dbg), skipping the test without it.
func libcDebugFile(t testing.TB) string {
	t.Helper()
	for _, lib := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"} {
		ef, err := elf.Open(lib)
		if err != nil {
			continue
		}
		id := buildID(ef)
		ef.Close()
		p := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no debug file for the C library (apt-get install libc6-dbg)")
	return ""
}

// libcAddrs returns n addresses spread over the C library's functions:
// entries and points inside them.
func libcAddrs(t testing.TB, debug string, n int) []uint64 {
	t.Helper()
	ef, err := elf.Open(debug)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	symtab, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	syms := elfSymbols(ef, symtab)
	var out []uint64
	for i := 0; len(out) < n && i < len(syms); i += max(1, len(syms)/n) {
		s := syms[i]
		out = append(out, s.addr+uint64(i%3)*s.size/3)
	}
	return out
}

// TestDWARFLinesLibc checks the C library's debug file (DWARF 5,
// compressed sections, as Debian ships it) against addr2line, by line
// only: in code inlined from headers, binutils 2.40's addr2line names the
// including file where readelf's decoded line table, and we, name the
// header (0x26550: rounding-mode.h:61, not strtod_l.c:61), and it
// joins relative names with the compilation directory twice.
func TestDWARFLinesLibc(t *testing.T) {
	debug := libcDebugFile(t)
	addrs := libcAddrs(t, debug, 500)
	known := compareAddr2line(t, debug, addrs, true)
	t.Logf("%d of %d libc addresses have a line", known, len(addrs))
	if known < len(addrs)*3/4 {
		t.Errorf("only %d of %d libc addresses have a line", known, len(addrs))
	}
}

func TestUnitOffsets(t *testing.T) {
	le := binary.LittleEndian
	unit := func(vers uint16, ut byte, body int) []byte {
		var b []byte
		switch vers {
		case 5:
			b = append(le.AppendUint16(nil, 5), ut, 8)
			b = le.AppendUint32(b, 0)
			if ut == 0x02 {
				b = append(b, make([]byte, 12)...)
			}
		default:
			b = le.AppendUint16(nil, vers)
			b = append(le.AppendUint32(b, 0), 8)
		}
		hdr := len(b)
		b = append(b, make([]byte, body)...)
		return append(le.AppendUint32(nil, uint32(len(b))), b...)[:4+hdr+body]
	}
	var info []byte
	info = append(info, unit(4, 0, 10)...) // first entry at 4+7
	info = append(info, unit(5, 1, 6)...)  // at 21 + 4+8
	info = append(info, unit(5, 2, 3)...)  // at 39 + 4+20
	info = append(info, 0xff, 0xff)        // truncated length
	got := fmt.Sprint(unitOffsets(info, le))
	if want := "[11 33 63]"; got != want {
		t.Errorf("unitOffsets = %s, want %s", got, want)
	}
}

func FuzzUnitOffsets(f *testing.F) {
	f.Add([]byte{7, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, info []byte) {
		last := int64(-1)
		for _, off := range unitOffsets(info, binary.LittleEndian) {
			if int64(off) <= last || int(off) >= len(info) {
				t.Fatalf("offset %d after %d in %d bytes", off, last, len(info))
			}
			last = int64(off)
		}
	})
}

// TestCompressedDebugSections compresses the test program's debug sections
// with zlib and zstd (objcopy) and checks that every section reads back as
// debug/elf reads it and that every .text address gets the same line.
func TestCompressedDebugSections(t *testing.T) {
	objcopy := lookTool(t, "objcopy")
	full := filepath.Join(buildDebug(t), "full")
	plain, _, _ := openLines(t, full)
	for _, alg := range []string{"zlib", "zstd"} {
		t.Run(alg, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "prog")
			if b, err := exec.Command(objcopy, "--compress-debug-sections="+alg, full, out).CombinedOutput(); err != nil {
				t.Skipf("objcopy cannot compress with %s: %v: %s", alg, err, b)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ef, err := elf.NewFile(f)
			if err != nil {
				t.Fatal(err)
			}
			compressed := 0
			for _, s := range ef.Sections {
				if !strings.HasPrefix(s.Name, ".debug_") {
					continue
				}
				if s.Flags&elf.SHF_COMPRESSED != 0 {
					compressed++
				}
				want, err1 := s.Data()
				got, err2 := sectionData(ef, s, f)
				if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes (%v), debug/elf reads %d (%v)", s.Name, len(got), err2, len(want), err1)
				}
			}
			if compressed == 0 {
				t.Fatalf("no compressed debug section in %s", out)
			}
			l, warn := newDWARFLines(ef, f, out)
			if l == nil {
				t.Fatalf("no lines: %s", warn)
			}
			text := ef.Section(".text")
			for a := text.Addr; a < text.Addr+text.Size; a++ {
				f1, l1, ok1 := l.lookup(a)
				f2, l2, ok2 := plain.lookup(a)
				if f1 != f2 || l1 != l2 || ok1 != ok2 {
					t.Fatalf("%#x: %s:%d %v, uncompressed %s:%d %v", a, f1, l1, ok1, f2, l2, ok2)
				}
			}
		})
	}
}
