package diagnosis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() {
	plugins.Register(plugins.CPUHotSpot{PluginName: "test-hashing", Category: plugins.CatHashing, What: "hashing", Advice: "Hash less. Or cache."})
}

//go:noinline
func checksumLoop(d time.Duration) {
	buf := make([]byte, 64<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
		s := sha256.Sum256(buf)
		buf[0] = s[0]
	}
}

// A Go CPU profile (what go test -cpuprofile writes) of a loop that hashes:
// Load names its cpu type go_cpu, and a plugin finds the hashing in it.
func TestLoadGoCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	checksumLoop(1500 * time.Millisecond)
	pprof.StopCPUProfile()
	f.Close()

	ev, err := Load([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if ev.CPUType() != profile.TypeGoCPU || ev.Capture != nil {
		t.Fatalf("cpu type %q, capture %v: want go_cpu from a bare Go profile", ev.CPUType(), ev.Capture)
	}
	if !strings.Contains(ev.Source, "cpu→go_cpu") {
		t.Errorf("source %q does not say what was renamed", ev.Source)
	}
	rep, err := Run(context.Background(), ev, Options{NoBottlenecks: true, NoExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	var got *plugins.Finding
	for i, f := range rep.Findings {
		if f.Plugin == "test-hashing" {
			got = &rep.Findings[i]
		}
	}
	if got == nil {
		t.Fatalf("no hashing finding in %+v", rep.Findings)
	}
	t.Logf("%s: %s", got.Title, got.Detail)
	// The loop is all hashing but for the loop itself and the clock.
	if got.Share < 0.8 || got.Severity != plugins.Critical {
		t.Errorf("hashing share %.2f severity %s, want >= 0.8 and critical", got.Share, got.Severity)
	}
	if len(got.Key) == 0 || got.Key[0] != "github.com/perfprobe/perfprobe/internal/diagnosis.checksumLoop" {
		t.Errorf("key %v, want the loop that calls sha256", got.Key)
	}
	// SARIF places it at the loop's source line.
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, rep, Locator(ev), "test"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	for _, r := range log.Runs[0].Results {
		if r.RuleID != "test-hashing/hashing" {
			continue
		}
		if len(r.Locations) == 0 || r.Locations[0].PhysicalLocation == nil || !strings.HasSuffix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "internal/diagnosis/diagnosis_test.go") {
			t.Errorf("locations %+v, want this file", r.Locations)
		}
		if r.PartialFingerprints["perfprobe/v1"] != got.ID || r.Level != "error" {
			t.Errorf("fingerprint %v level %s", r.PartialFingerprints, r.Level)
		}
	}
}

// Load refuses what is not a profile with a clear error.
func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.pb.gz")
	os.WriteFile(bad, []byte("\x1f\x8b garbage"), 0o644)
	for _, c := range []struct {
		paths []string
		want  string
	}{
		{nil, "nothing to diagnose"},
		{[]string{filepath.Join(dir, "missing")}, "no such file"},
		{[]string{bad}, "x.pb.gz"},
		{[]string{dir}, "directory without profile.pb.gz"},
	} {
		_, err := Load(c.paths)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%v) = %v, want an error with %q", c.paths, err, c.want)
		}
	}
}

func findings() *plugins.Report {
	rep := &plugins.Report{Schema: 1, Source: "test", Findings: []plugins.Finding{
		{Title: "hashing", Score: 85, Detail: "lots", Advice: "Cache it. Really.", Key: []string{"main.sum"}, Stacks: [][]string{{"sha256.block", "main.sum", "main.main"}}, Query: "go tool pprof -sample_index=oncpu -top profile.pb.gz"},
		{Title: "json", Score: 60, Status: plugins.StatusAcceptable, Bottleneck: "api-json"},
		{Title: "gc", Score: 30},
	}}
	for i := range rep.Findings {
		plugins.Finish(&rep.Findings[i], "t")
	}
	return rep
}

// --fail-on: each level counts what it says.
func TestFailed(t *testing.T) {
	rep := findings()
	for level, want := range map[string]bool{"warning": true, "critical": true, "must-fix": false, "slo": false} {
		if got, err := Failed(rep, level); err != nil || got != want {
			t.Errorf("Failed(%s) = %v, %v; want %v", level, got, err, want)
		}
	}
	rep.Findings[1].Status = plugins.StatusExpired
	rep.SLOs = []plugins.SLOResult{{Name: "p95", OK: false}}
	for _, level := range []string{"must-fix", "slo"} {
		if got, _ := Failed(rep, level); !got {
			t.Errorf("Failed(%s) = false with an expired finding and a broken SLO", level)
		}
	}
	rep.Findings = rep.Findings[2:]
	if got, _ := Failed(rep, "warning"); got {
		t.Error("an info finding fails --fail-on warning")
	}
	if _, err := Failed(rep, "bogus"); err == nil {
		t.Error("unknown level accepted")
	}
}

// The terminal text: findings first, each in at most 3 lines, info ones
// counted; report.md and SARIF carry every finding, an acceptable one as
// a suppression.
func TestWriters(t *testing.T) {
	rep := findings()
	var buf bytes.Buffer
	WriteText(&buf, rep, false)
	text := buf.String()
	if !strings.HasPrefix(text, "\nFindings:\n  [CRITICAL] hashing") || !strings.Contains(text, "(1 info finding in report.md)") {
		t.Errorf("text:\n%s", text)
	}
	if strings.Contains(text, "Really") {
		t.Errorf("advice not cut at its first sentence:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(strings.SplitN(text, "[WARNING]", 2)[0]), "\n")
	if len(lines) > 1+3 {
		t.Errorf("the first finding takes %d lines", len(lines)-1)
	}
	buf.Reset()
	if err := WriteMarkdown(&buf, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| CRITICAL | [hashing](#1-hashing) | new | 85 |", "## 2. json", "acceptable (api-json)", "```\nsha256.block\nmain.sum\nmain.main\n```"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := WriteSARIF(&buf, rep, nil, "v"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	rs := log.Runs[0].Results
	if log.Version != "2.1.0" || len(rs) != 3 || len(log.Runs[0].Tool.Driver.Rules) != 1 {
		t.Fatalf("sarif: version %s, %d results, %d rules", log.Version, len(rs), len(log.Runs[0].Tool.Driver.Rules))
	}
	if rs[0].Level != "error" || rs[1].Level != "warning" || rs[2].Level != "note" {
		t.Errorf("levels %s %s %s", rs[0].Level, rs[1].Level, rs[2].Level)
	}
	if len(rs[1].Suppressions) != 1 || rs[1].Suppressions[0].Status != "accepted" || len(rs[0].Suppressions) != 0 {
		t.Errorf("suppressions %+v %+v", rs[0].Suppressions, rs[1].Suppressions)
	}
	if rs[0].Locations[0].LogicalLocations[0].FullyQualifiedName != "main.sum" {
		t.Errorf("location %+v, want the key main.sum", rs[0].Locations)
	}
	ff := FlameFindings(rep)
	if ff[0].Type != "oncpu" || strings.Join(ff[0].Path, ";") != "main.main;main.sum;sha256.block" || ff[0].Focus != "main.sum" {
		t.Errorf("flame finding %+v", ff[0])
	}
}
