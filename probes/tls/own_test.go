package tls

import (
	"debug/buildinfo"
	"testing"

	"github.com/perfprobe/perfprobe/internal/testtarget"
)

// TestConnLayoutDWARF: the offsets from *tls.Conn to its file descriptor
// read from a Go binary's DWARF (built with the local Go) are knownLayout,
// the fallback used without DWARF; a stripped build falls back to it; the
// cookie keeps the three offsets apart.
func TestConnLayoutDWARF(t *testing.T) {
	bin := testtarget.Build(t, "tlsserver")
	l, err := dwarfConnLayout(bin)
	if err != nil {
		t.Fatalf("reading the layout from %s's DWARF: %v", bin, err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if l != knownLayout {
		t.Errorf("%s (%s): DWARF layout %+v, knownLayout %+v: update knownLayout for this Go", bin, bi.GoVersion, l, knownLayout)
	}
	stripped := testtarget.Build(t, "tlshandshakes", "-ldflags=-s -w")
	if _, err := dwarfConnLayout(stripped); err == nil {
		t.Errorf("a stripped build has DWARF?")
	}
	if got, ok, note := goConnLayout(stripped, "go1.26.8"); !ok || got != knownLayout {
		t.Errorf("stripped go1.26.8: %+v %v %q, want knownLayout", got, ok, note)
	}
	if _, ok, note := goConnLayout(stripped, "go1.19.1"); ok || note == "" {
		t.Errorf("stripped go1.19: ok %v, note %q: want no check and a note", ok, note)
	}
	c := connLayout{conn: 8, fd: 0x20, sysfd: 0x110}.cookie()
	if c&cookieOwnCheck == 0 || c>>cookieConnShift&0xff != 8 || c>>cookieFDShift&0xff != 0x20 || c>>cookieSysfdShift&0xffff != 0x110 || c&0xff != 0 {
		t.Errorf("cookie %#x does not hold the offsets", c)
	}
	if (connLayout{conn: 0x100}).cookie() != 0 {
		t.Errorf("an offset that does not fit still makes a cookie")
	}
}
