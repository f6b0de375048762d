package symbolize

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const goProgram = `package main

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"runtime"
)

//go:noinline
func hotFunction() uintptr { // ENTRY
	pcs := make([]uintptr, 1)
	runtime.Callers(1, pcs) // CALLERS
	return pcs[0]
}

func main() {
	pc := hotFunction()
	fmt.Printf("%#x %#x\n", reflect.ValueOf(hotFunction).Pointer(), pc)
	bufio.NewReader(os.Stdin).ReadString('\n')
}
`

type goVariant struct {
	name  string
	env   []string
	flags []string
}

var goVariants = []goVariant{
	{"default", nil, nil},
	{"stripped", nil, []string{"-ldflags=-s -w"}},
	{"pie", nil, []string{"-buildmode=pie"}},
	// C code precedes runtime.text here, and there is no .symtab: this
	// checks that the text start comes from moduledata, not from .text.
	{"cgo-external-stripped", []string{"CGO_ENABLED=1"}, []string{"-ldflags=-linkmode=external -s -w"}},
}

func buildGo(t testing.TB, v goVariant) string {
	t.Helper()
	goTool := lookTool(t, "go")
	if len(v.env) > 0 {
		lookTool(t, "gcc")
	}
	args := append([]string{goTool, "build", "-o", "OUT"}, v.flags...)
	files := map[string]string{"main.go": goProgram, "go.mod": "module prog\n\ngo 1.26\n"}
	return build(t, "go-"+v.name, "prog", files, append([]string{"GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local"}, v.env...), args...)
}

func TestGoProgram(t *testing.T) {
	entryLine := lineOf(t, goProgram, "// ENTRY")
	callersLine := lineOf(t, goProgram, "// CALLERS")
	for _, v := range goVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := buildGo(t, v)
			tg := start(t, bin)
			entry, retPC := tg.addrs[0], tg.addrs[1]

			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			checkGoFrame(t, p.Symbolize(entry, false), "entry", entryLine)
			checkGoFrame(t, p.Symbolize(retPC, true), "Callers return address", callersLine)
			// A return address looked up as a leaf is still in the function.
			if f := p.Symbolize(retPC, false); f.Function != "main.hotFunction" {
				t.Errorf("Symbolize(%#x, false).Function = %q, want main.hotFunction", retPC, f.Function)
			}

			f := p.Symbolize(entry, false)
			if f.Mapping == nil {
				t.Fatal("no mapping for the entry address")
			}
			if f.Mapping.Path != bin {
				t.Errorf("mapping path = %q, want %q", f.Mapping.Path, bin)
			}
			if _, err := hex.DecodeString(f.Mapping.BuildID); err != nil || len(f.Mapping.BuildID) < 16 {
				t.Errorf("main mapping BuildID = %q, want a hex GNU build id", f.Mapping.BuildID)
			}
			if v.name == "pie" && f.Mapping.Start < 0x1000000 {
				t.Errorf("PIE mapped at %#x: expected a randomized high address", f.Mapping.Start)
			}
		})
	}
}

func checkGoFrame(t *testing.T, f Frame, what string, line int) {
	t.Helper()
	if f.Function != "main.hotFunction" || !f.Known {
		t.Errorf("%s %#x: Function = %q (known %v), want main.hotFunction", what, f.Addr, f.Function, f.Known)
	}
	if !strings.HasSuffix(f.File, "/main.go") || f.Line != line {
		t.Errorf("%s %#x: at %s:%d, want main.go:%d", what, f.Addr, f.File, f.Line, line)
	}
}

func TestSymbolizeAfterExit(t *testing.T) {
	tg := start(t, buildGo(t, goVariants[0]))
	entry := tg.addrs[0]
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	tg.cmd.Wait()
	if _, err := os.Stat("/proc/" + strconv.Itoa(tg.pid()) + "/maps"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("process still in /proc after Wait: %v", err)
	}
	if err := p.Refresh(); err != nil {
		t.Errorf("Refresh after exit: %v, want nil", err)
	}
	if len(p.Mappings()) == 0 {
		t.Error("Refresh after exit dropped the mappings")
	}
	// Nothing was looked up before the exit: this parses the binary now.
	if f := p.Symbolize(entry, false); f.Function != "main.hotFunction" {
		t.Errorf("after exit: Function = %q, want main.hotFunction", f.Function)
	}
}

func TestProcessNotExist(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New().Process(max + 1)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Process(%d) error = %v, want one wrapping os.ErrNotExist", max+1, err)
	}
	if !strings.Contains(err.Error(), "reading /proc/") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestBinaryCacheShared(t *testing.T) {
	bin := buildGo(t, goVariants[0])
	a, b := start(t, bin), start(t, bin)
	s := New()
	pa, err := s.Process(a.pid())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := s.Process(b.pid())
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := pa.Symbolize(a.addrs[0], false).Mapping, pb.Symbolize(b.addrs[0], false).Mapping
	if ma == nil || mb == nil {
		t.Fatal("no mapping for the entry address")
	}
	oa, ob := pa.find(ma.Start).obj, pb.find(mb.Start).obj
	if oa == nil || oa != ob {
		t.Errorf("two processes of one binary got objFiles %p and %p, want one shared", oa, ob)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(bin, &st); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	n := 0
	for k := range s.objs {
		if k.ino == st.Ino && k.dev == st.Dev {
			n++
		}
	}
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("%d cache entries for %s, want 1", n, filepath.Base(bin))
	}
}

// Closing a process drops its snapshot; a binary stays cached while another
// open process maps it, and goes with the last one.
func TestCloseDropsBinaries(t *testing.T) {
	bin := buildGo(t, goVariants[0])
	a, b := start(t, bin), start(t, bin)
	s := New()
	pa, err := s.Process(a.pid())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := s.Process(b.pid())
	if err != nil {
		t.Fatal(err)
	}
	n := s.cachedFiles()
	if n == 0 {
		t.Fatal("nothing cached")
	}
	want := pb.Symbolize(b.addrs[0], false)
	pa.Close()
	pa.Close()
	if got := s.cachedFiles(); got != n {
		t.Errorf("%d binaries cached after closing one of two processes of them, want %d", got, n)
	}
	if f := pa.Symbolize(a.addrs[0], false); f.Known || f.Mapping != nil {
		t.Errorf("closed process symbolized %#x as %+v", a.addrs[0], f)
	}
	pb.cache = map[frameKey]Frame{} // look it up again, in the binary
	if got := pb.Symbolize(b.addrs[0], false); got.Function != want.Function || !got.Known {
		t.Errorf("after closing the other process: %q, want %q", got.Function, want.Function)
	}
	pb.Close()
	if got := s.cachedFiles(); got != 0 {
		t.Errorf("%d binaries cached after closing every process, want 0", got)
	}
	pc, err := s.Process(b.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := pc.Symbolize(b.addrs[0], false); got.Function != want.Function {
		t.Errorf("a new snapshot after the eviction: %q, want %q", got.Function, want.Function)
	}
}

func BenchmarkSymbolizeGo(b *testing.B) {
	tg := start(b, buildGo(b, goVariants[0]))
	entry, retPC := tg.addrs[0], tg.addrs[1]
	b.Run("cached", func(b *testing.B) {
		p, err := New().Process(tg.pid())
		if err != nil {
			b.Fatal(err)
		}
		p.Symbolize(retPC, true)
		for b.Loop() {
			if f := p.Symbolize(retPC, true); f.Function != "main.hotFunction" {
				b.Fatal(f.Function)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		p, err := New().Process(tg.pid())
		if err != nil {
			b.Fatal(err)
		}
		p.Symbolize(entry, false) // parse the binary outside the loop
		for b.Loop() {
			p.mu.Lock()
			clear(p.cache)
			p.mu.Unlock()
			if f := p.Symbolize(retPC, true); f.Function != "main.hotFunction" {
				b.Fatal(f.Function)
			}
		}
	})
	b.Run("cold", func(b *testing.B) { // new Symbolizer: /proc/PID/maps, open, parse pclntab
		for b.Loop() {
			p, err := New().Process(tg.pid())
			if err != nil {
				b.Fatal(err)
			}
			if f := p.Symbolize(retPC, true); f.Function != "main.hotFunction" {
				b.Fatal(f.Function)
			}
		}
	})
}
