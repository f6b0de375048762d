package external

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

// The example plugin, built from plugins/examples, end to end: its finding
// reaches the report finished (id, severity from its score) with its
// figures, and an evidence without CPU samples gets its "error" back as
// the failed status's reason.
func TestExamplePlugin(t *testing.T) {
	sudo(t, "", "")
	dir := pluginDir(t)
	bin := filepath.Join(dir, Prefix+"bigframe")
	build := exec.Command("go", "build", "-o", bin, "../examples/perfprobe-plugin-bigframe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, out)
	}

	ev := spinEvidence(t, dir)
	rep := emptyReport()
	start := time.Now()
	Run(context.Background(), ev, rep, Options{Listed: []string{bin}, NoPath: true})
	t.Logf("example plugin ran in %s", time.Since(start))

	st := status(t, rep, "bigframe")
	if st.Status != plugins.StatusOK || !st.External || st.Findings != 1 || st.Reason != "" {
		t.Fatalf("status %+v, want ok, external, 1 finding", st)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings %+v, want 1", rep.Findings)
	}
	f := rep.Findings[0]
	t.Logf("finding %s: %q score %d %s", f.ID, f.Title, f.Score, f.Severity)
	if f.Plugin != "bigframe" || f.Category != "big-frame" || f.Title != "main.spin alone takes 60% of the CPU time" {
		t.Errorf("finding %s/%s %q", f.Plugin, f.Category, f.Title)
	}
	// main.spin is the leaf of 600 ms of 1 s: 60%, score 60, a warning.
	if f.Score != 60 || f.Severity != plugins.Warning || math.Abs(f.Share-0.6) > 1e-9 || f.Status != plugins.StatusNew {
		t.Errorf("score %d severity %s share %g status %s, want 60 warning 0.6 new", f.Score, f.Severity, f.Share, f.Status)
	}
	if v, ok := f.Figure("flat_share"); !ok || math.Abs(v-60) > 1e-9 {
		t.Errorf("flat_share %g (%v), want 60", v, ok)
	}
	if v, ok := f.Figure("flat_ns"); !ok || v != 600e6 {
		t.Errorf("flat_ns %g (%v), want 6e8", v, ok)
	}
	if want := plugins.Fingerprint("bigframe", "big-frame", []string{"main.spin"}); f.ID != want {
		t.Errorf("id %s, want %s (from the plugin's key)", f.ID, want)
	}
	if f.Query != `go tool pprof -sample_index=oncpu -list='^main\.spin$' profile.pb.gz` {
		t.Errorf("query %q", f.Query)
	}

	empty := emptyReport()
	Run(context.Background(), &plugins.Evidence{Source: "nothing"}, empty, Options{Listed: []string{bin}, NoPath: true})
	st = status(t, empty, "bigframe")
	if st.Status != plugins.StatusFailed || st.Reason != "no CPU samples in the evidence: capture with --probes cpu" || len(empty.Findings) != 0 {
		t.Errorf("empty evidence: %+v, findings %d", st, len(empty.Findings))
	}
}

// Every way a plugin can fail is its status "failed" with a one-line
// reason, and Run returns within the timeout (plus the kill).
func TestFailures(t *testing.T) {
	sudo(t, "", "")
	dir := pluginDir(t)
	for _, c := range []struct {
		name, body string
		timeout    time.Duration
		reason     string
		maxSeconds float64 // for the hangs: the timeout and the kill (0: no bound)
	}{
		{"hangs", "sleep 60", time.Second, "timed out after 1s", 2},
		{"hangs-after-stderr", "echo 'loading the model' >&2\nsleep 60", time.Second, "timed out after 1s: loading the model", 2},
		{"crashes", "echo 'panic: index out of range' >&2\nexit 3", 0, "exited 3: panic: index out of range", 0},
		{"crashes-after-output", `echo '{"findings": []}'` + "\nexit 1", 0, "exited 1", 0},
		{"segfaults", "kill -SEGV $$", 0, "killed by signal 11 (segmentation fault)", 0},
		{"floods", "head -c 10000000 /dev/zero | tr '\\0' a", 0, "printed more than 1 MiB", 0},
		{"garbage", "echo hello world", 0, `printed something that is not the protocol's JSON: the response: invalid character 'h' looking for beginning of value ("hello world")`, 0},
		{"two-objects", `echo '{"findings": []} {}'`, 0, `printed something that is not the protocol's JSON: more after the response object ("{}")`, 0},
		{"silent", "true", 0, "printed nothing: want the protocol's JSON response on stdout", 0},
		{"analysis-error", `printf '{"error": "no GC cycles\\nin this window"}'`, 0, "no GC cycles in this window", 0},
		{"untitled", `echo '{"findings": [{"title": "ok"}, {"detail": "x"}]}'`, 0, "printed something that is not the protocol's JSON: finding 2: no title", 0},
		{"bad-severity", `echo '{"findings": [{"title": "x", "severity": "urgent"}]}'`, 0, `printed something that is not the protocol's JSON: finding 1: unknown severity "urgent": use info, warning or critical`, 0},
		{"bad-score", `echo '{"findings": [{"title": "x", "score": 150}]}'`, 0, "printed something that is not the protocol's JSON: finding 1: score 150 is not in 0..100", 0},
		{"string-score", `echo '{"findings": [{"title": "x", "score": "high"}]}'`, 0, "printed something that is not the protocol's JSON: finding 1: score is a JSON string, want an integer", 0},
		{"too-many", `printf '{"findings": ['; i=0; while [ $i -lt 100 ]; do printf '{"title": "t"},'; i=$((i+1)); done; echo '{"title": "last"}]}'`, 0, "printed something that is not the protocol's JSON: 101 findings, at most 100", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := script(t, dir, c.name, c.body)
			rep := emptyReport()
			start := time.Now()
			Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{bin}, NoPath: true, Timeout: c.timeout})
			elapsed := time.Since(start)
			st := status(t, rep, c.name)
			t.Logf("%s after %s: %s", st.Status, elapsed.Round(time.Millisecond), st.Reason)
			if st.Status != plugins.StatusFailed || st.Reason != c.reason || !st.External || len(rep.Findings) != 0 {
				t.Errorf("status %s %q, %d findings; want failed %q", st.Status, st.Reason, len(rep.Findings), c.reason)
			}
			if c.maxSeconds > 0 && elapsed.Seconds() > c.maxSeconds {
				t.Errorf("took %s, want under %gs", elapsed, c.maxSeconds)
			}
			if c.timeout > 0 && elapsed < c.timeout {
				t.Errorf("took %s, under the timeout %s", elapsed, c.timeout)
			}
		})
	}
}

// The stdout cap stops reading at MaxOutput: no more is kept.
func TestOutputCap(t *testing.T) {
	sudo(t, "", "")
	bin := script(t, pluginDir(t), "floods", "head -c 10000000 /dev/zero | tr '\\0' a")
	const max = 64 << 10
	out, err := execute(context.Background(), bin, []byte("{}"), whoRuns(), 10*time.Second, max)
	if err == nil || err.Error() != "printed more than 64 KiB" || len(out) != max {
		t.Errorf("kept %d bytes, error %v; want %d and printed more than 64 KiB", len(out), err, max)
	}
}

// A failing plugin does not stop the others; findings keep the order of
// their severity whichever plugin gave them.
func TestOthersStillRun(t *testing.T) {
	sudo(t, "", "")
	dir := pluginDir(t)
	crash := script(t, dir, "crash", "exit 2")
	oops := script(t, dir, "oops", `echo '{"error": "cannot open the profile"}'`)
	good := script(t, dir, "good", `cat >/dev/null
cat <<'EOF'
{"findings": [
  {"title": "minor", "score": 30},
  {"title": "serious", "severity": "critical", "category": "hashing", "share": 0.25,
   "figures": [{"name": "calls", "value": 1200, "unit": "count"}], "stacks": [["main.f", "main.main"]], "extra": "ignored"}
]}
EOF`)
	rep := emptyReport()
	Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{crash, oops, good}, NoPath: true})
	var got []string
	for _, st := range rep.Plugins {
		got = append(got, st.Name+":"+st.Status+":"+strconv.Itoa(st.Findings))
	}
	if strings.Join(got, " ") != "crash:failed:0 oops:failed:0 good:ok:2" {
		t.Errorf("statuses %v", got)
	}
	if len(rep.Findings) != 2 || rep.Findings[0].Title != "serious" || rep.Findings[1].Title != "minor" {
		t.Fatalf("findings %+v", rep.Findings)
	}
	f := rep.Findings[0]
	if v, _ := f.Figure("calls"); v != 1200 || f.Category != "hashing" || f.Severity != plugins.Critical || f.Share != 0.25 || f.Stacks[0][0] != "main.f" {
		t.Errorf("finding %+v", f)
	}
	if m := rep.Findings[1]; m.Severity != plugins.Info || m.Category != "good" {
		t.Errorf("minor finding: %s / %s", m.Severity, m.Category)
	}
}

// Discovery: listed plugins first, then the PATH's; a name runs once (the
// first on the PATH wins), a file reached twice runs once, relative PATH
// entries and files without an execute bit are skipped, and a listed name
// that is nowhere is reported.
func TestDiscover(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	script(t, a, "one", "true")
	script(t, a, "two", "true")
	script(t, b, "one", "true") // shadowed by a's
	script(t, b, "three", "true")
	if err := os.WriteFile(filepath.Join(a, Prefix+"notexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script(t, a, "", "true") // "perfprobe-plugin-": no name
	if err := os.Symlink(filepath.Join(a, Prefix+"two"), filepath.Join(b, Prefix+"alias")); err != nil {
		t.Fatal(err)
	}
	path := strings.Join([]string{a, b, a + "/", ".", "", "relative/dir"}, ":")
	show := func(cs []candidate) string {
		var out []string
		for _, c := range cs {
			switch {
			case c.err != "":
				out = append(out, c.name+"!"+c.err)
			case filepath.Dir(c.path) == a:
				out = append(out, c.name+"=a")
			case filepath.Dir(c.path) == b:
				out = append(out, c.name+"=b")
			default:
				out = append(out, c.name+"="+c.path)
			}
		}
		return strings.Join(out, " ")
	}
	listed := []string{"three", Prefix + "missing", filepath.Join(a, Prefix+"two"), "three"}
	if got, want := show(discover(Options{Listed: listed, Path: path})), "three=b missing!not found on PATH two=a one=a"; got != want {
		t.Errorf("discover:\n got %s\nwant %s", got, want)
	}
	if got, want := show(discover(Options{Listed: listed, Path: path, NoPath: true})), "three=b missing!not found on PATH two=a"; got != want {
		t.Errorf("discover without PATH:\n got %s\nwant %s", got, want)
	}
	if got, want := show(discover(Options{Listed: []string{filepath.Join(a, Prefix+"notexec"), "/nonexistent/perfprobe-plugin-x"}, NoPath: true})), "notexec!"+filepath.Join(a, Prefix+"notexec")+" is not executable (mode 0644) x!no file /nonexistent/perfprobe-plugin-x"; got != want {
		t.Errorf("bad listed paths:\n got %s\nwant %s", got, want)
	}
	t.Setenv("PATH", b)
	if got, want := show(discover(Options{})), "alias=b one=b three=b"; got != want {
		t.Errorf("discover on $PATH:\n got %s\nwant %s", got, want)
	}

	rep := emptyReport()
	Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{"missing"}, NoPath: true})
	if st := status(t, rep, "missing"); st.Status != plugins.StatusFailed || st.Reason != "not found on PATH" || !st.External {
		t.Errorf("missing plugin: %+v", st)
	}
}

// A plugin gets a clean environment, the working directory /, and no
// descriptor but stdin, stdout and stderr, even one perfprobe inherited
// without close-on-exec.
func TestCleanEnvironment(t *testing.T) {
	sudo(t, "", "")
	t.Setenv("PERFPROBE_SECRET", "must-not-leak")
	dir := pluginDir(t)
	leak := filepath.Join(dir, "leaked-descriptor")
	if err := os.WriteFile(leak, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(leak, syscall.O_RDONLY, 0) // no O_CLOEXEC: as if inherited
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	// The shell lists its own descriptors through ls in a pipeline, so
	// that no command substitution of its own is open meanwhile.
	bin := script(t, dir, "env", `cat >/dev/null
printf '{"findings": [{"title": "fds '
ls -l /proc/$$/fd | awk 'NR > 1 {printf "%s=%s ", $9, $11}'
printf '"}, {"title": "env '
tr '\0' ' ' </proc/$$/environ
printf '"}, {"title": "cwd %s"}]}\n' "$(pwd)"`)
	rep := emptyReport()
	Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{bin}, NoPath: true})
	got := map[string]string{}
	for _, f := range rep.Findings {
		k, v, _ := strings.Cut(f.Title, " ")
		got[k] = v
	}
	if len(got) != 3 {
		t.Fatalf("status %+v, findings %+v", rep.Plugins, rep.Findings)
	}
	home := "/"
	if os.Geteuid() != 0 {
		home = os.Getenv("HOME")
	}
	env := strings.Fields(got["env"])
	sort.Strings(env)
	if want := "HOME=" + home + " LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin PERFPROBE_PROTOCOL=1"; strings.Join(env, " ") != want {
		t.Errorf("environment %q, want %q", env, want)
	}
	if got["cwd"] != "/" {
		t.Errorf("working directory %q, want /", got["cwd"])
	}
	t.Logf("descriptors: %s", got["fds"])
	for _, e := range strings.Fields(got["fds"]) {
		n, target, _ := strings.Cut(e, "=")
		switch {
		case n == "0" || n == "1" || n == "2":
			if !strings.HasPrefix(target, "pipe:") {
				t.Errorf("descriptor %s is %s, want a pipe", n, target)
			}
		case target == leak:
			t.Errorf("descriptor %s (%s) was inherited", n, target)
		case target != bin:
			t.Errorf("descriptor %s is %s: only the shell's script may be open", n, target)
		}
	}
}

// What a plugin starts and leaves running is killed with it.
func TestLeftoversKilled(t *testing.T) {
	sudo(t, "", "")
	bin := script(t, pluginDir(t), "forks", `sleep 60 </dev/null >/dev/null 2>&1 &
echo "{\"findings\": [{\"title\": \"$!\"}]}"`)
	rep := emptyReport()
	start := time.Now()
	Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{bin}, NoPath: true})
	if len(rep.Findings) != 1 {
		t.Fatalf("status %+v", rep.Plugins)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s: waited for the leftover", elapsed)
	}
	pid, err := strconv.Atoi(rep.Findings[0].Title)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// Gone, or a zombie its new parent has not reaped yet.
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the plugin's child %d still runs: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A canceled context stops the plugin at once, and the next ones do not
// start.
func TestCanceled(t *testing.T) {
	sudo(t, "", "")
	dir := pluginDir(t)
	slow, next := script(t, dir, "slow", "sleep 60"), script(t, dir, "next", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep := emptyReport()
	start := time.Now()
	Run(ctx, spinEvidence(t, ""), rep, Options{Listed: []string{slow, next}, NoPath: true})
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("took %s after the cancel at 200ms (the plugin sleeps 60 s)", elapsed)
	}
	if st := status(t, rep, "slow"); st.Reason != "canceled: context deadline exceeded" {
		t.Errorf("slow: %+v", st)
	}
	if st := status(t, rep, "next"); st.Reason != "not run: context deadline exceeded" {
		t.Errorf("next: %+v", st)
	}
}
