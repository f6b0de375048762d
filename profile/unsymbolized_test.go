package profile

import (
	"testing"

	"github.com/google/pprof/profile"
)

// TestUnsymbolizedFrames checks that a frame no symbol names keeps, through
// the wire format, what pprof needs to symbolize it later: its address,
// its mapping's file and build id, and the mapping not claiming functions
// (pprof leaves mappings with HasFunctions alone unless forced).
func TestUnsymbolizedFrames(t *testing.T) {
	c, syms := testCapture()
	p, err := c.ToPprof(syms)
	if err != nil {
		t.Fatal(err)
	}
	p = roundTrip(t, p)
	var unknown *profile.Location
	for _, l := range p.Location {
		if l.Address == 0x409999 {
			unknown = l
		}
	}
	if unknown == nil {
		t.Fatal("no location at 0x409999, the unsymbolized leaf")
	}
	if m := unknown.Mapping; m == nil || m.File != "/bin/app" || m.BuildID != "abc123" || m.Start != 0x400000 || m.HasFunctions || m.HasFilenames || m.HasLineNumbers {
		t.Errorf("mapping of the unsymbolized frame: %+v, want /bin/app, build id abc123, without functions, files and lines", m)
	}
	if len(unknown.Line) != 1 || unknown.Line[0].Function.Name != "app+0x9999" {
		t.Errorf("unsymbolized frame lines %+v, want one named app+0x9999", unknown.Line)
	}
	for _, m := range p.Mapping {
		if m.File == "[kernel.kallsyms]" && (!m.HasFunctions || m.HasFilenames) {
			t.Errorf("kernel mapping %+v: every frame named, none with a file: want HasFunctions only", m)
		}
	}

	// Without the unknown frame, the mapping has functions and files (main.spin
	// at 0x401000 has line 0 in the table, so not all lines).
	c.Stacks = append(c.Stacks[:2], c.Stacks[3:]...)
	if p, err = c.ToPprof(syms); err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Mapping {
		if m.File == "/bin/app" && (!m.HasFunctions || !m.HasFilenames || m.HasLineNumbers) {
			t.Errorf("mapping %+v: every frame named with a file, one without line: want HasFunctions and HasFilenames only", m)
		}
	}
}
