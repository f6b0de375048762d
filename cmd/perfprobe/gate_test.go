package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// benchFile writes go test -bench output: BenchmarkHot at scale×1000 ns/op
// and BenchmarkCold at 500 ns/op, 10 runs with 1% noise.
func benchFile(t *testing.T, path string, scale float64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: example.com/x\n")
	for range 10 {
		fmt.Fprintf(&b, "BenchmarkHot-2   \t    1000\t  %.0f ns/op\t  64 B/op\t 1 allocs/op\n", 1000*scale*(1+0.01*r.NormFloat64()))
		fmt.Fprintf(&b, "BenchmarkCold-2  \t    2000\t  %.0f ns/op\n", 500*(1+0.01*r.NormFloat64()))
	}
	b.WriteString("PASS\nok  \texample.com/x\t1.0s\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type gateJSON struct {
	Failed  bool `json:"failed"`
	Metrics []struct {
		Name, Unit, Verdict, Note string
		Delta                     float64
	} `json:"metrics"`
	Warnings []string `json:"warnings"`
}

func TestGateCommand(t *testing.T) {
	dir := t.TempDir()
	base, head, same := filepath.Join(dir, "base.txt"), filepath.Join(dir, "head.txt"), filepath.Join(dir, "same.txt")
	benchFile(t, base, 1, 1)
	benchFile(t, head, 1.12, 2)
	benchFile(t, same, 1, 3)
	inDir := func(c *exec.Cmd) { c.Dir = dir }

	r := perfprobe(t, inDir, "gate", "--baseline", base, "--current", head)
	if r.code != 1 || !regexpMatch(`(?m)^BenchmarkHot\s+sec/op\s.*\+1[0-4]\.\d%\s+REGRESSED`, r.stdout) || !strings.Contains(r.stdout, "gate FAIL: 1 regressed, 3 unchanged") {
		t.Errorf("12%% slower: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "perfprobe: gate FAIL: 1 regressed, 3 unchanged\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = perfprobe(t, inDir, "gate", "--baseline", base, "--current", same, "--format", "json")
	var j gateJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || r.code != 0 || j.Failed || len(j.Metrics) != 4 {
		t.Errorf("unchanged, json: exit %d %v %+v\n%s", r.code, err, j, r.stderr)
	}
	for _, m := range j.Metrics {
		if m.Verdict != "unchanged" {
			t.Errorf("%s %s: %s (%s)", m.Name, m.Unit, m.Verdict, m.Note)
		}
	}
	r = perfprobe(t, inDir, "gate", "--baseline", base, "--current", head, "--format", "markdown", "-o", filepath.Join(dir, "comment.md"))
	md, _ := os.ReadFile(filepath.Join(dir, "comment.md"))
	if r.code != 1 || !strings.Contains(string(md), "| `BenchmarkHot` | sec/op |") || !strings.Contains(string(md), "**regressed**") || !strings.Contains(r.stdout, "REGRESSED") {
		t.Errorf("markdown to -o: exit %d\n%s\nterminal:\n%s", r.code, md, r.stdout)
	}

	// The waiver in PERFORMANCE.md (found in the working directory) holds
	// until it expires; then the gate fails again.
	for _, tc := range []struct {
		expires string
		code    int
		want    string
	}{{"2099-01-01", 0, "waived until 2099-01-01 by perf-team: upstream codec"}, {"2020-01-01", 1, "expired on 2020-01-01"}} {
		perf := "# Performance\n\n```perfprobe\ngate:\n  waivers:\n    - metric: ^BenchmarkHot$\n      unit: sec/op\n      reason: upstream codec\n      owner: perf-team\n      expires: " + tc.expires + "\n```\n"
		if err := os.WriteFile(filepath.Join(dir, "PERFORMANCE.md"), []byte(perf), 0o644); err != nil {
			t.Fatal(err)
		}
		r = perfprobe(t, inDir, "gate", "--baseline", base, "--current", head)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("waiver expiring %s: exit %d, want %d and %q\n%s", tc.expires, r.code, tc.code, tc.want, r.stdout)
		}
	}

	// Bad input: exit 2, one line that says what is wrong.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("gate:\n  thresholds:\n    cpu: lots\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--baseline", filepath.Join(dir, "nope"), "--current", head}, "baseline: reading results: stat " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{[]string{"--baseline", base, "--current", filepath.Join(dir, "notes.txt")}, "current: " + filepath.Join(dir, "notes.txt") + ": not a result file; gate reads"},
		{[]string{"--baseline", filepath.Join(dir, "empty"), "--current", head}, "has no result file"},
		{[]string{"--baseline", base, "--current", head, "--policy", filepath.Join(dir, "bad.yaml")}, filepath.Join(dir, "bad.yaml") + ":3: thresholds: cpu: want a percentage like 10%"},
		{[]string{"--baseline", base}, "give both --baseline and --current"},
		{[]string{"--baseline", base, "--current", head, "--format", "xml"}, `--format "xml": use text, markdown or json`},
	} {
		r = perfprobe(t, inDir, append([]string{"gate"}, tc.args...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("gate %v: exit %d %q, want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := perfprobe(t, nil, "gate", "--help"); r.code != 0 || !strings.Contains(r.stdout, "perfprobe baseline update --dir testing/performance/baselines") {
		t.Errorf("gate --help: %q", r.stdout)
	}
}

// baseline update copies the results, records the machine and replaces
// the previous update's files; gate warns when the baseline's machine
// differs from this one.
func TestBaselineUpdate(t *testing.T) {
	dir := t.TempDir()
	bl := filepath.Join(dir, "baselines")
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	benchFile(t, a, 1, 1)
	benchFile(t, b, 1, 2)
	if r := perfprobe(t, nil, "baseline", "update", "--dir", bl, a); r.code != 0 || !strings.HasPrefix(r.stdout, "baseline "+bl+": 1 result files") {
		t.Fatalf("update: %d %q %q", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(bl, "README.md"), []byte("# our baselines\n"), 0o644)
	if r := perfprobe(t, nil, "baseline", "update", "--dir", bl, b); r.code != 0 {
		t.Fatalf("second update: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(bl, "a.txt")); err == nil {
		t.Errorf("a.txt of the first update is still in the baseline")
	}
	if _, err := os.Stat(filepath.Join(bl, "README.md")); err != nil {
		t.Errorf("a file the update did not write was removed: %v", err)
	}
	var m struct {
		Kernel, GoVersion, CPUModel string
		CPUs                        int
		Files                       []string
	}
	data, _ := os.ReadFile(filepath.Join(bl, "meta.json"))
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var u struct{ release string }
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		u.release = strings.TrimSpace(string(out))
	}
	if m.CPUs != runtime.NumCPU() || m.Kernel != u.release || len(m.Files) != 1 || m.Files[0] != "b.txt" || !strings.Contains(string(data), `"go_version": "go1.`) {
		t.Errorf("meta.json: %s", data)
	}
	r := perfprobe(t, nil, "gate", "--baseline", bl, "--current", a)
	if r.code != 0 || strings.Contains(r.stdout, "different kind of machine") || !strings.Contains(r.stdout, "skipped README.md: not a result file") {
		t.Errorf("gate against this machine's baseline: %d\n%s", r.code, r.stdout)
	}
	data = []byte(strings.Replace(string(data), `"cpus": `, `"cpus": 6`, 1))
	os.WriteFile(filepath.Join(bl, "meta.json"), data, 0o644)
	if r := perfprobe(t, nil, "gate", "--baseline", bl, "--current", a); !strings.Contains(r.stdout, "warning: the baseline comes from a different kind of machine (6") {
		t.Errorf("gate against another machine's baseline: no warning\n%s", r.stdout)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
