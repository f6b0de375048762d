package symbolize

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPerfMapParse(t *testing.T) {
	text := "" +
		"7f0000001000 40 LazyCompile:*spin /tmp/x.js:3\n" + // name with spaces
		"0x7f0000002000 0x20 Builtin:ArgumentsAdaptorTrampoline\n" +
		"not-hex 10 bad\n" + // bad start
		"7f0000003000 zz bad size\n" +
		"7f0000004000 10\n" + // no name
		"7f0000005000 0 zero size\n" +
		"ffffffffffffff00 200 wraps around\n" +
		"\n" +
		"7f0000006000 8 last \r\n"
	pm, err := parsePerfMap(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if pm.bad != 5 {
		t.Errorf("bad lines = %d, want 5", pm.bad)
	}
	want := []perfMapEntry{
		{0x7f0000001000, 0x7f0000001040, "LazyCompile:*spin /tmp/x.js:3"},
		{0x7f0000002000, 0x7f0000002020, "Builtin:ArgumentsAdaptorTrampoline"},
		{0x7f0000006000, 0x7f0000006008, "last"},
	}
	if fmt.Sprint(pm.entries) != fmt.Sprint(want) {
		t.Errorf("entries\n got %v\nwant %v", pm.entries, want)
	}
	for _, c := range []struct {
		pc   uint64
		name string
	}{
		{0x7f0000000fff, ""},
		{0x7f0000001000, "LazyCompile:*spin /tmp/x.js:3"},
		{0x7f000000103f, "LazyCompile:*spin /tmp/x.js:3"},
		{0x7f0000001040, ""},
		{0x7f0000002010, "Builtin:ArgumentsAdaptorTrampoline"},
		{0x7f0000006007, "last"},
		{0x7f0000006008, ""},
	} {
		e, ok := pm.lookup(c.pc)
		if ok != (c.name != "") || e.name != c.name {
			t.Errorf("lookup(%#x) = %q, %v; want %q", c.pc, e.name, ok, c.name)
		}
	}
}

func TestPerfMapEmpty(t *testing.T) {
	pm, err := parsePerfMap(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.entries) != 0 || pm.bad != 0 {
		t.Fatalf("empty map: %d entries, %d bad", len(pm.entries), pm.bad)
	}
	if _, ok := pm.lookup(0x1000); ok {
		t.Fatal("empty map names an address")
	}
	if _, ok := (*perfMap)(nil).lookup(0x1000); ok {
		t.Fatal("nil map names an address")
	}
}

// A later line owns the addresses it covers (V8 reuses code space after a
// GC; perf keeps the newest symbol).
func TestPerfMapOverlaps(t *testing.T) {
	text := "" +
		"1000 100 old\n" + // 1000-1100
		"1040 40 mid\n" + // 1040-1080, inside old: splits it
		"1000 100 dup\n" + // same range as old, later: replaces old's visible parts
		"1060 10 newest\n" + // inside both
		"2000 10 a\n" +
		"2008 10 b\n" // overlaps a's tail
	pm, err := parsePerfMap(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []perfMapEntry{
		{0x1000, 0x1060, "dup"},
		{0x1060, 0x1070, "newest"},
		{0x1070, 0x1100, "dup"},
		{0x2000, 0x2008, "a"},
		{0x2008, 0x2018, "b"},
	}
	if fmt.Sprint(pm.entries) != fmt.Sprint(want) {
		t.Errorf("entries\n got %v\nwant %v", pm.entries, want)
	}
}

// checkPerfMap checks the invariants lookup relies on and that every
// address is owned by the last line covering it (against a brute force).
func checkPerfMap(t *testing.T, raw []perfMapEntry, pm *perfMap) {
	t.Helper()
	for i, e := range pm.entries {
		if e.start >= e.limit {
			t.Fatalf("entry %d %v is empty", i, e)
		}
		if i > 0 && pm.entries[i-1].limit > e.start {
			t.Fatalf("entries %d and %d overlap: %v %v", i-1, i, pm.entries[i-1], e)
		}
	}
	probe := func(pc uint64) {
		want := ""
		for _, r := range raw {
			if r.start <= pc && pc < r.limit {
				want = r.name
			}
		}
		got, _ := pm.lookup(pc)
		if got.name != want {
			t.Fatalf("lookup(%#x) = %q, want %q (last line covering it)", pc, got.name, want)
		}
	}
	for _, r := range raw {
		probe(r.start)
		probe(r.limit - 1)
		probe(r.limit)
		if r.start > 0 {
			probe(r.start - 1)
		}
	}
}

func TestPerfMapOverlapsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var b strings.Builder
		var raw []perfMapEntry
		for i := 0; i < 1+rng.IntN(30); i++ {
			start, size := uint64(rng.IntN(0x400)), uint64(1+rng.IntN(0x80))
			name := fmt.Sprintf("f%d", i)
			fmt.Fprintf(&b, "%x %x %s\n", start, size, name)
			raw = append(raw, perfMapEntry{start, start + size, name})
		}
		pm, err := parsePerfMap(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		checkPerfMap(t, raw, pm)
	}
}

// A perf map is written by the target: any text must parse or fail
// cleanly, and the table must stay sorted, disjoint and last-line-wins.
func FuzzParsePerfMap(f *testing.F) {
	f.Add("7f0000001000 40 LazyCompile:*spin /tmp/x.js:3\n7f0000001020 40 b\n")
	f.Add("0x10 0x10 a\n0x10 0x10 b\nzz 1 c\n")
	f.Add("ffffffffffffff00 ff top\n")
	f.Fuzz(func(t *testing.T, text string) {
		pm, err := parsePerfMap(strings.NewReader(text))
		if err != nil {
			return
		}
		var raw []perfMapEntry
		for _, line := range strings.Split(text, "\n") {
			if e, ok := parsePerfMapLine(strings.TrimRight(line, " \r")); ok {
				raw = append(raw, e)
			}
		}
		if len(raw) > 200 {
			raw = raw[:0] // the brute force is quadratic; the invariants below still hold
		}
		checkPerfMap(t, raw, pm)
	})
}

func TestNSPID(t *testing.T) {
	if got := nsPID(os.Getpid()); got != os.Getpid() {
		t.Errorf("nsPID(self) = %d, want %d (the test runs in the host pid namespace)", got, os.Getpid())
	}
	if got := nsPID(1 << 30); got != 1<<30 {
		t.Errorf("nsPID(missing) = %d, want the pid back", got)
	}
}

func TestJITLabel(t *testing.T) {
	for exe, want := range map[string]string{
		"/usr/bin/node": "[js]", "/usr/bin/nodejs": "[js]", "/usr/bin/node (deleted)": "[js]",
		"/usr/lib/jvm/bin/java": "[jit]", "": "[jit]",
	} {
		if got := jitLabel(exe); got != want {
			t.Errorf("jitLabel(%q) = %q, want %q", exe, got, want)
		}
	}
}

// The file is re-read when it grows, at most once per perfMapRecheck on
// misses.
func TestPerfMapFileGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf-1.map")
	if err := os.WriteFile(path, []byte("1000 10 first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &perfMapFile{paths: []string{filepath.Join(t.TempDir(), "missing.map"), path}, label: "[jit]"}
	if !f.reload() {
		t.Fatal("first read: not loaded")
	}
	if e, m, ok, _ := f.lookup(0x1008); !ok || e.name != "first" || m == nil || m.Path != "[jit]" || m.Start != 0x1000 || m.Limit != 0x1010 {
		t.Fatalf("lookup(0x1008) = %v %+v %v", e, m, ok)
	}
	if f.reload() {
		t.Fatal("re-read although the size did not change")
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(fh, "2000 10 second\n")
	fh.Close()
	f.mu.Lock()
	f.checked = time.Now()
	f.mu.Unlock()
	if _, _, ok, reloaded := f.lookup(0x2000); ok || reloaded {
		t.Fatalf("a miss within %v re-read the file (ok %v, reloaded %v)", perfMapRecheck, ok, reloaded)
	}
	f.mu.Lock()
	f.checked = time.Now().Add(-perfMapRecheck)
	f.mu.Unlock()
	if e, _, ok, reloaded := f.lookup(0x2000); !ok || !reloaded || e.name != "second" {
		t.Fatalf("after growth: %v ok %v reloaded %v", e, ok, reloaded)
	}
}

// genPerfMap writes n functions as a JIT would: mostly increasing
// addresses, each 0x40-0x400 bytes, names like V8's.
func genPerfMap(n int) string {
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	addr := uint64(0x7f0000000000)
	for i := 0; i < n; i++ {
		size := uint64(0x40 + rng.IntN(0x3c0))
		fmt.Fprintf(&b, "%x %x LazyCompile:*fn%d /srv/app/lib/module%d.js:%d\n", addr, size, i, i%97, i%1000)
		addr += size + uint64(rng.IntN(0x40))
	}
	return b.String()
}

func BenchmarkParsePerfMap100k(b *testing.B) {
	text := genPerfMap(100_000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		pm, err := parsePerfMap(strings.NewReader(text))
		if err != nil || len(pm.entries) != 100_000 {
			b.Fatalf("%v, %d entries", err, len(pm.entries))
		}
	}
}

// Process.Symbolize names addresses in no file mapping from the perf map
// of the process, here the test itself, and finds lines appended later.
func TestProcessPerfMap(t *testing.T) {
	path := fmt.Sprintf("/tmp/perf-%d.map", os.Getpid())
	if err := os.WriteFile(path, []byte("10000 100 jitted one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	p, err := New().Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := p.Symbolize(0x10011, true)
	if !f.Known || f.Function != "jitted one" || f.Mapping == nil || f.Mapping.Path != "[jit]" {
		t.Fatalf("Symbolize(0x10011) = %+v, mapping %+v", f, f.Mapping)
	}
	if f := p.Symbolize(0x20000, false); f.Known || f.Function != "[unknown]+0x20000" {
		t.Fatalf("Symbolize(0x20000) before the JIT wrote it = %+v", f)
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(fh, "20000 10 jitted two\n")
	fh.Close()
	if err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	if f := p.Symbolize(0x20000, false); !f.Known || f.Function != "jitted two" {
		t.Fatalf("Symbolize(0x20000) after Refresh = %+v", f)
	}
	p.Close()
	if f := p.Symbolize(0x10011, false); f.Known {
		t.Fatalf("a closed Process still names JIT code: %+v", f)
	}
}

// A target in its own pid and mount namespace writes /tmp/perf-1.map in
// its own /tmp: found through /proc/PID/root under its namespace pid.
func TestProcessPerfMapNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid --mount needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare is not installed")
	}
	cmd := exec.Command("unshare", "--pid", "--mount", "--fork", "sh", "-c",
		`mount -t tmpfs none /tmp && echo "10000 100 in the namespace" > /tmp/perf-1.map && touch /tmp/ready && exec sleep 30`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var child int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the namespaced child did not start within 5s")
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			child, _ = strconv.Atoi(f[0])
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/tmp/ready", child)); err == nil {
				break
			}
		}
	}
	defer func() { _ = syscall.Kill(child, syscall.SIGKILL) }()
	if got := nsPID(child); got != 1 {
		t.Fatalf("nsPID(%d) = %d, want 1", child, got)
	}
	if _, err := os.Stat("/tmp/perf-1.map"); err == nil {
		t.Skip("the host has a /tmp/perf-1.map too: the test could not tell them apart")
	}
	p, err := New().Process(child)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if f := p.Symbolize(0x10011, false); !f.Known || f.Function != "in the namespace" {
		t.Fatalf("Symbolize(0x10011) = %+v", f)
	}
}
