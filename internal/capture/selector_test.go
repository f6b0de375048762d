package capture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// sleeper starts a copy of sleep named name, killed at the end of the test.
func sleeper(t *testing.T, bin string) *exec.Cmd {
	t.Helper()
	c := exec.Command(bin, "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

func copySleep(t *testing.T, name string) string {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestSelectorComm(t *testing.T) {
	name := fmt.Sprintf("ppsel%d", os.Getpid()%100000)
	bin := copySleep(t, name)
	a, b := sleeper(t, bin), sleeper(t, bin)
	decoy := sleeper(t, "sleep")
	got, err := Selector{Comm: regexp.MustCompile("^" + name + "$")}.Match()
	if err != nil {
		t.Fatal(err)
	}
	want := []int{a.Process.Pid, b.Process.Pid}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("comm %s matched %v, want %v (decoy %d)", name, got, want, decoy.Process.Pid)
	}
	// The pids given are matched when they exist; perfprobe itself never.
	got, _ = Selector{PIDs: []int{decoy.Process.Pid, os.Getpid(), 1 << 30}}.Match()
	if !slices.Equal(got, []int{decoy.Process.Pid}) {
		t.Errorf("pids matched %v, want [%d]", got, decoy.Process.Pid)
	}
}

// writableCgroup returns a new cgroup directory (removed at the end) in
// the cgroup v2 hierarchy, or in the v1 pids hierarchy when there is none.
func writableCgroup(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a cgroup needs root")
	}
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids"} {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		dir := filepath.Join(root, fmt.Sprintf("perfprobe-test-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		t.Cleanup(func() { _ = os.Remove(dir) })
		return dir
	}
	t.Fatal("no writable cgroup hierarchy under /sys/fs/cgroup")
	return ""
}

func TestSelectorCgroup(t *testing.T) {
	dir := writableCgroup(t)
	sub := filepath.Join(dir, "child")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	in, below := sleeper(t, "sleep"), sleeper(t, "sleep")
	decoy := sleeper(t, "sleep")
	for d, p := range map[string]*exec.Cmd{dir: in, sub: below} {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(p.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// processes leave a cgroup only by moving: killed ones leave by dying
		_ = in.Process.Kill()
		_ = below.Process.Kill()
		_, _ = in.Process.Wait()
		_, _ = below.Process.Wait()
		_ = os.Remove(sub)
	})
	s := Selector{Cgroup: dir}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Match()
	if err != nil {
		t.Fatal(err)
	}
	want := []int{in.Process.Pid, below.Process.Pid}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("cgroup %s matched %v, want %v (decoy %d outside)", dir, got, want, decoy.Process.Pid)
	}
	if err := (Selector{Cgroup: t.TempDir()}).Validate(); err == nil {
		t.Error("a plain directory validated as a cgroup")
	}
}

func TestParsePIDs(t *testing.T) {
	got, err := ParsePIDs("12, 7,12")
	if err != nil || !slices.Equal(got, []int{12, 7}) {
		t.Errorf("ParsePIDs = %v, %v; want [12 7]", got, err)
	}
	for _, bad := range []string{"", "x", "3,-1", "0"} {
		if _, err := ParsePIDs(bad); err == nil {
			t.Errorf("ParsePIDs(%q) accepted", bad)
		}
	}
}
