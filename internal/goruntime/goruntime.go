// Package goruntime finds where the Go runtime keeps the fields perfprobe's
// BPF programs read from a Go program's memory on linux/amd64: the current
// goroutine's m (g.m), its saved context (g.sched: sp, pc, bp), its stack
// bounds (g.stack.hi), and the m's scheduling goroutine (m.g0) and locked
// goroutine (m.lockedg). The offsets come from the executable's DWARF when
// it has some, else from a table by the Go version its build info names.
package goruntime

import (
	"bytes"
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Offsets are byte offsets of runtime fields on linux/amd64.
type Offsets struct {
	GStackHi uint32 // g.stack.hi: the top of the goroutine's stack
	GM       uint32 // g.m (*m)
	GSched   uint32 // g.sched (gobuf)
	GobufSP  uint32 // gobuf.sp
	GobufPC  uint32 // gobuf.pc
	GobufG   uint32 // gobuf.g (guintptr): the g whose context it is
	GobufBP  uint32 // gobuf.bp
	MG0      uint32 // m.g0 (*g)
	MLockedg uint32 // m.lockedg (guintptr)
	// TLSG is where the current g is, from the thread's FS base: -8 for
	// Go's own TLS; with cgo (external linking) runtime.tlsg's slot in
	// the executable's TLS block.
	TLSG int32

	// Source says where they come from: "DWARF" or "table for go1.N".
	Source string
	// Version is the Go version the executable was built with ("go1.26.8"),
	// "" when its build info cannot be read.
	Version string
}

// ErrNotGo is returned for an executable without Go build info.
var ErrNotGo = errors.New("not a Go executable")

// ForExecutable returns the offsets for the Go executable at path: from
// its DWARF when present, else from the table for its Go version. It
// returns ErrNotGo for a non-Go executable and an error naming the version
// for a Go version the table does not know.
func ForExecutable(path string) (Offsets, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return Offsets{}, fmt.Errorf("%s: %w (%v)", path, ErrNotGo, err)
	}
	f, err := elf.Open(path)
	if err != nil {
		return Offsets{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return Offsets{}, fmt.Errorf("%s is built for %v: goroutine offsets are only known for amd64", path, f.Machine)
	}
	tlsg, err := tlsG(f)
	if err != nil {
		return Offsets{}, fmt.Errorf("%s: %w", path, err)
	}
	if o, err := fromDWARFFile(path); err == nil {
		o.Version, o.TLSG = bi.GoVersion, tlsg
		return o, nil
	}
	o, ok := ForVersion(bi.GoVersion)
	if !ok {
		return Offsets{}, fmt.Errorf("%s: built with %s, which has no DWARF and whose goroutine layout perfprobe does not know (known: go1.21 to go1.27): locked goroutines stay on their threads' runtime stacks", path, bi.GoVersion)
	}
	o.TLSG = tlsg
	return o, nil
}

// tlsG returns where the current g is from the FS base. Go's own TLS
// (internal linking, no PT_TLS) keeps it at -8. An executable with a TLS
// segment (cgo, external linking) keeps it in runtime.tlsg, a TLS symbol
// whose value is its offset in the segment; the executable's segment
// ends at the FS base (x86-64 TLS variant II, initial exec). The external
// linker may leave that symbol out; then the offset is read from the
// code, whose Go functions load g with mov %fs:off, %r14.
func tlsG(f *elf.File) (int32, error) {
	var tls *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_TLS {
			tls = p
		}
	}
	if tls == nil {
		return -8, nil
	}
	align := max(tls.Align, 1)
	size := (tls.Memsz + align - 1) / align * align
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.tlsg" && elf.ST_TYPE(s.Info) == elf.STT_TLS {
				return int32(int64(s.Value) - int64(size)), nil
			}
		}
	}
	if off, ok := tlsGFromCode(f, int64(size)); ok {
		return off, nil
	}
	return 0, errors.New("it has a TLS segment but neither a runtime.tlsg symbol nor Go's g loads in its code: cannot tell where its current goroutine is")
}

// movFSR14 is the encoding of mov %fs:disp32, %r14 before its disp32.
var movFSR14 = []byte{0x64, 0x4c, 0x8b, 0x34, 0x25}

// tlsGFromCode returns the FS offset that most of the g loads in the
// first 4 MiB of .text use, if it lies in the TLS segment of size bytes
// below the FS base and at least two loads use it.
func tlsGFromCode(f *elf.File, size int64) (int32, bool) {
	text := f.Section(".text")
	if text == nil || text.Type == elf.SHT_NOBITS {
		return 0, false
	}
	code := make([]byte, min(text.Size, 4<<20))
	if _, err := text.ReadAt(code, 0); err != nil {
		return 0, false
	}
	seen := map[int32]int{}
	for i := 0; ; {
		j := bytes.Index(code[i:], movFSR14)
		if j < 0 || i+j+len(movFSR14)+4 > len(code) {
			break
		}
		at := i + j + len(movFSR14)
		off := int32(binary.LittleEndian.Uint32(code[at:]))
		if off < 0 && int64(off) >= -size && off%8 == 0 {
			seen[off]++
		}
		i = at
	}
	best, n := int32(0), 0
	for off, c := range seen {
		if c > n || (c == n && off > best) {
			best, n = off, c
		}
	}
	return best, n >= 2
}

// runtimeFields are the fields Offsets come from.
var runtimeFields = map[string][]string{
	"runtime.g":     {"stack", "m", "sched"},
	"runtime.stack": {"hi"},
	"runtime.gobuf": {"sp", "pc", "g", "bp"},
	"runtime.m":     {"g0", "lockedg"},
}

// FromDWARF reads the offsets from the runtime.g, runtime.m and
// runtime.gobuf struct types in d.
func FromDWARF(d *dwarf.Data) (Offsets, error) {
	want := Want(runtimeFields)
	if err := FieldsFromDWARF(d, want); err != nil {
		return Offsets{}, err
	}
	return fromFields(want), nil
}

// fromDWARFFile reads the offsets from the DWARF of the executable at
// path (StructFields).
func fromDWARFFile(path string) (Offsets, error) {
	want := Want(runtimeFields)
	if err := StructFields(path, want); err != nil {
		return Offsets{}, err
	}
	return fromFields(want), nil
}

func fromFields(w Fields) Offsets {
	u := func(t, f string) uint32 { return uint32(w[t][f]) }
	return Offsets{
		GStackHi: u("runtime.g", "stack") + u("runtime.stack", "hi"),
		GM:       u("runtime.g", "m"),
		GSched:   u("runtime.g", "sched"),
		GobufSP:  u("runtime.gobuf", "sp"), GobufPC: u("runtime.gobuf", "pc"),
		GobufG: u("runtime.gobuf", "g"), GobufBP: u("runtime.gobuf", "bp"),
		MG0: u("runtime.m", "g0"), MLockedg: u("runtime.m", "lockedg"),
		Source: "DWARF",
	}
}

// ForVersion returns the table's offsets for Go version v ("go1.22.3",
// "go1.26rc1", "go1.25.0-X:nodwarf5"); false for a version it does not
// know.
func ForVersion(v string) (Offsets, bool) {
	minor, ok := minorOf(v)
	if !ok {
		return Offsets{}, false
	}
	for _, e := range table {
		if e.minor == minor {
			o := e.o
			o.Source = fmt.Sprintf("table for go1.%d", minor)
			o.Version = v
			return o, true
		}
	}
	return Offsets{}, false
}

// minorOf returns N of "go1.N...".
func minorOf(v string) (int, bool) {
	s, ok := strings.CutPrefix(v, "go1.")
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}
