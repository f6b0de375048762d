package builtin_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// fromProfile is what an offline diagnosis makes of a Go CPU profile file
// (`go test -cpuprofile`): its cpu/nanoseconds samples become go_cpu,
// merged the way a capture merges the Go runtime's profiles.
func fromProfile(p *pprof.Profile, path string) (*plugins.Evidence, error) {
	part, err := profile.GoPart("cpu", p)
	if err != nil {
		return nil, err
	}
	merged, err := profile.Merge(part)
	if err != nil {
		return nil, err
	}
	return &plugins.Evidence{Profile: merged, Source: path, ProfilePath: path, Duration: time.Duration(p.DurationNanos)}, nil
}

// benchMetric reads a custom metric ("hash-ns/op") from go test -bench
// output.
func benchMetric(t *testing.T, out []byte, unit string) float64 {
	t.Helper()
	m := regexp.MustCompile(`([0-9.e+]+) ` + regexp.QuoteMeta(unit)).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in the benchmark output:\n%s", unit, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The CPU profile of `go test -bench -cpuprofile` over testdata/benchhash,
// whose benchmark spends half its CPU time hashing, diagnosed offline:
// the hashing plugin finds it, from go_cpu, at the share the benchmark
// measured of itself, and the plugins that need a capture are not
// applicable.
func TestOfflineGoTestProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test -bench for 3 s")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command: ", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "testdata", "benchhash")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cpu.out")
	cmd := exec.Command(gobin, "test", "-run", "^$", "-bench", ".", "-benchtime", "3s", "-count", "1",
		"-cpuprofile", path, "-o", filepath.Join(dir, "benchhash.test"), "./testdata/benchhash")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test of testdata/benchhash: %v\n%s", err, out)
	}
	hash, mix := benchMetric(t, out, "hash-ns/op"), benchMetric(t, out, "mix-ns/op")
	planted := hash / (hash + mix)

	p, err := profile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := fromProfile(p, path)
	if err != nil {
		t.Fatal(err)
	}
	rep := plugins.Run(ev)
	var found *plugins.Finding
	for i, f := range rep.Findings {
		t.Logf("finding %s %s (score %d, share %.1f%%): %s | %s", f.Plugin, f.Severity, f.Score, 100*f.Share, f.Title, f.Detail)
		if f.Plugin == "hashing" {
			found = &rep.Findings[i]
		} else if f.Severity > plugins.Info {
			t.Errorf("unexpected %s finding from %s: %s", f.Severity, f.Plugin, f.Title)
		}
	}
	if found == nil {
		t.Fatal("no hashing finding")
	}
	t.Logf("hashing: measured share %.1f%% of go_cpu, planted %.1f%% (the benchmark's own CPU clock)", 100*found.Share, 100*planted)
	if found.Severity < plugins.Warning || math.Abs(found.Share-planted) > shareTolerance {
		t.Errorf("hashing %s at %.1f%%, want warning or above at %.1f%% ± 10 points", found.Severity, 100*found.Share, 100*planted)
	}
	if !strings.HasSuffix(found.Title, "from benchhash.checksum") {
		t.Errorf("title %q does not name the caller, benchhash.checksum", found.Title)
	}
	// The CPU plugins run on a CPU profile alone; the others say what
	// they lack and what would give it.
	cpu := map[string]bool{"hashing": true, "crypto": true, "serialization": true, "compression": true, "gc": true,
		"allocation": true, "regexp": true, "reflection": true, "fmt-logging": true}
	for _, st := range rep.Plugins {
		switch {
		case cpu[st.Name]:
			if st.Status != plugins.StatusOK {
				t.Errorf("%s: %s (%s)", st.Name, st.Status, st.Reason)
			}
		case st.Status != plugins.StatusNotApplicable || st.Reason == "" || st.Enable == "":
			t.Errorf("%s on a profile file: %s %q %q, want not_applicable with a reason and what to enable", st.Name, st.Status, st.Reason, st.Enable)
		}
	}
}
