package profile

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// TestToPprofNativeInlined: in a C program built with gcc -O2 -g, an
// address of planted_outer inside the inlined planted_step and
// planted_mix (symbolize/testdata/nativeinline/main.c) becomes one pprof
// Location with a Line per function, innermost first, through the wire
// format, at the lines the source's MARK comments show.
func TestToPprofNativeInlined(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("gcc not in PATH: %v", err)
	}
	src, err := os.ReadFile("symbolize/testdata/nativeinline/main.c")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.c"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	if out, err := exec.Command(gcc, "-O2", "-g", "-o", bin, filepath.Join(dir, "main.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	lineOf := func(marker string) int {
		for i, l := range strings.Split(string(src), "\n") {
			if strings.Contains(l, marker) {
				return i + 1
			}
		}
		t.Fatalf("no %q in main.c", marker)
		return 0
	}
	callMix, callStep := lineOf("MARK call mix"), lineOf("MARK call step")
	mixFirst, mixLast := lineOf("MARK mix first"), lineOf("MARK mix last")

	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.Symbols()
	ef.Close()
	if err != nil {
		t.Fatal(err)
	}
	var outer elf.Symbol
	for _, s := range syms {
		if s.Name == "planted_outer" {
			outer = s
		}
	}
	if outer.Size == 0 {
		t.Fatal("no planted_outer symbol")
	}

	t.Setenv("DEBUGINFOD_URLS", "")
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	runtimeOuter, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(line), "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := symbolize.New().Process(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	// The first address of planted_outer with both functions inlined.
	var addr uint64
	for a := runtimeOuter; a < runtimeOuter+outer.Size; a++ {
		if f := proc.Symbolize(a, false); len(f.Inlined) == 2 {
			addr = a
			break
		}
	}
	if addr == 0 {
		t.Fatal("no address of planted_outer with two inlined functions")
	}
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := &Capture{
		Target: Target{PID: cmd.Process.Pid, Comm: "prog"},
		Start:  start, End: start.Add(time.Second), Hz: 100,
		Stacks: []Stack{{Type: TypeOnCPU, TID: uint32(cmd.Process.Pid), Thread: "prog", User: []uint64{addr}, Value: 1e7, Count: 1}},
	}
	p, err := c.ToPprof(ProcessSymbols{Process: proc})
	if err != nil {
		t.Fatal(err)
	}
	p = roundTrip(t, p)
	var loc *profile.Location
	for _, l := range p.Location {
		if l.Address == addr {
			if loc != nil {
				t.Fatalf("two locations for %#x", addr)
			}
			loc = l
		}
	}
	if loc == nil {
		t.Fatalf("no location for %#x", addr)
	}
	var got []string
	for _, ln := range loc.Line {
		got = append(got, fmt.Sprintf("%s %s:%d", ln.Function.Name, filepath.Base(ln.Function.Filename), ln.Line))
	}
	t.Logf("%#x: %v", addr, got)
	if len(loc.Line) != 3 {
		t.Fatalf("location %#x has %d lines %v, want planted_mix, planted_step, planted_outer", addr, len(loc.Line), got)
	}
	want := []string{"", fmt.Sprintf("planted_step main.c:%d", callMix), fmt.Sprintf("planted_outer main.c:%d", callStep)}
	for i := 1; i < 3; i++ {
		if got[i] != want[i] {
			t.Errorf("line %d: %s, want %s", i, got[i], want[i])
		}
	}
	if l := loc.Line[0]; l.Function.Name != "planted_mix" || l.Line < int64(mixFirst) || l.Line > int64(mixLast) {
		t.Errorf("line 0: %s, want planted_mix at main.c:%d-%d", got[0], mixFirst, mixLast)
	}
	if err := p.CheckValid(); err != nil {
		t.Error(err)
	}
}
