package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	pp "github.com/perfprobe/perfprobe/profile"
)

var offlineSink uint64

//go:noinline
func burnForProfile(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 10000; i++ {
			offlineSink = offlineSink*31 + uint64(i)
		}
	}
}

// goTestProfile writes a CPU profile the way go test -cpuprofile does.
func goTestProfile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	burnForProfile(400 * time.Millisecond)
	pprof.StopCPUProfile()
	f.Close()
	return path
}

// TestOfflineCommands runs flame, convert and diff on a pprof file made by
// the Go runtime, and checks their outputs and their errors.
func TestOfflineCommands(t *testing.T) {
	prof := goTestProfile(t)
	dir := filepath.Dir(prof)

	r := perfprobe(t, nil, "convert", prof, "--to", "folded", "--type", "cpu")
	if r.code != 0 {
		t.Fatalf("convert folded: %d %s", r.code, r.stderr)
	}
	var burn, total int64
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		sp := strings.LastIndexByte(line, ' ')
		var v int64
		for _, c := range line[sp+1:] {
			v = v*10 + int64(c-'0')
		}
		total += v
		if strings.Contains(line, "burnForProfile") {
			burn += v
		}
	}
	if total == 0 || float64(burn)/float64(total) < 0.8 {
		t.Errorf("folded: burnForProfile holds %d of %d ns, want > 80%%", burn, total)
	}

	ss := filepath.Join(dir, "cpu.speedscope.json")
	if r := perfprobe(t, nil, "convert", prof, "--to", "speedscope", "-o", ss); r.code != 0 {
		t.Fatalf("convert speedscope: %d %s", r.code, r.stderr)
	}
	var doc struct {
		Profiles []struct {
			Name    string  `json:"name"`
			Weights []int64 `json:"weights"`
		} `json:"profiles"`
	}
	b, _ := os.ReadFile(ss)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Profiles) != 2 {
		t.Fatalf("speedscope: %v, %d profiles (want samples and cpu)", err, len(doc.Profiles))
	}

	folded := filepath.Join(dir, "cpu.folded")
	os.WriteFile(folded, []byte(r.stdout), 0o644)
	back := filepath.Join(dir, "back.pb.gz")
	if r := perfprobe(t, nil, "convert", folded, "--to", "pprof", "-o", back); r.code != 0 {
		t.Fatalf("convert folded to pprof: %d %s", r.code, r.stderr)
	}
	p, err := pp.Load(back)
	if err != nil || pp.Total(p, "cpu") != total {
		t.Errorf("folded -> pprof: %v, cpu total %d want %d", err, pp.Total(p, "cpu"), total)
	}

	// go tool pprof -proto output reads the same.
	proto := filepath.Join(dir, "proto.pb.gz")
	if out, err := exec.Command(goTool(), "tool", "pprof", "-proto", "-output", proto, prof).CombinedOutput(); err != nil {
		t.Fatalf("go tool pprof -proto: %v\n%s", err, out)
	}
	if r := perfprobe(t, nil, "convert", proto, "--to", "folded", "--type", "cpu"); r.code != 0 || !strings.Contains(r.stdout, "burnForProfile") {
		t.Errorf("convert of go tool pprof -proto output: %d %s", r.code, r.stderr)
	}

	html := filepath.Join(dir, "cpu.html")
	if r := perfprobe(t, nil, "flame", prof, "-o", html); r.code != 0 || !strings.Contains(r.stdout, html) {
		t.Fatalf("flame: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(html); err != nil || fi.Size() < 1000 {
		t.Fatalf("flamegraph not written: %v", err)
	}

	// Diff of a profile against itself: every mover is 0.
	r = perfprobe(t, nil, "diff", prof, prof, "-o", filepath.Join(dir, "d.html"))
	if r.code != 0 || !strings.Contains(r.stdout, "+0.0 pts") {
		t.Errorf("diff against itself: %d %s %s", r.code, r.stdout, r.stderr)
	}

	corrupt := filepath.Join(dir, "corrupt.pb.gz")
	b, _ = os.ReadFile(prof)
	os.WriteFile(corrupt, b[:len(b)/2], 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"flame", corrupt}, "corrupt.pb.gz"},
		{[]string{"flame", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"flame", "--type", "nope", prof}, "no sample type \"nope\""},
		{[]string{"convert", prof, "--to", "svg"}, "choose one of"},
		{[]string{"convert", prof}, "\"to\" not set"},
		{[]string{"diff", prof, corrupt}, "new:"},
	} {
		r := perfprobe(t, nil, tc.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q: want one line containing %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
