package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile/store"
)

// storeProfile is one window's profile: main.hot of value hot and
// main.cold of 1000, oncpu nanoseconds.
func storeProfile(hot int64) *pprof.Profile {
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "oncpu", Unit: "nanoseconds"}}, PeriodType: &pprof.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 1}
	for i, fn := range []string{"main.hot", "main.cold"} {
		f := &pprof.Function{ID: uint64(i + 1), Name: fn, SystemName: fn, Filename: "main.go"}
		l := &pprof.Location{ID: uint64(i + 1), Line: []pprof.Line{{Function: f, Line: 1}}}
		p.Function, p.Location = append(p.Function, f), append(p.Location, l)
		v := int64(1000)
		if fn == "main.hot" {
			v = hot
		}
		p.Sample = append(p.Sample, &pprof.Sample{Location: []*pprof.Location{l}, Value: []int64{v}})
	}
	return p
}

// testStore writes 12 windows of 15 s from t0 for each of three targets
// (api pids 10 and 11, db pid 20): main.hot is 1000 in the first six
// windows and 5000 after, plus 1 per pid, so sums tell windows apart.
func testStore(t *testing.T, t0 time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := store.Open(dir, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		for _, tg := range []struct {
			svc string
			pid int
		}{{"api", 10}, {"api", 11}, {"db", 20}} {
			hot := int64(1000)
			if i >= 6 {
				hot = 5000
			}
			start := t0.Add(time.Duration(i) * 15 * time.Second)
			w := store.Window{Service: tg.svc, PID: tg.pid, Start: start, End: start.Add(15 * time.Second)}
			if _, err := s.Put(w, storeProfile(hot+int64(tg.pid))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// pageTotals reads the sample type totals embedded in a flamegraph.html.
func pageTotals(t *testing.T, path string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const open = `<script type="application/json" id="perfprobe-data">`
	_, rest, ok := strings.Cut(string(b), open)
	data, _, ok2 := strings.Cut(rest, "</script>")
	if !ok || !ok2 {
		t.Fatalf("%s: no data block", path)
	}
	var page struct {
		Types []struct {
			Name  string `json:"name"`
			Total int64  `json:"total"`
		} `json:"types"`
	}
	if err := json.Unmarshal([]byte(data), &page); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	totals := map[string]int64{}
	for _, ty := range page.Types {
		totals[ty.Name] = ty.Total
	}
	return totals
}

var mergedLine = regexp.MustCompile(`(\d+) windows? of (\d+) targets?`)

func merged(t *testing.T, out string) (windows, targets int) {
	t.Helper()
	m := mergedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no merged line in %q", out)
	}
	fmt.Sscan(m[1], &windows)
	fmt.Sscan(m[2], &targets)
	return
}

// TestStoreCommands reads a store written through the store API with
// flame, diff and diagnose, and checks what they merged.
func TestStoreCommands(t *testing.T) {
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	dir := testStore(t, t0)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	work := t.TempDir()
	inWork := func(c *exec.Cmd) { c.Dir = work }

	// Starts at 60, 75, 90 and 105 s: 4 windows of each of 3 targets; hot
	// is 1000+pid in the first two, 5000+pid in the others.
	r := perfprobe(t, inWork, "flame", "--store", dir, "--from", at(60*time.Second), "--to", at(120*time.Second))
	if r.code != 0 {
		t.Fatalf("flame --store: %d %s", r.code, r.stderr)
	}
	if w, n := merged(t, r.stdout); w != 12 || n != 3 {
		t.Errorf("flame merged %d windows of %d targets, want 12 of 3: %s", w, n, r.stdout)
	}
	var want int64
	for _, pid := range []int64{10, 11, 20} {
		want += 2*(1000+pid) + 2*(5000+pid) + 4*1000
	}
	if got := pageTotals(t, filepath.Join(work, "flamegraph.html"))["oncpu"]; got != want {
		t.Errorf("flamegraph.html oncpu total %d, want %d (exactly the 12 windows)", got, want)
	}

	// The default range (the last hour) of one service: 24 windows of 2 targets.
	r = perfprobe(t, inWork, "flame", "--store", dir, "--service", "api", "-o", "api.html")
	if w, n := merged(t, r.stdout); r.code != 0 || w != 24 || n != 2 {
		t.Errorf("flame --service api: exit %d, %d windows of %d targets, want 24 of 2: %s %s", r.code, w, n, r.stdout, r.stderr)
	}
	want = 0
	for _, pid := range []int64{10, 11} {
		want += 6*(1000+pid) + 6*(5000+pid) + 12*1000
	}
	if got := pageTotals(t, filepath.Join(work, "api.html"))["oncpu"]; got != want {
		t.Errorf("api.html oncpu total %d, want %d", got, want)
	}

	// diff: the last 6 windows against the first 6 of pid 10. main.hot
	// goes from 1010 of 2010 (50.2%) to 5010 of 6010 (83.4%): +33.1 pts.
	r = perfprobe(t, inWork, "diff", "--store", dir, "--pid", "10", "--from", at(90*time.Second), "--to", at(180*time.Second),
		"--against-from", at(0), "--against-to", at(90*time.Second))
	if r.code != 0 {
		t.Fatalf("diff --store: %d %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`\+33\.1 pts\s+50\.2%\s+83\.4%.*main\.hot`).MatchString(r.stdout) || strings.Count(r.stdout, "6 windows of 1 target ") != 2 {
		t.Errorf("diff --store: want main.hot +33.1 pts, 6 windows on each side:\n%s", r.stdout)
	}
	// --against-to defaults to the same length as the new range.
	r2 := perfprobe(t, inWork, "diff", "--store", dir, "--pid", "10", "--from", at(90*time.Second), "--to", at(180*time.Second), "--against-from", at(0))
	if r2.stdout != r.stdout {
		t.Errorf("diff without --against-to differs:\n%s\nwant\n%s", r2.stdout, r.stdout)
	}
	// A base file against a store range.
	base := filepath.Join(work, "base.pb.gz")
	f, _ := os.Create(base)
	storeProfile(1010).Write(f)
	f.Close()
	r = perfprobe(t, inWork, "diff", "--store", dir, "--pid", "10", "--from", at(90*time.Second), "--to", at(180*time.Second), base)
	if r.code != 0 || !regexp.MustCompile(`\+33\.1 pts.*main\.hot`).MatchString(r.stdout) {
		t.Errorf("diff --store BASE: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// diagnose: the window is the 60 s the 12 windows cover.
	out := filepath.Join(work, "reports")
	r = perfprobe(t, inWork, "diagnose", "--store", dir, "--from", at(60*time.Second), "--to", at(120*time.Second), "--no-bottlenecks", "--no-external-plugins", "-o", out)
	if r.code != 0 {
		t.Fatalf("diagnose --store: %d %s", r.code, r.stderr)
	}
	rep := readDiagnosis(t, filepath.Join(out, "report.json"))
	if rep.WindowSeconds != 60 || !strings.Contains(rep.Source, "12 windows of 3 targets") {
		t.Errorf("diagnose --store: window %.1f s, source %q; want 60 s and 12 windows of 3 targets", rep.WindowSeconds, rep.Source)
	}
}

// Bad input to the store commands: one line that says what to do.
func TestStoreBadInput(t *testing.T) {
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	dir := testStore(t, t0)
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"flame", "--store", filepath.Join(empty, "none")}, 1, "no store at"},
		{[]string{"flame", "--store", empty}, 1, "start `perfprobe agent --store"},
		{[]string{"flame", "--store", dir, "--from", "-3h", "--to", "-2h"}, 1, "it holds 36 windows from"},
		{[]string{"flame", "--store", dir, "--service", "web"}, 1, "services api (24), db (12)"},
		{[]string{"flame", "--store", dir, "--from", "-1h", "--to", "-2h"}, 1, "is not before --to"},
		{[]string{"flame", "--store", dir, "--from", "yesterday"}, 1, "--from: time \"yesterday\""},
		{[]string{"flame", "--store", dir, "cpu.pprof"}, 1, "drop \"cpu.pprof\""},
		{[]string{"flame"}, 1, "or --store DIR"},
		{[]string{"flame", "--from", "-1h", "x.pprof"}, 1, "add --store DIR"},
		{[]string{"diff", "--store", dir}, 1, "diff --store needs a base"},
		{[]string{"diff", "--store", dir, "--against-from", "-2h", "a", "b"}, 1, "drop \"b\""},
		{[]string{"diff", "--store", dir, "--against-from", "-3h", "--against-to", "-2h"}, 1, "base: no window"},
		{[]string{"diff", "a"}, 1, "two profiles"},
		{[]string{"diagnose", "--store", dir, "--from", "now", "--to", "-1h"}, exitUnusable, "is not before"},
		{[]string{"diagnose", "--store", filepath.Join(empty, "none")}, exitUnusable, "no store at"},
	} {
		r := perfprobe(t, nil, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != c.code || len(lines) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}
