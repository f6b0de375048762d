package goruntime

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildHello builds a minimal Go program with the local Go and flags.
func buildHello(t *testing.T, flags ...string) string {
	t.Helper()
	return buildGo(t, "package main\n\nfunc main() {}\n", "CGO_ENABLED=0", flags...)
}

// buildGo builds the Go program src with the local Go, cgo as cgoEnv says,
// and flags.
func buildGo(t *testing.T, src, cgoEnv string, flags ...string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no Go toolchain at %s: %v", goBin, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command(goBin, append(append([]string{"build", "-o", out}, flags...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOOS=linux", "GOARCH=amd64", cgoEnv)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	return out
}

// The offsets read from the DWARF of a binary built with the local Go
// equal the table's entry for that Go version, and a binary built without
// DWARF gets that entry.
func TestTableMatchesDWARF(t *testing.T) {
	withDWARF := buildHello(t)
	o, err := ForExecutable(withDWARF)
	if err != nil {
		t.Fatal(err)
	}
	if o.Source != "DWARF" {
		t.Fatalf("source %q, want DWARF", o.Source)
	}
	tab, ok := ForVersion(o.Version)
	if !ok {
		t.Fatalf("the table has no entry for the local %s: add one (DWARF says %+v)", o.Version, o)
	}
	strip := func(o Offsets) Offsets { o.Source, o.Version, o.TLSG = "", "", 0; return o }
	if strip(o) != strip(tab) {
		t.Errorf("%s: DWARF %+v, table %+v", o.Version, strip(o), strip(tab))
	}
	if o.TLSG != -8 {
		t.Errorf("TLSG %d for an internally linked binary, want -8", o.TLSG)
	}

	noDWARF := buildHello(t, "-ldflags=-w")
	n, err := ForExecutable(noDWARF)
	if err != nil {
		t.Fatal(err)
	}
	minor, _ := minorOf(o.Version)
	if n.Source != fmt.Sprintf("table for go1.%d", minor) || strip(n) != strip(o) {
		t.Errorf("without DWARF: %+v, want the table's %+v", n, tab)
	}
	t.Logf("%s: %+v", o.Version, strip(o))
}

// A cgo program linked by the C linker has a TLS segment, and the linker
// leaves runtime.tlsg out of its symbols: where its g lives is read from
// the code. With only Go's slot in the segment it is -8; with C thread
// locals beside it, another slot of the segment.
func TestExternallyLinked(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to link a cgo program")
	}
	for _, c := range []struct {
		name, src string
		exact     bool
	}{
		{"go slot only", "package main\n\nimport \"C\"\n\nfunc main() {}\n", true},
		{"C thread locals", "package main\n\n// __thread long perfprobe_tls[5];\n// long touch(void) { return perfprobe_tls[1]++; }\nimport \"C\"\n\nfunc main() { C.touch() }\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := buildGo(t, c.src, "CGO_ENABLED=1", "-ldflags=-linkmode=external")
			o, err := ForExecutable(bin)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var size uint64
			for _, p := range f.Progs {
				if p.Type == elf.PT_TLS {
					size = p.Memsz
				}
			}
			t.Logf("TLS segment %d bytes, g at %%fs:%d", size, o.TLSG)
			if size == 0 {
				t.Fatal("no TLS segment: the program was not linked externally")
			}
			if c.exact && o.TLSG != -8 {
				t.Errorf("TLSG %d, want -8", o.TLSG)
			}
			if o.TLSG >= 0 || int64(o.TLSG) < -int64(size+8) || o.TLSG%8 != 0 {
				t.Errorf("TLSG %d is no 8-byte slot of the %d-byte TLS segment", o.TLSG, size)
			}
		})
	}
}

func TestForVersion(t *testing.T) {
	for _, c := range []struct {
		v       string
		ok      bool
		lockedg uint32
	}{
		{"go1.20.14", false, 0},
		{"go1.21.0", true, 352},
		{"go1.24.7", true, 344},
		{"go1.25.3", true, 360},
		{"go1.26rc1", true, 384},
		{"go1.26.8 X:nodwarf5", true, 384},
		{"go1.27.0", true, 384},
		{"go1.28", false, 0},
		{"devel go1.27-abc", false, 0},
		{"", false, 0},
	} {
		o, ok := ForVersion(c.v)
		if ok != c.ok || o.MLockedg != c.lockedg {
			t.Errorf("ForVersion(%q) = lockedg %d, %v; want %d, %v", c.v, o.MLockedg, ok, c.lockedg, c.ok)
		}
	}
}

func TestNotGo(t *testing.T) {
	_, err := ForExecutable("/bin/sh")
	if !errors.Is(err, ErrNotGo) {
		t.Errorf("ForExecutable(/bin/sh) = %v, want ErrNotGo", err)
	}
}

// A binary without DWARF from a Go version the table does not know gets an
// error naming the version (the binary's build info rewritten to go1.99).
func TestUnknownVersionSaysSo(t *testing.T) {
	bin := buildHello(t, "-ldflags=-w")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	v := runtime.Version()
	if len(v) < len("go1.NN") || v[4] < '2' || v[4] > '9' {
		t.Skipf("cannot rewrite version %q", v)
	}
	fake := "go1.99" + v[len("go1.NN"):]
	if n := bytes.Count(b, []byte(v)); n == 0 {
		t.Skipf("%s not found in the binary", v)
	}
	if err := os.WriteFile(bin, bytes.ReplaceAll(b, []byte(v), []byte(fake)), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = ForExecutable(bin)
	if err == nil || !strings.Contains(err.Error(), "built with "+fake) || !strings.Contains(err.Error(), "does not know") {
		t.Errorf("ForExecutable of a %s binary without DWARF: %v, want an error naming %s", fake, err, fake)
	}
}

// StructFields, which reads the types' packages' units first, finds what
// a scan of the whole DWARF finds.
func TestStructFieldsMatchesFullScan(t *testing.T) {
	exe := buildGo(t, "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.Write(nil) }\n", "CGO_ENABLED=0")
	types := map[string][]string{
		"runtime.g":        {"m", "sched", "goid"},
		"internal/poll.FD": {"Sysfd", "pd"},
		"os.File":          {"file"},
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	fast := Want(types)
	if err := StructFields(exe, fast); err != nil {
		t.Fatal(err)
	}
	d, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	full := Want(types)
	if err := FieldsFromDWARF(d, full); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fast) != fmt.Sprint(full) {
		t.Errorf("package units first: %v; whole DWARF: %v", fast, full)
	}
	if fast["runtime.g"]["sched"] <= 0 || fast["internal/poll.FD"]["Sysfd"] < 0 {
		t.Errorf("offsets %v", fast)
	}
	missing := Want(map[string][]string{"runtime.g": {"m", "no_such_field"}})
	if err := StructFields(exe, missing); err == nil || !strings.Contains(err.Error(), "runtime.g.no_such_field") {
		t.Errorf("a missing field: %v, want an error naming it", err)
	}
	for in, want := range map[string]string{"crypto/tls.Conn": "crypto/tls", "runtime.g": "runtime", "net.conn": "net", "a/b.c/d.T": "a/b.c/d"} {
		if got := packageOf(in); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", in, got, want)
		}
	}
}
