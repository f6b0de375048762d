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

// benchPolicy gates CPU at 10%: the template's 15% would make a planted
// 15% slowdown a coin flip by definition; the test is that the runner
// sees a 15% change, with margin.
func benchPolicy() *gate.Policy {
	p := gate.DefaultPolicy()
	p.Thresholds[gate.KindCPU] = 0.10
	return p
}

func TestBenchFlagsPlantedSlowdown(t *testing.T) {
	base, head := buildAbwork(t, "abwork", "1"), buildAbwork(t, "abwork-slow", "1.15")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("gate:\n  thresholds:\n    cpu: 10%\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := perfprobe(t, nil, "bench", "--base", base, "--head", head, "--pairs", "10", "--policy", pol)
	t.Logf("took %s\n%s%s", r.took, r.stdout, r.stderr)
	if r.code != exitFound || !strings.Contains(r.stderr, "the head regressed against the base: ") || !strings.Contains(r.stderr, "cpu +") {
		t.Fatalf("bench of a 15%% slowdown exited %d, want %d naming cpu as regressed", r.code, exitFound)
	}
	if !strings.Contains(r.stderr, "pair 10/10: head first") {
		t.Errorf("no progress line for the 10th pair, head first")
	}

	// In process: how many of the pairs it takes.
	res, err := abrun.Run(context.Background(), abrun.Options{Base: base, Head: head, Pairs: 10, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := 0
	for k := 5; k <= 10 && first == 0; k++ {
		rep := gate.ComparePaired(res.Sets()[:k], benchPolicy(), time.Now())
		if row := findRow(rep, abrun.MetricCPU); row != nil && row.Verdict == gate.Regressed {
			first = k
		}
	}
	if first == 0 {
		t.Errorf("the 15%% slowdown is not flagged in 10 pairs:\n%s", rowsText(gate.ComparePaired(res.Sets(), benchPolicy(), time.Now())))
	}
	t.Logf("cpu flagged as regressed from %d pairs on", first)
}

func TestBenchIdenticalBuildsNoFalseAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("20 A/B runs of 10 pairs take about a minute")
	}
	base, head := buildAbwork(t, "abwork-a", "1"), buildAbwork(t, "abwork-b", "1")
	alarms := 0
	for i := range 20 {
		res, err := abrun.Run(context.Background(), abrun.Options{Base: base, Head: head, Pairs: 10, Warmup: 1})
		if err != nil {
			t.Fatal(err)
		}
		rep := gate.ComparePaired(res.Sets(), benchPolicy(), time.Now())
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
