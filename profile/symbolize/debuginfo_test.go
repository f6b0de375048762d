package symbolize

import (
	"fmt"
	"path/filepath"
	"testing"
)

const debugProgram = `#include <stdio.h>

__attribute__((noinline)) long plantedHotLoop(long n) {
	volatile long s = 0;
	for (long i = 0; i < n; i++)
		s += i * 3;
	return s;
}

int main(void) {
	plantedHotLoop(10);
	printf("%p\n", (void *)plantedHotLoop);
	fflush(stdout);
	getchar();
	return 0;
}
`

// debugScript builds the program with debug info as OUT and derives the
// stripped copies with separate debug files:
//   - byid: debug file only in root/.build-id/xx/yyyy.debug;
//   - link/prog: .gnu_debuglink to link/prog.debug next to it;
//   - sub/prog: .gnu_debuglink to sub/.debug/prog.debug;
//   - bad/prog: .gnu_debuglink whose debug file was changed afterwards (CRC mismatch).
const debugScript = `set -e
gcc -g -O1 -fno-omit-frame-pointer -o OUT main.c
id=$(readelf -n OUT | awk '/Build ID/ {print $3}')
test -n "$id"
d=root/.build-id/$(echo "$id" | cut -c1-2)
mkdir -p $d link sub/.debug bad empty
objcopy --only-keep-debug OUT $d/$(echo "$id" | cut -c3-).debug
strip -o byid OUT
for v in link sub/.debug bad; do
	objcopy --only-keep-debug OUT $v/prog.debug
done
for v in link sub bad; do
	strip -o $v/prog OUT
done
objcopy --add-gnu-debuglink=link/prog.debug link/prog
objcopy --add-gnu-debuglink=sub/.debug/prog.debug sub/prog
objcopy --add-gnu-debuglink=bad/prog.debug bad/prog
printf x >>bad/prog.debug
`

// buildDebug builds debugProgram and its stripped variants, returning the
// directory that holds them.
func buildDebug(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"gcc", "objcopy", "strip", "readelf"} {
		lookTool(t, tool)
	}
	full := build(t, "debuginfo", "full", map[string]string{"main.c": debugProgram}, nil, "sh", "-c", debugScript)
	return filepath.Dir(full)
}

// withDebugDirs sets DebugDirs for the test.
func withDebugDirs(t testing.TB, dirs ...string) {
	old := DebugDirs
	DebugDirs = dirs
	t.Cleanup(func() { DebugDirs = old })
}

func TestSeparateDebugInfo(t *testing.T) {
	dir := buildDebug(t)
	root, empty := filepath.Join(dir, "root"), filepath.Join(dir, "empty")
	hotOff := fileOffset(t, filepath.Join(dir, "full"), "plantedHotLoop")
	for _, tc := range []struct {
		name, bin string
		debugDir  string
		known     bool
	}{
		{"unstripped", "full", empty, true},
		{"stripped-no-debug-file", "byid", empty, false},
		{"build-id", "byid", root, true},
		{"debuglink-next-to-binary", "link/prog", empty, true},
		{"debuglink-in-.debug", "sub/prog", empty, true},
		{"debuglink-crc-mismatch", "bad/prog", empty, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withDebugDirs(t, tc.debugDir)
			bin := filepath.Join(dir, tc.bin)
			tg := start(t, bin)
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			hot := tg.addrs[0]
			for _, delta := range []uint64{0, 8} {
				want := "plantedHotLoop"
				if !tc.known {
					want = fmt.Sprintf("%s+%#x", filepath.Base(bin), hotOff+delta)
				}
				f := p.Symbolize(hot+delta, false)
				if f.Function != want || f.Known != tc.known {
					t.Errorf("plantedHotLoop+%d: Function %q (known %v), want %q (known %v)", delta, f.Function, f.Known, want, tc.known)
				}
				checkLine(t, f, delta, tc.known)
			}
		})
	}
}

// checkLine checks the file and line of the frame of plantedHotLoop+delta:
// the function's first line at its entry, one of its lines inside, none
// when the debug info was not found.
func checkLine(t *testing.T, f Frame, delta uint64, known bool) {
	t.Helper()
	if !known {
		if f.File != "" || f.Line != 0 {
			t.Errorf("plantedHotLoop+%d without debug info: file %q line %d, want none", delta, f.File, f.Line)
		}
		return
	}
	plantedFirst := lineOf(t, debugProgram, "plantedHotLoop(long n) {")
	plantedLast := lineOf(t, debugProgram, "return s;") + 1
	if filepath.Base(f.File) != "main.c" || !filepath.IsAbs(f.File) {
		t.Errorf("plantedHotLoop+%d: file %q, want the absolute path of main.c", delta, f.File)
	}
	if delta == 0 && f.Line != plantedFirst || f.Line < plantedFirst || f.Line > plantedLast {
		t.Errorf("plantedHotLoop+%d: line %d, want %d at the entry, %d-%d inside", delta, f.Line, plantedFirst, plantedFirst, plantedLast)
	}
}

// BenchmarkSymbolizeDebugFile is the cold cost (new Symbolizer, maps, open,
// symbol tables) of one address in a stripped binary through its debug file
// found by build id, against the unstripped binary.
func BenchmarkSymbolizeDebugFile(b *testing.B) {
	dir := buildDebug(b)
	for _, c := range []struct{ name, bin, debugDir string }{
		{"unstripped", "full", "empty"},
		{"build-id", "byid", "root"},
		{"debuglink", "link/prog", "empty"},
	} {
		b.Run(c.name, func(b *testing.B) {
			withDebugDirs(b, filepath.Join(dir, c.debugDir))
			tg := start(b, filepath.Join(dir, c.bin))
			for b.Loop() {
				p, err := New().Process(tg.pid())
				if err != nil {
					b.Fatal(err)
				}
				if f := p.Symbolize(tg.addrs[0], false); f.Function != "plantedHotLoop" {
					b.Fatal(f.Function)
				}
				p.Close()
			}
		})
	}
}
