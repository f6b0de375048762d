package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/agent"
	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
	"github.com/perfprobe/perfprobe/profile/store"
)

// perfprobe agent as a user runs it: pushing with a password given on the
// command line (the worst place for it), storing, serving /metrics. The
// password appears nowhere in its logs, its metrics or the command lines
// of its children; SIGTERM writes the last window and exits 0; nothing
// stays attached.
func TestAgentCommand(t *testing.T) {
	bpftest.Require(t)
	const secret = "pw-7f3a91c0e5"
	srv := pyroscopetest.New(t)
	p := testtarget.Start(t, testtarget.Build(t, "spinner"))
	dir := filepath.Join(t.TempDir(), "store")
	cmd := exec.Command(perfprobeBin, "agent", "--pid", strconv.Itoa(p.PID), "--interval", "500ms", "--hz", "99", "--store", dir,
		"--pyroscope-url", srv.URL, "--pyroscope-user", "agent", "--pyroscope-password", secret, "--pyroscope-tenant", "t1",
		"--metrics-addr", "127.0.0.1:0", "--label", "env=ci")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stderr bytes.Buffer
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		re := regexp.MustCompile(`metrics http://([0-9.:]+)/metrics`)
		for sc.Scan() {
			mu.Lock()
			stderr.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var metricsAddr string
	select {
	case metricsAddr = <-addr:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the agent never said where its metrics are: %s", stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.Pushes() < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if srv.Pushes() < 3 {
		t.Fatalf("%d pushes in 30 s, want 3", srv.Pushes())
	}
	res, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	children := childCmdlines(t, cmd.Process.Pid)
	stopAt := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	<-done
	err = cmd.Wait()
	mu.Lock()
	log := stderr.String()
	mu.Unlock()
	if err != nil {
		t.Fatalf("agent after SIGTERM: %v: %s", err, log)
	}
	for what, text := range map[string]string{"its log": log, "/metrics": string(metrics), "its children's command lines": strings.Join(children, "\n")} {
		if strings.Contains(text, secret) {
			t.Errorf("the password is in %s", what)
		}
	}
	if !regexp.MustCompile(`(?m)^perfprobe_pyroscope_pushes_total\{result="ok"\} [1-9]`).Match(metrics) {
		t.Errorf("/metrics counts no successful push:\n%s", grepLines(string(metrics), "perfprobe_pyroscope"))
	}
	s, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := s.List(store.Query{From: time.Unix(0, 0), To: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) < 3 {
		t.Fatalf("%d windows stored, want at least 3", len(ws))
	}
	// A window with no sample of a target is not stored: at 99 Hz the
	// spinner has ~5 samples in the 50 ms this allows, so an unwritten
	// window in progress shows, and a short empty one cannot.
	if last := ws[len(ws)-1]; last.End.Before(stopAt.Add(-50 * time.Millisecond)) {
		t.Errorf("the last window ends at %v, SIGTERM came at %v: the window in progress was not written", last.End, stopAt)
	}
	if !strings.Contains(log, "--pyroscope-password is visible") {
		t.Errorf("no warning about the password on the command line: %s", log)
	}
	assertNoProgramsLeft(t)
}

// childCmdlines are the command lines of pid's child processes.
func childCmdlines(t *testing.T, pid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out = append(out, string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

func grepLines(text, sub string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

func TestAgentBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("interval: 15s\nstorage:\n  dir: /tmp\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "no targets: give --pid, --comm, --cgroup or --all"},
		{[]string{"agent", "--all", "--comm", "x"}, "--all profiles every process"},
		{[]string{"agent", "--pid", "1", "--interval", "10ms"}, "interval 10ms: give at least 100ms"},
		{[]string{"agent", "--pid", "1", "--label", "bad-name=x"}, `label "bad-name"`},
		{[]string{"agent", "--pid", "1", "--label", "novalue"}, `--label "novalue": give name=value`},
		{[]string{"agent", "--pid", "1", "--no-store"}, "nothing to write to"},
		{[]string{"agent", "--pid", "1", "--pyroscope-url", "ftp://x"}, "pyroscope"},
		{[]string{"agent", "--pid", "1", "--config", filepath.Join(dir, "missing.yaml")}, "reading the config"},
		{[]string{"agent", "--pid", "1", "--config", badYAML}, "line 2"},
		{[]string{"agent", "--pid", "1", "--store-max-size", "lots"}, "size \"lots\""},
		{[]string{"agent", "--comm", "(", "--store", dir}, "comm"},
	} {
		r := perfprobe(t, nil, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("perfprobe %v: exit %d, stderr %q; want an error with %q", c.args, r.code, r.stderr, c.want)
		}
		if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 1 {
			t.Errorf("perfprobe %v: %d lines of error, want one: %s", c.args, n+1, r.stderr)
		}
	}
	if os.Geteuid() == 0 {
		r := perfprobe(t, nil, "agent", "--pid", "999999999", "--store", dir, "--metrics-addr", "")
		if r.code == 0 || !strings.Contains(r.stderr, "999999999") {
			t.Errorf("agent --pid 999999999: exit %d, %q; want an error naming the pid", r.code, r.stderr)
		}
	}
}

// A config file sets everything; the flags given override it, the others
// leave it alone; secrets come from the environment when not set.
func TestAgentConfigAndFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte(`targets: {comm: '^api$'}
interval: 30s
hz: 49
labels: {env: prod}
store: {dir: /data/p, max_size: 2GiB}
pyroscope: {url: 'http://pyro:4040', basic_auth_user: u}
`), 0o600)
	var got agent.Config
	startAgent = func(c agent.Config, quiet bool) error { got = c; return nil }
	defer func() { startAgent = runAgent }()
	t.Setenv("PERFPROBE_PYROSCOPE_PASSWORD", "from-env")
	root := newRootCmd()
	root.SetArgs([]string{"agent", "--config", file, "--hz", "19", "--label", "team=a", "--store-max-size", "500MiB"})
	root.SetOut(io.Discard)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Targets.Comm != "^api$" || got.Interval != 30*time.Second || got.Store.Dir != "/data/p" || got.Pyroscope.URL != "http://pyro:4040" {
		t.Errorf("the file's settings were lost: %+v", got)
	}
	if got.Hz != 19 || got.Store.MaxBytes != 500<<20 || len(got.Labels) != 1 || got.Labels["team"] != "a" {
		t.Errorf("flags did not override the file: hz %d, max size %d, labels %v", got.Hz, got.Store.MaxBytes, got.Labels)
	}
	if got.Pyroscope.BasicAuthPassword != "from-env" {
		t.Errorf("the password from PERFPROBE_PYROSCOPE_PASSWORD was not taken")
	}
}
