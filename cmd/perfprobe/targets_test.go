package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile"
)

// readProfile parses a capture's profile.pb.gz.
func readProfile(t *testing.T, dir string) *pprof.Profile {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "profile.pb.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := pprof.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// onCPUByPID sums on-CPU time per pid label, and per pid the part whose
// stack holds fn.
func onCPUByPID(t *testing.T, p *pprof.Profile, fn string) (total int64, byPID, fnByPID map[int]int64) {
	t.Helper()
	i := profile.ValueIndex(p, profile.TypeOnCPU)
	byPID, fnByPID = map[int]int64{}, map[int]int64{}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		if len(s.NumLabel["pid"]) != 1 || len(s.Label["comm"]) != 1 {
			t.Fatalf("an on-CPU sample without pid and comm labels: %v %v", s.NumLabel, s.Label)
		}
		pid := int(s.NumLabel["pid"][0])
		total += v
		byPID[pid] += v
		if fn != "" && slices.Contains(profile.Frames(s), fn) {
			fnByPID[pid] += v
		}
	}
	return total, byPID, fnByPID
}

type targetsReport struct {
	Targets []struct {
		PID    int    `json:"pid"`
		Comm   string `json:"comm"`
		Parent int    `json:"parent"`
	} `json:"targets"`
}

func readTargets(t *testing.T, dir string) []int {
	t.Helper()
	var r targetsReport
	b, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, tg := range r.Targets {
		pids = append(pids, tg.PID)
	}
	return pids
}

// run -- sh -c 'A & B; wait': both children are followed from their
// first instruction and each spinning function is in the profile under
// its own process.
func TestRunFollowsChildren(t *testing.T) {
	bpftest.Require(t)
	cspin := testtarget.Build(t, "cspin")
	dir := filepath.Join(t.TempDir(), "cap")
	script := fmt.Sprintf("%s -duration 3 -func alpha & %s -duration 3 -func beta; wait", cspin, cspin)
	r := perfprobe(t, nil, "run", "-q", "--probes", "cpu,sched", "-o", dir, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	p := readProfile(t, dir)
	total, _, alpha := onCPUByPID(t, p, "spin_alpha")
	_, _, beta := onCPUByPID(t, p, "spin_beta")
	shell := readReport(t, dir).Target.PID
	check := func(name string, by map[int]int64) int {
		var sum int64
		for _, v := range by {
			sum += v
		}
		if len(by) != 1 {
			t.Errorf("%s is in the stacks of pids %v, want exactly one process", name, by)
		}
		if share := float64(sum) / float64(total); share < 0.40 {
			t.Errorf("%s holds %.1f%% of on-CPU time, want >= 40%% (each child spins one CPU for 3 s)", name, 100*share)
		}
		for pid := range by {
			if pid == shell {
				t.Errorf("%s is labelled with the shell's pid %d", name, pid)
			}
			return pid
		}
		return 0
	}
	a, b := check("spin_alpha", alpha), check("spin_beta", beta)
	if a == b {
		t.Errorf("spin_alpha and spin_beta both under pid %d", a)
	}
	targets := readTargets(t, dir)
	for _, pid := range []int{shell, a, b} {
		if !slices.Contains(targets, pid) {
			t.Errorf("pid %d not in capture.json targets %v", pid, targets)
		}
	}
	if !strings.Contains(r.stderr, "Processes:") {
		t.Errorf("summary has no table of processes:\n%s", r.stderr)
	}
	// --no-children profiles the shell alone.
	dir2 := filepath.Join(t.TempDir(), "cap2")
	r = perfprobe(t, nil, "run", "-q", "--no-children", "--probes", "cpu", "-o", dir2, "--", "sh", "-c", fmt.Sprintf("%s -duration 1 -func alpha; true", cspin))
	if r.code != 0 {
		t.Fatalf("run --no-children exited %d: %s", r.code, r.stderr)
	}
	if _, _, alpha := onCPUByPID(t, readProfile(t, dir2), "spin_alpha"); len(alpha) != 0 {
		t.Errorf("--no-children profiled the child: %v", alpha)
	}
	assertNoProgramsLeft(t)
}

// run -- go test -bench: the benchmark runs in the test binary go test
// starts, and that is where the profile's time is.
func TestRunGoTestBench(t *testing.T) {
	bpftest.Require(t)
	gobin := goTool()
	if _, err := os.Stat(gobin); err != nil {
		t.Skip("no Go toolchain here (the kernel matrix's VMs): nothing to run go test with")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"test", "-run", "XXX", "-bench", ".", "-benchtime", "2s", "-count", "1", "./testdata/benchpkg"}
	warm := exec.Command(gobin, "test", "-run", "XXX", "-bench", ".", "-benchtime", "1x", "./testdata/benchpkg")
	warm.Dir = root
	if out, err := warm.CombinedOutput(); err != nil { // the build cache is warm from here on
		t.Fatalf("go test of testdata/benchpkg: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, func(c *exec.Cmd) { c.Dir = root }, append([]string{"run", "-q", "--probes", "cpu", "-o", dir, "--", gobin}, args...)...)
	if r.code != 0 {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	total, byPID, mix := onCPUByPID(t, readProfile(t, dir), "github.com/perfprobe/perfprobe/testdata/benchpkg.mixBlock")
	var in int64
	for _, v := range mix {
		in += v
	}
	if share := float64(in) / float64(total); share < 0.60 {
		t.Errorf("benchpkg.mixBlock holds %.1f%% of on-CPU time, want >= 60%% (by pid: %v)", 100*share, byPID)
	}
}

// cpuOf is the CPU time a process used in all, once it has exited.
func cpuOf(t *testing.T, p *testtarget.Proc) time.Duration {
	t.Helper()
	if err := p.Wait(nil); err != nil {
		t.Fatal(err)
	}
	ru := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// attach --comm on four processes of one program, two started after
// attach: all four are captured, each with its share of the CPU.
func TestAttachComm(t *testing.T) {
	bpftest.Require(t)
	name := fmt.Sprintf("ppcomm%d", os.Getpid()%100000)
	src := testtarget.Build(t, "cspin")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	early := []*testtarget.Proc{testtarget.Start(t, bin, "-duration", "3"), testtarget.Start(t, bin, "-duration", "3")}
	dir := filepath.Join(t.TempDir(), "cap")
	cmd := exec.Command(perfprobeBin, "attach", "-q", "--probes", "cpu", "-d", "4s", "-o", dir, "--comm", "^"+name+"$")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var late []*testtarget.Proc
	before := map[int]time.Duration{}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "attached to") && late == nil {
			for _, p := range early { // what they used before the window
				before[p.PID], _ = p.CPUTime()
			}
			late = []*testtarget.Proc{testtarget.Start(t, bin, "-duration", "2"), testtarget.Start(t, bin, "-duration", "2")}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("attach --comm: %v\n%s", err, stderr.String())
	}
	if late == nil {
		t.Fatalf("perfprobe never said it attached:\n%s", stderr.String())
	}
	used := map[int]time.Duration{}
	var sum time.Duration
	for _, p := range append(early, late...) {
		used[p.PID] = cpuOf(t, p) - before[p.PID]
		sum += used[p.PID]
	}
	total, byPID, _ := onCPUByPID(t, readProfile(t, dir), "")
	targets := readTargets(t, dir)
	for pid, cpu := range used {
		want := float64(cpu) / float64(sum)
		got := float64(byPID[pid]) / float64(total)
		if !slices.Contains(targets, pid) {
			t.Errorf("pid %d not in capture.json targets %v", pid, targets)
		}
		if math.Abs(got-want) > 0.10 {
			t.Errorf("pid %d: %.1f%% of the profile's on-CPU time, but %.1f%% of the CPU the four used in the window (getrusage)", pid, 100*got, 100*want)
		}
		t.Logf("pid %d: profile %.1f%%, getrusage %.1f%% (%s)", pid, 100*got, 100*want, cpu)
	}
	if len(byPID) != 4 {
		t.Errorf("on-CPU samples of %d processes (%v), want the 4", len(byPID), byPID)
	}
}

// attach --cgroup: the processes in a cgroup are captured, a decoy
// outside it is not.
func TestAttachCgroup(t *testing.T) {
	bpftest.Require(t)
	cg := newCgroup(t)
	bin := testtarget.Build(t, "cspin")
	in := testtarget.Start(t, bin, "-duration", "600", "-func", "alpha") // killed at the end; attaching takes ~25 s under emulation
	decoy := testtarget.Start(t, bin, "-duration", "600", "-func", "beta")
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(fmt.Sprint(in.PID)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Cmd.Process.Kill(); _ = in.Wait(nil); _ = os.Remove(cg) })
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, nil, "attach", "-q", "--probes", "cpu", "-d", "1500ms", "-o", dir, "--cgroup", cg)
	if r.code != 0 {
		t.Fatalf("attach --cgroup exited %d: %s", r.code, r.stderr)
	}
	total, byPID, alpha := onCPUByPID(t, readProfile(t, dir), "spin_alpha")
	if byPID[decoy.PID] != 0 {
		t.Errorf("the decoy outside the cgroup (pid %d) was sampled: %v", decoy.PID, byPID)
	}
	if share := float64(alpha[in.PID]) / float64(max(total, 1)); share < 0.9 {
		t.Errorf("spin_alpha of pid %d in the cgroup holds %.1f%% of on-CPU time, want >= 90%%", in.PID, 100*share)
	}
	if targets := readTargets(t, dir); !slices.Equal(targets, []int{in.PID}) {
		t.Errorf("targets %v, want [%d]", targets, in.PID)
	}
}

// newCgroup makes a cgroup for the test (v2 if mounted, else the v1 pids
// hierarchy), removed at the end.
func newCgroup(t *testing.T) string {
	t.Helper()
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids"} {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		dir := filepath.Join(root, fmt.Sprintf("perfprobe-test-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err == nil {
			return dir
		}
	}
	t.Fatal("no cgroup hierarchy to create a cgroup in under /sys/fs/cgroup")
	return ""
}
