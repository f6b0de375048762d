package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/plugins"
)

func readDiagnosis(t *testing.T, path string) plugins.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r plugins.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func byCategory(r plugins.Report, cat plugins.Category) *plugins.Finding {
	for i, f := range r.Findings {
		if f.Category == string(cat) {
			return &r.Findings[i]
		}
	}
	return nil
}

// demoCapture attaches to the demo service under load for 6 s and returns
// the capture directory and attach's stdout.
func demoCapture(t *testing.T) (dir, stdout string) {
	t.Helper()
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "demo"), "-load", "4", "-data-dir", t.TempDir())
	dir = filepath.Join(t.TempDir(), "demo")
	r := perfprobe(t, func(c *exec.Cmd) { c.Dir = t.TempDir() }, "attach", "-d", "6s", "-q", "-o", dir, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	return dir, r.stdout
}

// The demo service hashes, does a TLS handshake per request, fsyncs every
// write and has a contended lock: attach names all four, prints them
// first, writes report.md and report.json, lists them on the flamegraph
// page; diagnose on the written capture finds the same problems with the
// same ids, and its --fail-on, --format sarif and exit statuses work.
func TestDemoDiagnosis(t *testing.T) {
	dir, stdout := demoCapture(t)
	t.Logf("summary:\n%s", stdout)
	rep := readDiagnosis(t, filepath.Join(dir, "report.json"))
	for _, f := range rep.Findings {
		t.Logf("%s [%s %d] %s: %s", f.Category, f.Severity, f.Score, f.Title, f.Detail)
	}
	for _, st := range rep.Plugins {
		t.Logf("plugin %s: %s %s %s", st.Name, st.Status, st.Reason, st.Enable)
		if st.Status == plugins.StatusFailed {
			t.Errorf("plugin %s failed: %s", st.Name, st.Reason)
		}
	}
	for _, cat := range []plugins.Category{plugins.CatHashing, plugins.CatTLSHandshake, plugins.CatBlockedIO, plugins.CatLock} {
		if byCategory(rep, cat) == nil {
			t.Errorf("the demo's findings do not name %s", cat)
		}
	}
	if f := byCategory(rep, plugins.CatBlockedIO); f != nil && !strings.Contains(strings.ToLower(f.Title+f.Detail), "fsync") {
		t.Errorf("blocked-io finding does not name fsync: %s / %s", f.Title, f.Detail)
	}
	if f := byCategory(rep, plugins.CatTLSHandshake); f != nil && !strings.Contains(strings.ToLower(f.Title+f.Detail+f.Advice), "resum") {
		t.Errorf("tls-handshake finding does not say the sessions are not resumed: %s / %s / %s", f.Title, f.Detail, f.Advice)
	}
	// Findings come first in the summary, before the probes' sections.
	if i, j := strings.Index(stdout, "Findings:"), strings.Index(stdout, "On CPU:"); i < 0 || j < 0 || i > j {
		t.Errorf("findings are not printed first (at %d, On CPU at %d)", i, j)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(md), "# perfprobe diagnosis") {
		t.Errorf("report.md: %v", err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "flamegraph.html"))
	if f := byCategory(rep, plugins.CatHashing); f != nil && !strings.Contains(string(page), `"findings":[`) {
		t.Error("flamegraph.html lists no findings")
	}

	// diagnose on the written capture: the same findings, by id.
	out := t.TempDir()
	r := perfprobe(t, nil, "diagnose", "--format", "md,json,sarif", "-o", out, dir)
	if r.code != 0 {
		t.Fatalf("diagnose exited %d: %s", r.code, r.stderr)
	}
	again := readDiagnosis(t, filepath.Join(out, "report.json"))
	ids := func(r plugins.Report) []string {
		var s []string
		for _, f := range r.Findings {
			if f.Severity >= plugins.Warning {
				s = append(s, f.Category+"/"+f.ID)
			}
		}
		slices.Sort(s)
		return s
	}
	if a, b := ids(rep), ids(again); !slices.Equal(a, b) {
		t.Errorf("diagnose of the written capture found %v, attach found %v", b, a)
	}
	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID              string            `json:"ruleId"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.sarif"))
	if err := json.Unmarshal(b, &sarif); err != nil || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) != len(again.Findings) {
		t.Errorf("report.sarif: %v, %d results for %d findings", err, len(sarif.Runs[0].Results), len(again.Findings))
	}
	if r := perfprobe(t, nil, "diagnose", "-q", "--fail-on", "warning", dir); r.code != exitFound {
		t.Errorf("diagnose --fail-on warning exited %d, want %d (the demo has warnings): %s", r.code, exitFound, r.stderr)
	}
}

// diagnose refuses what it cannot read with exit status 2 and one line.
func TestDiagnoseBadInput(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.pb.gz")
	os.WriteFile(corrupt, []byte("\x1f\x8b\x08\x00garbage"), 0o644)
	prof := goTestProfile(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{corrupt}, "corrupt.pb.gz"},
		{[]string{filepath.Join(dir, "nope")}, "no such file"},
		{[]string{dir}, "directory without profile.pb.gz"},
		{[]string{"--fail-on", "sometimes", prof}, "--fail-on"},
		{[]string{"--format", "pdf", prof}, "--format"},
		{[]string{"--bottlenecks", filepath.Join(dir, "missing.yaml"), prof}, "missing.yaml"},
	} {
		r := perfprobe(t, nil, append([]string{"diagnose"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitUnusable || len(lines) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("diagnose %v: exit %d, stderr %q; want %d and one line with %q", c.args, r.code, r.stderr, exitUnusable, c.want)
		}
	}
	// A good profile with nothing at --fail-on: exit 0, files in --out.
	out := filepath.Join(dir, "out")
	r := perfprobe(t, nil, "diagnose", "--fail-on", "critical", "-o", out, prof)
	if r.code != 0 {
		t.Errorf("diagnose of a clean profile exited %d: %s", r.code, r.stderr)
	}
	for _, f := range []string{"report.md", "report.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

//go:noinline
func hashForProfile(d time.Duration) {
	buf := make([]byte, 32<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
		s := sha256.Sum256(buf)
		buf[0] ^= s[0]
	}
}

// hashingProfile writes a Go CPU profile whose CPU is nearly all hashing.
func hashingProfile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hash.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	hashForProfile(1500 * time.Millisecond)
	pprof.StopCPUProfile()
	f.Close()
	return path
}

// The same profile against the hot spot listed as acceptable, must-fix,
// acceptable over its budget and acceptable but expired: status, severity
// and diagnose --fail-on must-fix's exit status change as documented
// (docs/bottlenecks.md), the same whether the list is perfprobe.yaml in the
// working directory, a PERFORMANCE.md fenced block or --bottlenecks; an
// SLO breach is reported with its value.
func TestDiagnoseBottleneckStatuses(t *testing.T) {
	prof := hashingProfile(t)
	entry := func(extra string) string {
		return "bottlenecks:\n  - name: upload-hashing\n    category: hashing\n    owner: storage-team\n" + extra
	}
	for _, c := range []struct {
		name, yaml, status string
		severe             bool // warning or critical
		exit               int
	}{
		{"acceptable", entry("    status: acceptable\n    budget: 100%\n"), plugins.StatusAcceptable, false, 0},
		{"must-fix", entry("    status: must-fix\n"), plugins.StatusMustFix, true, exitFound},
		{"over-budget", entry("    status: acceptable\n    budget: 30%\n"), plugins.StatusOverBudget, true, exitFound},
		{"expired", entry("    status: acceptable\n    budget: 100%\n    expires: 2020-01-01\n"), plugins.StatusExpired, true, exitFound},
	} {
		for _, where := range []string{"perfprobe.yaml", "PERFORMANCE.md", "--bottlenecks"} {
			t.Run(c.name+"/"+where, func(t *testing.T) {
				dir, out := t.TempDir(), t.TempDir()
				args := []string{"diagnose", "--fail-on", "must-fix", "-o", out, prof}
				switch where {
				case "perfprobe.yaml":
					os.WriteFile(filepath.Join(dir, "perfprobe.yaml"), []byte(c.yaml), 0o644)
				case "PERFORMANCE.md":
					md := "# Performance\n\n## 4. Bottlenecks\n\nSha256 of uploads is known.\n\n```perfprobe\n" + c.yaml + "```\n\n```sh\nmake bench\n```\n"
					os.WriteFile(filepath.Join(dir, "PERFORMANCE.md"), []byte(md), 0o644)
				case "--bottlenecks":
					list := filepath.Join(t.TempDir(), "list.yml")
					os.WriteFile(list, []byte(c.yaml), 0o644)
					args = append(args[:1], append([]string{"--bottlenecks", list}, args[1:]...)...)
				}
				r := perfprobe(t, func(cmd *exec.Cmd) { cmd.Dir = dir }, args...)
				if r.code != c.exit {
					t.Errorf("exit %d, want %d: %s", r.code, c.exit, r.stderr)
				}
				rep := readDiagnosis(t, filepath.Join(out, "report.json"))
				f := byCategory(rep, plugins.CatHashing)
				if f == nil {
					t.Fatalf("no hashing finding:\n%s", r.stdout)
				}
				if f.Status != c.status || f.Bottleneck != "upload-hashing" || (f.Severity >= plugins.Warning) != c.severe {
					t.Errorf("status %s (%s), severity %s; want %s, severe=%v", f.Status, f.Bottleneck, f.Severity, c.status, c.severe)
				}
				if rep.Bottlenecks == "" {
					t.Error("report.json does not say where the list came from")
				}
			})
		}
	}
	// An SLO on the hashing share, broken: reported with its value.
	list := filepath.Join(t.TempDir(), "perfprobe.yaml")
	os.WriteFile(list, []byte("slos:\n  - name: hashing-share\n    metric: share(hashing, go_cpu)\n    max: 25%\n"), 0o644)
	out := t.TempDir()
	r := perfprobe(t, nil, "diagnose", "--bottlenecks", list, "--fail-on", "slo", "-o", out, prof)
	if r.code != exitFound {
		t.Errorf("--fail-on slo exited %d, want %d: %s", r.code, exitFound, r.stderr)
	}
	rep := readDiagnosis(t, filepath.Join(out, "report.json"))
	if len(rep.SLOs) != 1 || rep.SLOs[0].OK || rep.SLOs[0].Value < 80 || rep.SLOs[0].Limit != 25 {
		t.Errorf("SLOs %+v: want hashing-share broken at >= 80%% against 25%%", rep.SLOs)
	}
	if slo := byCategory(rep, plugins.CatSLO); slo == nil || len(slo.Explains) == 0 {
		t.Errorf("no SLO finding explained by the hashing finding: %+v", slo)
	}
	if !strings.Contains(r.stdout, "hashing-share") {
		t.Errorf("the terminal text does not show the SLO:\n%s", r.stdout)
	}
}

// External plugins that hang, crash, print 10 MB or are world-writable are
// each reported as failed with the reason; a good one's finding is in the
// report, and the report is written.
func TestDiagnoseExternalPlugins(t *testing.T) {
	bin := t.TempDir()
	os.Chmod(bin, 0o755)
	os.Chmod(filepath.Dir(bin), 0o755) // as root the plugins run as nobody, who must reach them
	plugin := func(name, body string, mode os.FileMode) {
		path := filepath.Join(bin, "perfprobe-plugin-"+name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
	}
	plugin("good", `cat >/dev/null; echo '{"findings":[{"title":"from outside","severity":"warning","category":"custom","detail":"it works"}]}'`, 0o755)
	plugin("hangs", "sleep 60", 0o755)
	plugin("crashes", "echo 'segfault, sort of' >&2; exit 3", 0o755)
	plugin("floods", "head -c 10000000 /dev/zero | tr '\\0' x", 0o755)
	plugin("writable", `echo '{"findings":[]}'`, 0o777)
	prof := goTestProfile(t)
	out := t.TempDir()
	r := perfprobe(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH")) },
		"diagnose", "--plugin-timeout", "2s", "-o", out, prof)
	if r.code != 0 {
		t.Fatalf("diagnose exited %d: %s", r.code, r.stderr)
	}
	if r.took > 15*time.Second {
		t.Errorf("diagnose took %v with a 2 s plugin timeout", r.took)
	}
	rep := readDiagnosis(t, filepath.Join(out, "report.json"))
	want := map[string]string{"good": "ok", "hangs": "timed out", "crashes": "exited 3", "floods": "more than 1 MiB"}
	if os.Geteuid() == 0 {
		want["writable"] = "writable"
	}
	for _, st := range rep.Plugins {
		if !st.External {
			continue
		}
		w, ok := want[st.Name]
		if !ok {
			continue
		}
		delete(want, st.Name)
		if w == "ok" {
			if st.Status != plugins.StatusOK || st.Findings != 1 {
				t.Errorf("plugin good: %+v", st)
			}
			continue
		}
		if st.Status != plugins.StatusFailed || !strings.Contains(st.Reason, w) {
			t.Errorf("plugin %s: %s %q, want failed with %q", st.Name, st.Status, st.Reason, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("plugins not reported: %v", want)
	}
	if byCategory(rep, plugins.CatCustom) == nil {
		t.Error("the good plugin's finding is not in the report")
	}
}
