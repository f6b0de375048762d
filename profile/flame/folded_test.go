package flame

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture: two user stacks, one with kernel frames, and a name that needs
// escaping for the folded format.
func fixture() *profile.Profile {
	kern := &profile.Mapping{ID: 2, File: "[kernel.kallsyms]"}
	app := &profile.Mapping{ID: 1, File: "/bin/app", Start: 0x1000, Limit: 0x9000}
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	loc := func(id uint64, m *profile.Mapping, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Mapping: m, Address: 0x1000 + id, Line: []profile.Line{{Function: f}}}
	}
	fMain, fSpin, fOdd, fSched := fn(1, "main.main"), fn(2, "main.spin"), fn(3, "weird;name\nx"), fn(4, "schedule")
	lMain, lSpin, lOdd, lSched := loc(1, app, fMain), loc(2, app, fSpin), loc(3, app, fOdd), loc(4, kern, fSched)
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "oncpu", Unit: "nanoseconds"}, {Type: "offcpu_blocked", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lSpin, lMain}, Value: []int64{300, 0}, Label: map[string][]string{"thread": {"app"}}},
			{Location: []*profile.Location{lSpin, lMain}, Value: []int64{100, 0}, Label: map[string][]string{"thread": {"worker"}}},
			{Location: []*profile.Location{lOdd, lMain}, Value: []int64{7, 0}},
			{Location: []*profile.Location{lSched, lMain}, Value: []int64{0, 5000}},
		},
		Mapping:  []*profile.Mapping{app, kern},
		Location: []*profile.Location{lMain, lSpin, lOdd, lSched},
		Function: []*profile.Function{fMain, fSpin, fOdd, fSched},
	}
}

func TestWriteFoldedGolden(t *testing.T) {
	for _, tc := range []struct {
		name       string
		typ        string
		threadRoot bool
	}{{"oncpu", "oncpu", false}, {"oncpu-threads", "oncpu", true}, {"offcpu_blocked", "offcpu_blocked", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFolded(&buf, fixture(), tc.typ, tc.threadRoot); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".folded")
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
				t.Errorf("folded output differs from %s:\ngot:\n%s\nwant:\n%s", golden, buf.String(), want)
			}
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if strings.Count(line, " ") < 1 || strings.ContainsAny(line[:strings.LastIndexByte(line, ' ')], "\n") {
					t.Errorf("malformed folded line %q", line)
				}
			}
		})
	}
	if err := WriteFolded(&bytes.Buffer{}, fixture(), "nope", false); err == nil {
		t.Error("want an error for a missing sample type")
	}
}
