package symbolize

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

const cProgram = `#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void hot_spin(void) {
	for (volatile int i = 0; i < 10; i++)
		;
}

int main(void) {
	hot_spin();
	printf("%p %p %p\n", (void *)hot_spin, (void *)printf, (void *)malloc);
	fflush(stdout);
	getchar();
	return 0;
}
`

// buildC builds cProgram as <variant>/cprog with gcc and extra flags.
func buildC(t testing.TB, variant string, flags ...string) string {
	t.Helper()
	gcc := lookTool(t, "gcc")
	args := append([]string{gcc, "-O1", "-o", "OUT"}, flags...)
	args = append(args, "main.c")
	return build(t, "c-"+variant, "cprog", map[string]string{"main.c": cProgram}, nil, args...)
}

// fileOffset returns the file offset of the symbol name in the ELF file.
func fileOffset(t *testing.T, path, name string) uint64 {
	t.Helper()
	addr, _ := symbolOf(t, path, name)
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr <= addr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off
		}
	}
	t.Fatalf("%s of %s is in no loaded segment", name, path)
	return 0
}

func TestCProgram(t *testing.T) {
	plain := buildC(t, "default")
	hotOff := fileOffset(t, plain, "hot_spin")
	for _, tc := range []struct {
		variant string
		flags   []string
		want    string // expected Function for hot_spin; "" means unknown
	}{
		{"default", nil, "hot_spin"},
		{"stripped", []string{"-s"}, ""},
		{"stripped-rdynamic", []string{"-s", "-rdynamic"}, "hot_spin"}, // from .dynsym
	} {
		t.Run(tc.variant, func(t *testing.T) {
			bin := buildC(t, tc.variant, tc.flags...)
			tg := start(t, bin)
			hot, printfAddr, mallocAddr := tg.addrs[0], tg.addrs[1], tg.addrs[2]
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}

			f := p.Symbolize(hot, false)
			if f.Mapping == nil || f.Mapping.Path != bin {
				t.Fatalf("hot_spin %#x: mapping %+v, want path %s", hot, f.Mapping, bin)
			}
			if f.Mapping.BuildID == "" {
				t.Error("no build id for the main mapping (gcc adds one)")
			}
			for _, delta := range []uint64{0, 4} {
				want, known := tc.want, true
				if want == "" {
					// -s builds differ from the default only in dropped sections,
					// so hot_spin is at the same file offset.
					want, known = fmt.Sprintf("cprog+%#x", hotOff+delta), false
				}
				f := p.Symbolize(hot+delta, false)
				if f.Function != want || f.Known != known {
					t.Errorf("hot_spin+%d %#x: Function = %q (known %v), want %q (known %v)", delta, hot+delta, f.Function, f.Known, want, known)
				}
			}

			// Debian's libc has only .dynsym; printf has the alias _IO_printf
			// and malloc __libc_malloc, and the plain names must win.
			for _, c := range []struct {
				addr uint64
				name string
			}{{printfAddr, "printf"}, {mallocAddr, "malloc"}} {
				f := p.Symbolize(c.addr, false)
				if f.Function != c.name || !f.Known {
					t.Errorf("%s %#x: Function = %q (known %v)", c.name, c.addr, f.Function, f.Known)
				}
				if f.Mapping == nil || !strings.HasPrefix(filepath.Base(f.Mapping.Path), "libc") {
					t.Errorf("%s %#x: mapping %+v, want libc", c.name, c.addr, f.Mapping)
				}
			}
		})
	}
}

const dlopenProgram = `#include <dlfcn.h>
#include <stdio.h>

int main(void) {
	printf("0x1\n");
	fflush(stdout);
	getchar();
	void *h = dlopen(LIB, RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	printf("%p\n", dlsym(h, "lib_hot"));
	fflush(stdout);
	getchar();
	return 0;
}
`

const dlopenLib = `int lib_hot(int x) { return x * 3 + 1; }
`

func TestRefreshAfterDlopen(t *testing.T) {
	gcc := lookTool(t, "gcc")
	lib := build(t, "dl-lib", "libhot.so", map[string]string{"lib.c": dlopenLib}, nil,
		gcc, "-O1", "-shared", "-fPIC", "-o", "OUT", "lib.c")
	prog := build(t, "dl-prog", "dlprog", map[string]string{"main.c": dlopenProgram}, nil,
		gcc, "-O1", fmt.Sprintf("-DLIB=%q", lib), "-o", "OUT", "main.c", "-ldl")
	tg := start(t, prog)
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	before := p.Mappings()
	if _, err := tg.stdin.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	addr := tg.readAddrs(t)[0]

	if f := p.Symbolize(addr, false); f.Known || f.Mapping != nil || f.Function != fmt.Sprintf("[unknown]+%#x", addr) {
		t.Errorf("before Refresh: %+v, want [unknown]+%#x without mapping", f, addr)
	}
	if err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	after := p.Mappings()
	if len(after) <= len(before) {
		t.Errorf("Refresh: %d mappings, had %d: want more after dlopen", len(after), len(before))
	}
	kept := 0
	for _, a := range after {
		for _, b := range before {
			if a == b {
				kept++
			}
		}
	}
	if kept != len(before) {
		t.Errorf("Refresh kept %d of %d unchanged mappings", kept, len(before))
	}
	f := p.Symbolize(addr, false)
	if f.Function != "lib_hot" || !f.Known || f.Mapping == nil || f.Mapping.Path != lib {
		t.Errorf("after Refresh: %+v, want lib_hot in %s", f, lib)
	}
}
