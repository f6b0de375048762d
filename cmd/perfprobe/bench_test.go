package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/abrun"
	"github.com/perfprobe/perfprobe/internal/gate"
)

// buildAbwork builds testdata/targets/abwork with the given slowdown.
func buildAbwork(t *testing.T, name, slowdown string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.slowdown="+slowdown, "../../testdata/targets/abwork").CombinedOutput()
	if err != nil {
		t.Fatalf("building abwork: %v\n%s", err, out)
	}
	return bin
}

// A planted 15% slowdown is flagged in at most 10 pairs, under the
// default policy, in what the target prints (a Go benchmark line per
// part of its work: run time, 10% threshold) ...
func TestBenchFlagsPlantedSlowdown(t *testing.T) {
	base, head := buildAbwork(t, "abwork", "1"), buildAbwork(t, "abwork-slow", "1.15")
	r := perfprobe(t, nil, "bench", "--base", base+" -bench 5", "--head", head+" -bench 5", "--pairs", "10")
	t.Logf("took %s\n%s%s", r.took, r.stdout, r.stderr)
	if r.code != exitFound || !strings.Contains(r.stderr, "the head regressed against the base: ") || !strings.Contains(r.stderr, "regressed against the base: BenchmarkAbwork +") {
		t.Fatalf("bench of a 15%% slowdown exited %d, want %d naming BenchmarkAbwork as regressed", r.code, exitFound)
	}
	if !strings.Contains(r.stderr, "pair 10/10: head first") {
		t.Errorf("no progress line for the 10th pair, head first")
	}
	res, err := abrun.Run(context.Background(), abrun.Options{Base: base + " -bench 5", Head: head + " -bench 5", Pairs: 10, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := firstFlagged(res, "BenchmarkAbwork", gate.DefaultPolicy())
	if first == 0 {
		t.Errorf("the 15%% slowdown is not flagged in 10 pairs:\n%s", rowsText(gate.ComparePaired(res.Sets(), nil, time.Now())))
	}
	row := findRow(gate.ComparePaired(res.Sets(), nil, time.Now()), "BenchmarkAbwork")
	if row == nil || row.Delta < 0.11 || row.Delta > 0.19 {
		t.Errorf("median per-pair change %+v, want +15%% within 4 points", row)
	}
	t.Logf("BenchmarkAbwork flagged as regressed from %d pairs on", first)
}

// ... and, when the commands print nothing gate reads, in their CPU time
// (the fallback metrics), gated here at 10%: the template's 15% for CPU
// would make a planted 15% slowdown, diluted by process start-up, a coin
// flip by definition.
func TestBenchFlagsPlantedSlowdownCPU(t *testing.T) {
	base, head := buildAbwork(t, "abwork", "1"), buildAbwork(t, "abwork-slow", "1.15")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("gate:\n  thresholds:\n    cpu: 10%\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := perfprobe(t, nil, "bench", "--base", base, "--head", head, "--pairs", "10", "--policy", pol)
	t.Logf("took %s\n%s%s", r.took, r.stdout, r.stderr)
	if r.code != exitFound || !strings.Contains(r.stderr, "cpu +") {
		t.Fatalf("bench of a 15%% slowdown exited %d, want %d naming cpu as regressed", r.code, exitFound)
	}
}

// firstFlagged is the number of pairs from which name is regressed.
func firstFlagged(res *abrun.Result, name string, pol *gate.Policy) int {
	for k := 5; k <= len(res.Pairs); k++ {
		rep := gate.ComparePaired(res.Sets()[:k], pol, time.Now())
		if row := findRow(rep, name); row != nil && row.Verdict == gate.Regressed {
			return k
		}
	}
	return 0
}

// Two identical builds: no metric is anything but unchanged in 20 runs of
// 10 pairs under the default policy (a false-alarm rate of 0/20).
func TestBenchIdenticalBuildsNoFalseAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("20 A/B runs of 10 pairs take about two minutes")
	}
	base, head := buildAbwork(t, "abwork-a", "1"), buildAbwork(t, "abwork-b", "1")
	alarms := 0
	for i := range 20 {
		res, err := abrun.Run(context.Background(), abrun.Options{Base: base + " -bench 5", Head: head + " -bench 5", Pairs: 10, Warmup: 1})
		if err != nil {
			t.Fatal(err)
		}
		rep := gate.ComparePaired(res.Sets(), nil, time.Now())
		for _, row := range rep.Rows {
			if row.Verdict != gate.Unchanged {
				alarms++
				t.Errorf("run %d: %s %s: %s (%s)", i+1, row.Name, row.Unit, row.Verdict, row.Note)
			}
		}
		if i == 0 {
			t.Logf("run 1:\n%s", rowsText(rep))
		}
	}
	t.Logf("%d false alarms in 20 runs of 10 pairs", alarms)
}

func TestBenchUnusable(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--base", "true"}, "give both --base and --head"},
		{[]string{"--base", "true", "--head", "true", "--format", "html"}, `--format "html"`},
		{[]string{"--base", "true", "--head", "echo no such file >&2; exit 4", "--warmup", "0"}, "head failed in pair 1: exit status 4: no such file"},
	} {
		r := perfprobe(t, nil, append([]string{"bench"}, c.args...)...)
		if r.code != exitUnusable || !strings.Contains(r.stderr, c.want) {
			t.Errorf("bench %v exited %d, want %d with %q: %s", c.args, r.code, exitUnusable, c.want, r.stderr)
		}
	}
}

func findRow(rep *gate.Report, name string) *gate.Row {
	for i := range rep.Rows {
		if rep.Rows[i].Name == name {
			return &rep.Rows[i]
		}
	}
	return nil
}

func rowsText(rep *gate.Report) string {
	var b strings.Builder
	for _, r := range rep.Rows {
		b.WriteString(r.Name + " " + string(r.Verdict) + ": " + r.Note + "\n")
	}
	return b.String()
}
