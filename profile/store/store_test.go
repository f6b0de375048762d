package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// testProfile builds a profile with one stack per function of fns, each
// of value v in every sample type of types (nanoseconds).
func testProfile(types []string, fns []string, v int64) *profile.Profile {
	p := &profile.Profile{PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 1e7}
	for _, t := range types {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: t, Unit: "nanoseconds"})
	}
	for i, name := range fns {
		f := &profile.Function{ID: uint64(i + 1), Name: name, SystemName: name, Filename: "x.go"}
		l := &profile.Location{ID: uint64(i + 1), Line: []profile.Line{{Function: f, Line: 1}}}
		p.Function = append(p.Function, f)
		p.Location = append(p.Location, l)
		vals := make([]int64, len(types))
		for j := range vals {
			vals[j] = v * int64(j+1)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{l}, Value: vals})
	}
	return p
}

// total sums sample type typ of p.
func total(p *profile.Profile, typ string) int64 {
	for i, st := range p.SampleType {
		if st.Type == typ {
			var sum int64
			for _, s := range p.Sample {
				sum += s.Value[i]
			}
			return sum
		}
	}
	return -1
}

var base = time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC) // windows cross midnight UTC

type putWindow struct {
	Window
	oncpu, blocked int64
}

// fill puts 20 windows: services api and db/worker (a name the filesystem
// needs sanitized), two pids each, five 15 s windows per target. A
// window's oncpu total is 2*value (two functions); db windows have a
// second type, offcpu_blocked, listed first.
func fill(t *testing.T, s *Store) []putWindow {
	t.Helper()
	var out []putWindow
	for i := 0; i < 5; i++ {
		for _, svc := range []string{"api", "db/worker"} {
			for _, pid := range []int{100, 101} {
				if svc == "db/worker" {
					pid += 100
				}
				v := int64(1000*(i+1) + pid)
				types := []string{"oncpu"}
				if svc == "db/worker" {
					types = []string{"offcpu_blocked", "oncpu"}
				}
				w := Window{Service: svc, PID: pid, Start: base.Add(time.Duration(i) * 15 * time.Second),
					Labels: map[string]string{"comm": "c" + strconv.Itoa(pid), "hostname": "h1"}}
				w.End = w.Start.Add(15 * time.Second)
				p := testProfile(types, []string{"main.f" + strconv.Itoa(pid), "main.g"}, v)
				got, err := s.Put(w, p)
				if err != nil {
					t.Fatal(err)
				}
				pw := putWindow{Window: got, oncpu: 2 * v}
				if svc == "db/worker" {
					pw.oncpu, pw.blocked = 4*v, 2*v // oncpu is the second type: value 2v
				}
				out = append(out, pw)
			}
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	put := fill(t, s)
	if b, n := s.Usage(); n != 20 || b <= 0 {
		t.Fatalf("usage %d bytes in %d windows, want 20 windows", b, n)
	}
	want := filepath.Join(s.Dir(), "db_worker", "2026-12-02", fmt.Sprintf("%d-%d-200.pb.gz", base.Add(60*time.Second).UnixMilli(), base.Add(75*time.Second).UnixMilli()))
	if _, err := os.Stat(want); err != nil {
		t.Errorf("layout: %v", err)
	}

	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"all", Query{}},
		{"middle", Query{From: base.Add(15 * time.Second), To: base.Add(60 * time.Second)}},
		{"one start", Query{From: base.Add(30 * time.Second), To: base.Add(30*time.Second + time.Millisecond)}},
		{"service", Query{Service: "db/worker", From: base.Add(14 * time.Second)}},
		{"pid", Query{PID: 101, To: base.Add(45 * time.Second)}},
	} {
		var wantN int
		var wantCPU, wantBlocked int64
		for _, w := range put {
			if (c.q.Service == "" || w.Service == c.q.Service) && c.q.match(w.Window) {
				wantN++
				wantCPU += w.oncpu
				wantBlocked += w.blocked
			}
		}
		p, used, err := r.Load(c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(used) != wantN || total(p, "oncpu") != wantCPU || max(0, total(p, "offcpu_blocked")) != wantBlocked {
			t.Errorf("%s: %d windows, oncpu %d, blocked %d; want %d, %d, %d", c.name, len(used), total(p, "oncpu"), total(p, "offcpu_blocked"), wantN, wantCPU, wantBlocked)
		}
		ws, _ := r.List(c.q)
		if len(ws) != wantN {
			t.Errorf("%s: List gave %d windows, want %d", c.name, len(ws), wantN)
		}
		for i := 1; i < len(used); i++ {
			a, b := used[i-1], used[i]
			if a.Start.After(b.Start) || (a.Start.Equal(b.Start) && (a.Service > b.Service || a.Service == b.Service && a.PID >= b.PID)) {
				t.Errorf("%s: windows out of order: %v then %v", c.name, a, b)
			}
		}
	}

	// The middle range: 3 starts, so 45 s of wall time, labels common to all.
	p, used, _ := r.Load(Query{From: base.Add(15 * time.Second), To: base.Add(60 * time.Second)})
	if p.DurationNanos != int64(45*time.Second) || p.TimeNanos != base.Add(15*time.Second).UnixNano() {
		t.Errorf("merged time %d, duration %d; want the first start and 45 s", p.TimeNanos, p.DurationNanos)
	}
	if got := strings.Join(p.Comments, "|"); got != "perfprobe-label hostname=h1" {
		t.Errorf("merged comments %q, want only the common label", got)
	}
	if used[0].Labels["comm"] != "c100" || used[0].Service != "api" {
		t.Errorf("first window %+v", used[0])
	}
	ws, _ := r.List(Query{Service: "db/worker", Labels: true})
	if len(ws) != 10 || ws[0].Service != "db/worker" || ws[0].Labels["pid"] != "200" || ws[0].Labels["comm"] != "c200" {
		t.Errorf("List with labels: %d windows, first %+v", len(ws), ws[0])
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "perfprobe agent --store") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := OpenReadOnly(dir); err == nil || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("dir without a store: %v", err)
	}
	s, err := Open(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	_, _, err = s.Load(Query{Service: "web", From: base})
	if err == nil || !strings.Contains(err.Error(), "api (10), db_worker (10)") || !strings.Contains(err.Error(), "20 windows") {
		t.Errorf("no match: %v", err)
	}
	// A corrupt window is skipped and named in the comments; alone, it is an error.
	ws, _ := s.List(Query{PID: 100})
	os.WriteFile(ws[0].Path, []byte("\x1f\x8b\x08\x00garbage"), 0o640)
	p, used, err := s.Load(Query{PID: 100})
	if err != nil || len(used) != 4 || !strings.HasPrefix(p.Comments[len(p.Comments)-1], SkippedComment+ws[0].Path) {
		t.Errorf("one corrupt of 5: %d used, err %v", len(used), err)
	}
	if _, _, err := s.Load(Query{PID: 100, To: ws[0].Start.Add(time.Millisecond)}); err == nil || !strings.Contains(err.Error(), "none is readable") {
		t.Errorf("only a corrupt window: %v", err)
	}
}

// bigProfile builds a profile of about n bytes once gzipped: function
// names of random letters (1 KiB each, so the encoding stays fast).
func bigProfile(rng *rand.Rand, n int) *profile.Profile {
	var fns []string
	for size := 0; size < n; size += 620 { // 1 KiB of 26 letters gzips to about 620 bytes
		b := make([]byte, 1024)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		fns = append(fns, string(b))
	}
	return testProfile([]string{"oncpu"}, fns, 7)
}

func TestSizeCap(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 256 << 10
	s, err := Open(dir, Limits{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	var paths []string
	for i := 0; written < 3*maxBytes; i++ {
		start := base.Add(time.Duration(i) * 3 * time.Hour) // a new day every 8 windows
		w, err := s.Put(Window{Service: "svc", PID: 1, Start: start, End: start.Add(15 * time.Second)}, bigProfile(rng, 20<<10+rng.IntN(20<<10)))
		if err != nil {
			t.Fatal(err)
		}
		written += w.Bytes
		paths = append(paths, w.Path)
		b, n := s.Usage()
		var onDisk int64
		ws, _ := s.List(Query{})
		for _, w := range ws {
			onDisk += w.Bytes
		}
		if b > maxBytes || onDisk != b || len(ws) != n {
			t.Fatalf("after %d puts: usage %d bytes in %d windows, %d on disk in %d; want <= %d", i+1, b, n, onDisk, len(ws), maxBytes)
		}
		// The oldest went first: what is left is the newest windows.
		for j, w := range ws {
			if w.Path != paths[len(paths)-len(ws)+j] {
				t.Fatalf("after %d puts: window %d is %s, want %s", i+1, j, w.Path, paths[len(paths)-len(ws)+j])
			}
		}
	}
	_, n := s.Usage()
	if got := s.Deleted(); got != uint64(len(paths)-n) || got == 0 {
		t.Errorf("deleted %d, want %d", got, len(paths)-n)
	}
	days, _ := os.ReadDir(filepath.Join(dir, "svc"))
	if want := (n + 7) / 8; len(days) > want+1 {
		t.Errorf("%d day directories for %d windows: empty ones were not removed", len(days), n)
	}
	t.Logf("%d windows written (%d bytes), %d kept, %d deleted", len(paths), written, n, s.Deleted())
	if _, err := s.Put(Window{Service: "svc", PID: 1, Start: base, End: base}, bigProfile(rng, maxBytes*2)); err == nil {
		t.Error("a window over MaxBytes was stored")
	}
}

func TestAgeLimit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Limits{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p := testProfile([]string{"oncpu"}, []string{"f"}, 1)
	// Started 2 h ago but ended 50 min ago: kept (age is by end).
	long, _ := s.Put(Window{Service: "a", PID: 1, Start: now.Add(-2 * time.Hour), End: now.Add(-50 * time.Minute)}, p)
	if _, err := s.Put(Window{Service: "a", PID: 1, Start: now.Add(-3 * time.Hour), End: now.Add(-61 * time.Minute)}, p); err != nil {
		t.Fatal(err)
	}
	if _, n := s.Usage(); n != 1 || s.Deleted() != 1 {
		t.Fatalf("%d windows, %d deleted; want the one ended over an hour ago deleted at once", n, s.Deleted())
	}
	if _, err := os.Stat(long.Path); err != nil {
		t.Fatalf("the window that ended 50 min ago was deleted: %v", err)
	}
	// Reopened with a 30 min limit, the store deletes it at Open.
	s2, err := Open(dir, Limits{MaxAge: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, n := s2.Usage(); n != 0 || s2.Deleted() != 1 {
		t.Errorf("after Open with 30 min: %d windows, %d deleted", n, s2.Deleted())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 { // the marker alone
		t.Errorf("store holds %d entries, want the marker alone", len(ents))
	}
}

func TestParseTime(t *testing.T) {
	zone := time.FixedZone("X", 3600)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, zone)
	for _, c := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"now", now, ""},
		{" now ", now, ""},
		{"-1h", now.Add(-time.Hour), ""},
		{"-15m", now.Add(-15 * time.Minute), ""},
		{"-90s", now.Add(-90 * time.Second), ""},
		{"-1h30m", now.Add(-90 * time.Minute), ""},
		{"-2d", now.Add(-48 * time.Hour), ""},
		{"2026-12-01T10:00:00Z", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), ""},
		{"2026-12-01T10:00:00.5+02:00", time.Date(2026, 12, 1, 8, 0, 0, 5e8, time.UTC), ""},
		{"2026-12-01 10:00", time.Date(2026, 12, 1, 10, 0, 0, 0, zone), ""},
		{"2026-12-01 10:00:05", time.Date(2026, 12, 1, 10, 0, 5, 0, zone), ""},
		{"2026-12-01T10:00", time.Date(2026, 12, 1, 10, 0, 0, 0, zone), ""},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, zone), ""},
		{"1764583200", time.Unix(1764583200, 0), ""},
		{"1h", time.Time{}, "must be negative"},
		{"-1x", time.Time{}, "not a duration"},
		{"-1.5d", time.Time{}, "whole number"},
		{"yesterday", time.Time{}, "RFC 3339"},
		{"", time.Time{}, "empty"},
		{"2026-13-01 10:00", time.Time{}, "use now"},
		{"99999999999999999999", time.Time{}, "out of range"},
	} {
		got, err := ParseTime(c.in, now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTime(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestServiceDir(t *testing.T) {
	for in, want := range map[string]string{
		"api": "api", "db/worker": "db_worker", "": "_", ".": "_", "..": "_.", ".hidden": "_hidden",
		"a.b-c_D9": "a.b-c_D9", "ünï": "__n__", "../../etc": "_._.._etc",
	} {
		if got := serviceDir(in); got != want {
			t.Errorf("serviceDir(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"1764583200000-1764583215000-1234.pb.gz", "0-0-0.pb.gz", "1-2-3.pb", "01-2-3.pb.gz", "-1-2-3.pb.gz", "5-4-3.pb.gz", ".tmp-123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		start, end, pid, ok := parseName(name)
		if !ok {
			return
		}
		if end.Before(start) || pid < 0 {
			t.Fatalf("parseName(%q) = %v %v %d", name, start, end, pid)
		}
		if back := fileName(start, end, pid); back != name {
			t.Fatalf("parseName(%q) does not round trip: %q", name, back)
		}
	})
}
