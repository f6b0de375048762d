package flame

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	pp "github.com/perfprobe/perfprobe/profile"
)

func TestWriteSpeedscopeGolden(t *testing.T) {
	var buf bytes.Buffer
	p := fixture()
	p.DefaultSampleType = "offcpu_blocked"
	if err := WriteSpeedscope(&buf, p, "fixture"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "fixture.speedscope.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if buf.String() != string(want) {
		t.Errorf("speedscope output differs from %s:\ngot:\n%s\nwant:\n%s", golden, buf.String(), want)
	}

	// What speedscope itself checks: every sample indexes the frame
	// table, weights pair with samples, endValue is their sum.
	var f ssFile
	if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Schema != speedscopeSchema || len(f.Profiles) != 2 {
		t.Fatalf("schema %q, %d profiles; want 2", f.Schema, len(f.Profiles))
	}
	if got := f.Profiles[f.ActiveProfileIndex].Name; got != "offcpu_blocked" {
		t.Errorf("active profile %q, want the default type offcpu_blocked", got)
	}
	wantTotals := map[string]int64{"oncpu": 407, "offcpu_blocked": 5000}
	for _, prof := range f.Profiles {
		if len(prof.Samples) != len(prof.Weights) {
			t.Errorf("%s: %d samples, %d weights", prof.Name, len(prof.Samples), len(prof.Weights))
		}
		var sum int64
		for i, s := range prof.Samples {
			sum += prof.Weights[i]
			for _, fi := range s {
				if fi < 0 || fi >= len(f.Shared.Frames) {
					t.Fatalf("%s: frame index %d out of range", prof.Name, fi)
				}
			}
			if root := f.Shared.Frames[s[0]].Name; root != "main.main" {
				t.Errorf("%s: sample starts at %q, want the root main.main", prof.Name, root)
			}
		}
		if sum != wantTotals[prof.Name] || prof.EndValue != sum || prof.Unit != "nanoseconds" {
			t.Errorf("%s: weights sum %d, endValue %d, unit %s; want %d nanoseconds", prof.Name, sum, prof.EndValue, prof.Unit, wantTotals[prof.Name])
		}
	}
}

func TestReadFoldedRoundTrip(t *testing.T) {
	var folded bytes.Buffer
	if err := WriteFolded(&folded, fixture(), "oncpu", false); err != nil {
		t.Fatal(err)
	}
	p, err := pp.ReadFolded(bytes.NewReader(folded.Bytes()), "oncpu", "nanoseconds")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteFolded(&again, p, "oncpu", false); err != nil {
		t.Fatal(err)
	}
	if again.String() != folded.String() {
		t.Errorf("round trip changed the stacks:\n%s\nwant:\n%s", again.String(), folded.String())
	}
}

func TestReadFoldedInput(t *testing.T) {
	in := "# comment\n\nmain;with space;leaf 10\r\nmain;leaf 2.6\nmain;leaf 0\n"
	p, err := pp.ReadFolded(bytes.NewBufferString(in), "samples", "count")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 2 || p.Sample[0].Value[0] != 10 || p.Sample[1].Value[0] != 3 {
		t.Fatalf("samples %v", p.Sample)
	}
	if got := p.Sample[0].Location[1].Line[0].Function.Name; got != "with space" {
		t.Errorf("middle frame %q, want %q", got, "with space")
	}
	for _, bad := range []string{"novalue\n", "a;b x\n", "a;b -3\n", " 5\n", ""} {
		if _, err := pp.ReadFolded(bytes.NewBufferString(bad), "samples", "count"); err == nil {
			t.Errorf("pp.ReadFolded(%q): want an error", bad)
		}
	}
}

func FuzzReadFolded(f *testing.F) {
	for _, s := range []string{"a;b;c 1\n", "main;x 10\nmain;y 5\n", "a  3", ";; 1", "a;b 1e3", "x 9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := pp.ReadFolded(bytes.NewBufferString(in), "samples", "count")
		if err != nil {
			return
		}
		if err := p.CheckValid(); err != nil {
			t.Fatalf("pp.ReadFolded(%q) gave an invalid profile: %v", in, err)
		}
		if err := WriteFolded(&bytes.Buffer{}, p, "samples", false); err != nil {
			t.Fatal(err)
		}
	})
}
