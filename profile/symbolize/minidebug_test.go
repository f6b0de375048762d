package symbolize

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"testing"
)

// miniScript builds debugProgram and derives, as Fedora's
// find-debuginfo does: mini, a stripped copy carrying MiniDebugInfo (the
// .symtab entries of functions .dynsym lacks, in an xz-compressed ELF in
// .gnu_debugdata), and stripped, the same without it.
const miniScript = `set -e
gcc -g -O1 -fno-omit-frame-pointer -o full main.c
objcopy --only-keep-debug full debug
nm -D full --format=posix --defined-only | awk '{ print $1 }' | sort >dynsyms
nm debug --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort >funcsyms
comm -13 dynsyms funcsyms >keep
grep -qx plantedHotLoop keep
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep debug minidebuginfo
xz -f minidebuginfo
strip -o stripped full
cp stripped OUT
objcopy --add-section .gnu_debugdata=minidebuginfo.xz OUT
`

func buildMini(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"gcc", "objcopy", "strip", "nm", "xz", "awk", "comm", "sort"} {
		lookTool(t, tool)
	}
	return build(t, "minidebug", "mini", map[string]string{"main.c": debugProgram}, nil, "sh", "-c", miniScript)
}

func TestMiniDebugInfo(t *testing.T) {
	mini := buildMini(t)
	dir := filepath.Dir(mini)
	ef, err := elf.Open(mini)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ef.Symbols(); len(s) > 0 || ef.Section(".gnu_debugdata") == nil {
		t.Fatalf("%s: %d .symtab entries and .gnu_debugdata %v: want a stripped binary with MiniDebugInfo", mini, len(s), ef.Section(".gnu_debugdata") != nil)
	}
	ef.Close()
	withDebugDirs(t, filepath.Join(dir, "none"))
	t.Setenv("DEBUGINFOD_URLS", "")
	hotOff := fileOffset(t, filepath.Join(dir, "full"), "plantedHotLoop")
	for _, tc := range []struct {
		bin  string
		want string
	}{
		{"mini", "plantedHotLoop"},
		{"stripped", fmt.Sprintf("stripped+%#x", hotOff)},
	} {
		t.Run(tc.bin, func(t *testing.T) {
			tg := start(t, filepath.Join(dir, tc.bin))
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			f := p.Symbolize(tg.addrs[0], false)
			if f.Function != tc.want || f.Known != (tc.want == "plantedHotLoop") {
				t.Errorf("plantedHotLoop: Function %q (known %v), want %q", f.Function, f.Known, tc.want)
			}
			if f.File != "" || f.Line != 0 {
				t.Errorf("plantedHotLoop: file %q line %d from MiniDebugInfo, which has no DWARF", f.File, f.Line)
			}
			if f.Mapping == nil || f.Mapping.BuildID == "" {
				t.Errorf("plantedHotLoop: mapping %+v, want one with the build id", f.Mapping)
			}
		})
	}
}

func TestMergeSymbols(t *testing.T) {
	a := []symbol{{0x10, 4, "a1"}, {0x30, 0, "a3"}}
	b := []symbol{{0x10, 8, "b1"}, {0x20, 4, "b2"}, {0x40, 4, "b4"}}
	got := mergeSymbols(a, b)
	want := []symbol{{0x10, 8, "a1"}, {0x20, 4, "b2"}, {0x30, 0, "a3"}, {0x40, 4, "b4"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mergeSymbols = %v, want %v", got, want)
	}
}
