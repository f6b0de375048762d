package testtarget

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// LimitCPU moves process pid into a new cgroup whose CPU quota is cpus
// CPUs (quota cpus*100 ms per 100 ms period) and returns the cgroup's
// directory. The cgroup is made where this machine mounts the cpu
// controller: in the v1 cpu hierarchy (with the same directory in cpuacct,
// so that its usage is read too) on hybrid hosts, else in the v2 tree with
// the cpu controller enabled in the root. At the end of the test the
// process is moved back to the hierarchy's root and the cgroup removed.
// It skips the test when not root.
func LimitCPU(t testing.TB, pid int, cpus float64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("limiting a process's CPU with a cgroup needs root")
	}
	name := fmt.Sprintf("perfprobe-test-%d-%d", os.Getpid(), pid)
	quota := strconv.Itoa(int(cpus * 100_000))
	procs := []byte(strconv.Itoa(pid))
	var dirs []string // every directory made, the quota's first
	cleanup := func() {
		for _, d := range dirs {
			// A process leaves a cgroup by moving (or dying).
			_ = os.WriteFile(filepath.Join(filepath.Dir(d), "cgroup.procs"), procs, 0o644)
			_ = os.Remove(d)
		}
	}
	t.Cleanup(cleanup)
	mk := func(root string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("testtarget: making cgroup %s: %v", d, err)
		}
		dirs = append(dirs, d)
		return d
	}
	write := func(file, v string) {
		if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
			t.Fatalf("testtarget: writing %q to %s: %v", v, file, err)
		}
	}
	const v1 = "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(v1, "cpu.cfs_quota_us")); err == nil {
		d := mk(v1)
		write(filepath.Join(d, "cpu.cfs_period_us"), "100000")
		write(filepath.Join(d, "cpu.cfs_quota_us"), quota)
		write(filepath.Join(d, "cgroup.procs"), string(procs))
		const acct = "/sys/fs/cgroup/cpuacct"
		if real, err := filepath.EvalSymlinks(acct); err == nil {
			if realCPU, _ := filepath.EvalSymlinks(v1); real != realCPU {
				write(filepath.Join(mk(acct), "cgroup.procs"), string(procs))
			}
		}
		return d
	}
	root := "/sys/fs/cgroup"
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil || !slices.Contains(strings.Fields(string(b)), "cpu") {
		t.Skipf("no cgroup cpu controller to limit a process with (v1 %s or v2 %s)", v1, root)
	}
	write(filepath.Join(root, "cgroup.subtree_control"), "+cpu")
	d := mk(root)
	write(filepath.Join(d, "cpu.max"), quota+" 100000")
	write(filepath.Join(d, "cgroup.procs"), string(procs))
	return d
}
