package capture_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile"
)

// TestContainerTarget: a Go spinner runs in its own pid and mount
// namespace (unshare --pid --mount --fork) from a binary that exists only
// there: a tmpfs mounted inside the namespace over an empty directory of
// the host holds the copy it runs. Attached from the host for 2 s, its
// on-CPU samples are symbolized from its own root: main.spinHot holds
// >= 80% of them (it spins all the time), no frame of the main binary is
// left as [unknown] or an address, and the samples carry the host pid,
// the pid in its namespace (1: the namespace's init) and its cgroup. The
// host's mount table is left as it was.
func TestContainerTarget(t *testing.T) {
	bpftest.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("unshare (util-linux) is missing: %v", err)
		}
		t.Skipf("unshare (util-linux) is missing: %v", err)
	}
	mounts := func() string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := mounts()
	bin := testtarget.Build(t, "spinner")
	dir := t.TempDir()
	inside := filepath.Join(dir, "ns") // empty on the host, a tmpfs with the binary inside
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `set -e; mount -t tmpfs -o size=64m perfprobe-test "$1"; cp "$2" "$1/spinner-ns"; exec "$1/spinner-ns" -threads 1`
	// --kill-child: the namespace's init (and so everything in it) dies
	// with unshare.
	cmd := exec.Command("unshare", "--pid", "--mount", "--fork", "--kill-child", "--propagation", "private", "--", "sh", "-c", script, "sh", inside, bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr")) // a file: Wait never waits for a copy
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hostPID := 0
	stop := func() {
		if hostPID > 0 {
			syscall.Kill(hostPID, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	defer stop()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(testtarget.ReadyTimeout):
	}
	if line == "" {
		b, _ := os.ReadFile(stderr.Name())
		t.Fatalf("the spinner in its namespaces printed no ready line: %s", b)
	}
	var nsPID int
	fmt.Sscanf(line, "ready pid=%d", &nsPID)
	hostPID = childOf(t, cmd.Process.Pid)
	if _, err := os.Stat(filepath.Join(inside, "spinner-ns")); err == nil {
		t.Fatalf("the binary is visible on the host: the tmpfs is not private")
	}
	t.Logf("host pid %d, ns pid %d (%s)", hostPID, nsPID, line)

	o := capture.DefaultOptions()
	o.Duration = 2 * time.Second
	o.Go.Skip = true
	o.Probes = []string{"cpu"}
	res := bpftest.Attach(t, hostPID, o)
	if res.Profile == nil {
		t.Fatal("the capture was not symbolized")
	}
	idx := -1
	for i, st := range res.Profile.SampleType {
		if st.Type == profile.TypeOnCPU {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("no oncpu samples")
	}
	var total, spin, unknown int64
	var bad []string
	for _, s := range res.Profile.Sample {
		v := s.Value[idx]
		if v == 0 {
			continue
		}
		total += v
		if got := s.NumLabel["pid"]; len(got) != 1 || got[0] != int64(hostPID) {
			t.Errorf("sample pid label %v, want the host pid %d", got, hostPID)
		}
		if got := s.NumLabel["ns_pid"]; len(got) != 1 || got[0] != int64(nsPID) {
			t.Errorf("sample ns_pid label %v, want %d", got, nsPID)
		}
		if m := res.Capture.Targets[0].Meta; m != nil && m.Container != "" && (len(s.Label["container"]) != 1 || s.Label["container"][0] != m.Container) {
			t.Errorf("sample container label %v, want %q", s.Label["container"], m.Container)
		}
		named := false
		for _, loc := range s.Location {
			if loc.Mapping != nil && !strings.HasSuffix(loc.Mapping.File, "spinner-ns") {
				continue
			}
			if len(loc.Line) == 0 || strings.HasPrefix(loc.Line[0].Function.Name, "[unknown]") || strings.Contains(loc.Line[0].Function.Name, "+0x") {
				unknown += v
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%#x", loc.Address))
				}
				continue
			}
			for _, ln := range loc.Line {
				if ln.Function.Name == "main.spinHot" {
					named = true
				}
			}
		}
		if named {
			spin += v
		}
	}
	if total == 0 {
		t.Fatal("no on-CPU time from the target")
	}
	share := float64(spin) / float64(total)
	t.Logf("main.spinHot: %.1f%% of %d ns on CPU; unsymbolized main-binary frames in %d ns; container %v",
		100*share, total, unknown, res.Capture.Targets[0].Meta)
	if share < 0.8 {
		t.Errorf("main.spinHot holds %.1f%% of on-CPU time, want >= 80%%", 100*share)
	}
	if unknown > 0 {
		t.Errorf("frames of the binary left unsymbolized (%d ns), e.g. %v", unknown, bad)
	}
	if m := res.Capture.Targets[0].Meta; m == nil || m.NSPID != nsPID {
		t.Errorf("capture.json meta %+v, want ns_pid %d", m, nsPID)
	}
	stop()
	if after := mounts(); after != before {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// childOf returns the only child of pid (unshare --fork's child, the
// namespace's init).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatalf("reading unshare's children: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("unshare has children %q, want one", f)
	}
	c, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
