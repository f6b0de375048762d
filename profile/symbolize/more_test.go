package symbolize

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestDeletedBinary checks the fallback to /proc/PID/map_files: the path in
// /proc/PID/maps no longer exists.
func TestDeletedBinary(t *testing.T) {
	src, err := os.Open(buildGo(t, goVariants[2])) // PIE
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(t.TempDir(), "gone")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	tg := start(t, bin)
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	f := p.Symbolize(tg.addrs[0], false)
	if f.Function != "main.hotFunction" || f.Mapping == nil || f.Mapping.Path != bin+" (deleted)" {
		t.Errorf("deleted binary: %+v (mapping %+v), want main.hotFunction in %q", f, f.Mapping, bin+" (deleted)")
	}
}

// TestVDSO symbolizes a vDSO function of the test process itself.
func TestVDSO(t *testing.T) {
	p, err := New().Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var vdso *Mapping
	for _, m := range p.Mappings() {
		if m.Path == "[vdso]" {
			vdso = m
		}
	}
	if vdso == nil {
		t.Skip("no [vdso] mapping")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	img := make([]byte, vdso.Limit-vdso.Start)
	if _, err := mem.ReadAt(img, int64(vdso.Start)); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(strings.NewReader(string(img)))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var fn elf.Symbol
	for _, s := range syms {
		if s.Name == "__vdso_clock_gettime" {
			fn = s
		}
	}
	if fn.Value == 0 {
		t.Skip("no __vdso_clock_gettime in the vDSO")
	}
	// The vDSO is linked at 0 and mapped with offset 0.
	addr := vdso.Start + fn.Value + 1
	f := p.Symbolize(addr, false)
	// clock_gettime is a weak alias of the global __vdso_clock_gettime.
	if f.Function != "__vdso_clock_gettime" || !f.Known || f.Mapping != vdso {
		t.Errorf("Symbolize(%#x) = %+v, want __vdso_clock_gettime", addr, f)
	}
	if vdso.BuildID == "" {
		t.Error("no build id for the vDSO")
	}
}

func TestKernelThread(t *testing.T) {
	comm, err := os.ReadFile("/proc/2/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "kthreadd" {
		t.Skip("pid 2 is not kthreadd in this pid namespace")
	}
	p, err := New().Process(2)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Mappings()); n != 0 {
		t.Errorf("kthreadd has %d mappings", n)
	}
	if f := p.Symbolize(0x1234, false); f.Function != "[unknown]+0x1234" {
		t.Errorf("Function = %q", f.Function)
	}
}

func TestConcurrent(t *testing.T) {
	tg := start(t, buildGo(t, goVariants[0]))
	s := New()
	p, err := s.Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 16 {
		wg.Go(func() {
			for j := range 200 {
				addr := tg.addrs[j%2]
				if f := p.Symbolize(addr+uint64(i%3), false); f.Function != "main.hotFunction" {
					errs <- fmt.Sprintf("Symbolize(%#x) = %q", addr, f.Function)
					return
				}
				if j%50 == 0 {
					if err := p.Refresh(); err != nil {
						errs <- err.Error()
						return
					}
					if _, err := s.Process(tg.pid()); err != nil {
						errs <- err.Error()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFilesClosed checks that a snapshot holds one file per binary and
// releases it once the binary's symbols are loaded.
func TestFilesClosed(t *testing.T) {
	tg := start(t, buildGo(t, goVariants[0])) // static: one mapped file
	before := openFDs(t)
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t); n != before+1 {
		t.Errorf("after Process: %d open files, want %d", n, before+1)
	}
	p.Symbolize(tg.addrs[0], false)
	if n := openFDs(t); n != before {
		t.Errorf("after Symbolize: %d open files, want %d", n, before)
	}
}
