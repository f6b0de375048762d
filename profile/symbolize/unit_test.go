package symbolize

import (
	"debug/elf"
	"strings"
	"testing"
)

func TestParseMaps(t *testing.T) {
	in := `00400000-004a1000 r-xp 00000000 fd:01 1234                       /usr/bin/my prog
7f0000001000-7f0000002000 r-xp 00001000 00:00 0                          [vdso]
7f0000003000-7f0000004000 rw-p 00000000 00:00 0 
7f0000005000-7f0000006000 r-xp 00002000 08:02 99 /lib/libgone.so (deleted)
7f0000007000-7f0000008000 r-xp 00000000 00:00 0
`
	got, err := parseMaps(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mapsEntry{
		{0x400000, 0x4a1000, 0, "r-xp", "fd:01", 1234, "/usr/bin/my prog"},
		{0x7f0000001000, 0x7f0000002000, 0x1000, "r-xp", "00:00", 0, "[vdso]"},
		{0x7f0000003000, 0x7f0000004000, 0, "rw-p", "00:00", 0, ""},
		{0x7f0000005000, 0x7f0000006000, 0x2000, "r-xp", "08:02", 99, "/lib/libgone.so (deleted)"},
		{0x7f0000007000, 0x7f0000008000, 0, "r-xp", "00:00", 0, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	exec := []bool{true, true, false, true, false} // anonymous code is not a mapping
	for i, e := range got {
		if e.executable() != exec[i] {
			t.Errorf("entry %d executable() = %v", i, e.executable())
		}
	}
	if _, err := parseMaps(strings.NewReader("zzz r-xp 0 0:0 0 /x\n")); err == nil {
		t.Error("bad range parsed without error")
	}
}

func TestLookupSymbol(t *testing.T) {
	syms := []symbol{
		{0x1000, 0x10, "sized"},
		{0x1100, 0, "asm_label"},
		{0x1200, 0x20, "next"},
	}
	for _, c := range []struct {
		addr uint64
		want string
	}{
		{0xfff, ""},
		{0x1000, "sized"},
		{0x100f, "sized"},
		{0x1010, ""}, // past a sized symbol: unknown
		{0x10ff, ""},
		{0x1100, "asm_label"},
		{0x11ff, "asm_label"}, // size 0 extends to the next symbol
		{0x121f, "next"},
		{0x1220, ""},
	} {
		s, ok := lookupSymbol(syms, c.addr)
		if s.name != c.want || ok != (c.want != "") {
			t.Errorf("lookupSymbol(%#x) = %q, %v; want %q", c.addr, s.name, ok, c.want)
		}
	}
}

func TestVaddr(t *testing.T) {
	// Typical shared library: text at file offset 0x26000, vaddr 0x26000;
	// data segment with vaddr != offset.
	o := &objFile{loads: []elf.ProgHeader{
		{Type: elf.PT_LOAD, Off: 0x26000, Vaddr: 0x26000, Filesz: 0x155000},
		{Type: elf.PT_LOAD, Off: 0x1cf8d0, Vaddr: 0x1d08d0, Filesz: 0x5000},
	}}
	// Mapped at 0x7f0000026000 with offset 0x26000, the runtime address
	// 0x7f00000525b0 is file offset 0x525b0.
	start, off := uint64(0x7f0000026000), uint64(0x26000)
	if v, ok := o.vaddr(0x7f00000525b0 - start + off); !ok || v != 0x525b0 {
		t.Errorf("vaddr = %#x, %v; want 0x525b0", v, ok)
	}
	if v, ok := o.vaddr(0x1cf900); !ok || v != 0x1d0900 {
		t.Errorf("vaddr in data = %#x, %v; want 0x1d0900", v, ok)
	}
	if _, ok := o.vaddr(0x10); ok {
		t.Error("offset outside every PT_LOAD translated")
	}
}

func TestSymbolizeUnknown(t *testing.T) {
	p := &Process{cache: map[frameKey]Frame{}, maps: []*procMapping{
		{Mapping: Mapping{Start: 0x1000, Limit: 0x2000, Offset: 0x3000, Path: "/opt/lib/libx.so (deleted)"}},
	}}
	if f := p.Symbolize(0x1234, true); f.Function != "libx.so+0x3234" || f.Known || f.Mapping == nil || f.Addr != 0x1234 {
		t.Errorf("in mapping without object: %+v", f)
	}
	if f := p.Symbolize(0x2000, false); f.Function != "[unknown]+0x2000" || f.Mapping != nil {
		t.Errorf("past the mapping: %+v", f)
	}
	// A return address just past the mapping's end belongs to its last call.
	if f := p.Symbolize(0x2000, true); f.Mapping == nil {
		t.Errorf("return address at the end of the mapping: %+v", f)
	}
}
