package performance

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPerfGateCatchesSlowSymbolizer runs perfprobe bench as perf-gate does,
// on BenchmarkSymbolizeGo built without and with the perfgate_slow tag
// (Process.Symbolize 30% slower): 8 pairs must flag a sub-benchmark, and
// two untagged builds must pass. 26-30 s on 2 CPUs; -short skips it.
func TestPerfGateCatchesSlowSymbolizer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds perfprobe and runs 2 x 8 pairs of the symbolizer benchmark (~1 min)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goTool := lookGo(t)
	for _, args := range [][]string{
		{"build", "-o", filepath.Join(dir, "perfprobe"), "./cmd/perfprobe"},
		{"test", "-c", "-o", filepath.Join(dir, "plain.test"), "./profile/symbolize"},
		{"test", "-c", "-tags=perfgate_slow", "-o", filepath.Join(dir, "slow.test"), "./profile/symbolize"},
	} {
		cmd := exec.Command(goTool, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	benchCmd := func(bin string) string {
		return filepath.Join(dir, bin) + ` -test.run '^$' -test.bench '^BenchmarkSymbolizeGo$' -test.benchtime 100ms`
	}
	run := func(base, head string) (code int, rows []row, stderr string) {
		cmd := exec.Command(filepath.Join(dir, "perfprobe"), "bench", "-q", "--pairs", "8", "--format", "json",
			"--policy", filepath.Join(root, "testing/performance/bench-policy.yaml"),
			"--base", benchCmd(base), "--head", benchCmd(head))
		cmd.Dir = filepath.Join(root, "profile/symbolize")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		var rep struct{ Metrics []row }
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("perfprobe bench's JSON: %v\n%s\n%s", err, out.Bytes(), errb.Bytes())
		}
		for _, r := range rep.Metrics {
			t.Logf("%s %s: %+.1f%% [%+.1f%%, %+.1f%%] %s", r.Name, r.Unit, 100*r.Delta, 100*r.DeltaLo, 100*r.DeltaHi, r.Verdict)
		}
		return cmd.ProcessState.ExitCode(), rep.Metrics, errb.String()
	}

	code, rows, stderr := run("plain.test", "slow.test")
	if code != 1 {
		t.Errorf("slowed symbolizer: exit status %d, want 1 (a regression)\n%s", code, stderr)
	}
	flagged := false
	for _, r := range rows {
		// The hook adds 30% of Symbolize's time plus its clock reads: no
		// flagged row can be under +20%.
		if r.Verdict == "regressed" && strings.Contains(r.Name, "BenchmarkSymbolizeGo/") && r.Unit == "sec/op" && r.Delta >= 0.20 {
			flagged = true
		}
	}
	if !flagged {
		t.Errorf("no BenchmarkSymbolizeGo sub-benchmark regressed by at least 20%% in sec/op")
	}
	if !strings.Contains(stderr, "BenchmarkSymbolizeGo/") {
		t.Errorf("the error does not name the benchmark: %q", stderr)
	}

	code, rows, stderr = run("plain.test", "plain.test")
	if code != 0 {
		t.Errorf("two identical builds: exit status %d, want 0\n%s", code, stderr)
	}
	// What the gate must never do is fail two identical builds: none may
	// regress. A side that is faster by chance is said ("improved") and
	// does not fail the gate (the cold lookup, the noisiest, was 18.7%
	// faster on one side once in CI).
	for _, r := range rows {
		if r.Verdict == "regressed" {
			t.Errorf("two identical builds: %s %s is %s", r.Name, r.Unit, r.Verdict)
		} else if r.Verdict != "unchanged" {
			t.Logf("two identical builds: %s %s is %s (noise, not a failure)", r.Name, r.Unit, r.Verdict)
		}
	}
}

type row struct {
	Name, Unit, Verdict string
	Delta               float64
	DeltaLo             float64 `json:"delta_lo"`
	DeltaHi             float64 `json:"delta_hi"`
}

// lookGo finds the go command: on PATH, else the one that built the test.
func lookGo(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or in %s", p)
	}
	return p
}
