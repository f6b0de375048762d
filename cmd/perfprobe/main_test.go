package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
)

var perfprobeBin string

func TestMain(m *testing.M) {
	// A machine without Go (the kernel matrix's VMs) brings its own build.
	if bin := os.Getenv("PERFPROBE_BIN"); bin != "" {
		perfprobeBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "perfprobe-bin-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // the not-root case runs it as nobody
	perfprobeBin = filepath.Join(dir, "perfprobe")
	build := exec.Command("go", "build", "-o", perfprobeBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building perfprobe: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// perfprobe runs the built binary; setup may adjust the command.
func perfprobe(t *testing.T, setup func(*exec.Cmd), args ...string) result {
	t.Helper()
	cmd := exec.Command(perfprobeBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if setup != nil {
		setup(cmd)
	}
	began := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(began)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running perfprobe %v: %v", args, err)
	}
	return r
}

// report is the part of capture.json the tests read; the field names are
// the documented, stable schema.
type report struct {
	Target struct {
		PID int `json:"pid"`
	} `json:"target"`
	Probes []string `json:"probes"`
	Hz     int      `json:"hz"`
	Kernel struct {
		Release string            `json:"release"`
		Paths   map[string]string `json:"paths"`
	} `json:"kernel"`
	Warnings []string `json:"warnings"`
	Window   struct {
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		EndCause string    `json:"end_cause"`
	} `json:"window"`
	Histograms map[string]struct {
		Count   uint64 `json:"count"`
		P50     uint64 `json:"p50_ns"`
		P95     uint64 `json:"p95_ns"`
		P99     uint64 `json:"p99_ns"`
		Max     uint64 `json:"max_ns"`
		Buckets []struct {
			Low, High, Count uint64
		} `json:"buckets"`
	} `json:"histograms"`
	Counts  map[string]uint64 `json:"counts"`
	Drops   map[string]uint64 `json:"drops"`
	Threads []struct {
		TID     int    `json:"tid"`
		OnCPUNs uint64 `json:"oncpu_ns"`
	} `json:"threads"`
	SelfCost struct {
		BPFRunNs     uint64 `json:"bpf_run_ns"`
		PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	} `json:"self_cost"`
}

func readReport(t *testing.T, dir string) report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("capture.json: %v", err)
	}
	return r
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// pprofTop runs go tool pprof -top on a profile; ok is false on a machine
// without Go (the kernel matrix's VMs), where that check is left out.
func pprofTop(t *testing.T, path, sampleIndex string) (out string, ok bool) {
	t.Helper()
	if _, err := os.Stat(goTool()); err != nil && bpftest.Emulated() {
		return "", false
	}
	b, err := exec.Command(goTool(), "tool", "pprof", "-top", "-sample_index="+sampleIndex, path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -sample_index=%s: %v\n%s", sampleIndex, err, b)
	}
	return string(b), true
}

// ourPrograms lists loaded BPF programs that belong to perfprobe's probes.
func ourPrograms(t *testing.T) []string {
	t.Helper()
	ours := map[string]bool{} // program names as the kernel keeps them: 15 characters
	for _, n := range []string{"handle_cpu_sample", "handle_sched_switch", "handle_sched_wakeup", "handle_sched_wakeup_new",
		"handle_block_io_start", "handle_block_rq_complete", "handle_block_getrq", "handle_block_rq_issue", "handle_sys_enter", "handle_sys_exit", "handle_syscall_enter",
		"handle_syscall_exit", "go_handshake_enter", "go_handshake_return", "ssl_client_side", "ssl_free",
		"ssl_handshake_enter", "ssl_handshake_return", "ssl_server_side"} {
		ours[n[:min(len(n), 15)]] = true
	}
	var found []string
	if bpftool, err := exec.LookPath("bpftool"); err == nil {
		out, err := exec.Command(bpftool, "-j", "prog", "show").Output()
		if err != nil {
			t.Fatalf("bpftool prog show: %v", err)
		}
		var progs []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(out, &progs); err != nil {
			t.Fatalf("bpftool output: %v", err)
		}
		for _, p := range progs {
			if ours[p.Name] {
				found = append(found, fmt.Sprintf("%d:%s", p.ID, p.Name))
			}
		}
		return found
	}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return found
		}
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := prog.Info(); err == nil && ours[info.Name] {
			found = append(found, fmt.Sprintf("%d:%s", id, info.Name))
		}
		prog.Close()
	}
}

func assertNoProgramsLeft(t *testing.T) {
	t.Helper()
	// The kernel frees a program once its last fd closes and its links are
	// gone; per-syscall tracepoints take seconds to unlink (more under
	// emulation).
	wait := 30 * time.Second
	if bpftest.Emulated() {
		wait = 3 * time.Minute // PREEMPT_RT under TCG: ~40 s to unlink iostall's tracepoints
	}
	deadline := time.Now().Add(wait)
	for {
		left := ourPrograms(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("BPF programs still loaded after perfprobe exited: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAttachWritesProfileAndReport(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "spinner"), "-threads", "2")
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, nil, "attach", "-d", "2s", "-o", dir, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "attached to pid") {
		t.Errorf("no 'attached' line on stderr: %q", r.stderr)
	}
	for _, want := range []string{"On CPU:", "main.spinHot", "Run queue:", "Context switches:", "Self-cost:", "go tool pprof"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, f := range []string{"profile.pb.gz", "capture.json", "oncpu.folded", "offcpu_blocked.folded", "offcpu_runqueue.folded"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	for _, idx := range []string{"oncpu", "offcpu_blocked", "offcpu_runqueue"} {
		out, ok := pprofTop(t, filepath.Join(dir, "profile.pb.gz"), idx)
		if ok && idx == "oncpu" && !strings.Contains(out, "main.spinHot") {
			t.Errorf("pprof -top oncpu lacks main.spinHot:\n%s", out)
		}
	}
	rep := readReport(t, dir)
	if rep.Target.PID != p.PID || rep.Window.EndCause != "duration" {
		t.Errorf("report target %d cause %q, want %d duration", rep.Target.PID, rep.Window.EndCause, p.PID)
	}
	if d := rep.Window.End.Sub(rep.Window.Start); d < 1900*time.Millisecond || (d > 2500*time.Millisecond && !bpftest.Emulated()) {
		t.Errorf("window %v, want ~2s", d)
	}
	h, ok := rep.Histograms["runqueue"]
	if !ok || h.Count == 0 || h.P50 > h.P95 || h.P95 > h.P99 || h.P99 > h.Max || len(h.Buckets) == 0 {
		t.Errorf("runqueue histogram %+v: want ordered non-empty percentiles and buckets", h)
	}
	// 2 spinning threads for 2 s at the default 97 Hz: ~388 samples when
	// the machine has two CPUs to spare; as many as the target's exact
	// on-CPU time (the scheduler's) x 97 Hz on any machine, within 15%.
	var oncpu uint64
	for _, th := range rep.Threads {
		oncpu += th.OnCPUNs
	}
	if rep.Hz != probes.DefaultHz {
		t.Errorf("hz %d, want the default %d", rep.Hz, probes.DefaultHz)
	}
	want := float64(oncpu) / 1e9 * float64(rep.Hz)
	if n := float64(rep.Counts["oncpu_samples"]); want < 50 || math.Abs(n-want) > 0.15*want {
		t.Errorf("oncpu_samples %.0f, want %.0f (the threads' %v on CPU x %d Hz) within 15%%, and >= 50", n, want, time.Duration(oncpu), rep.Hz)
	}
	if rep.SelfCost.BPFRunNs == 0 || rep.SelfCost.PeakRSSBytes == 0 {
		t.Errorf("self-cost not measured: %+v", rep.SelfCost)
	}
	folded, _ := os.ReadFile(filepath.Join(dir, "oncpu.folded"))
	if !strings.Contains(string(folded), "runtime.goexit;") || !strings.Contains(string(folded), ";main.spinHot ") {
		t.Errorf("oncpu.folded is not root-first with main.spinHot as leaf:\n%.500s", folded)
	}
	assertNoProgramsLeft(t)
}

func TestAttachBadInput(t *testing.T) {
	noSuchPID := 4194000
	for syscall.Kill(noSuchPID, 0) == nil {
		noSuchPID++
	}
	cases := []struct {
		name  string
		args  []string
		setup func(*exec.Cmd)
		want  string
	}{
		{"no such pid", []string{"attach", fmt.Sprint(noSuchPID)}, nil, "does not exist"},
		{"pid 0", []string{"attach", "0"}, nil, "pids are positive"},
		{"negative pid", []string{"attach", "--", "-5"}, nil, "pids are positive"},
		{"not a number", []string{"attach", "abc"}, nil, "is not a pid"},
		{"no pid", []string{"attach"}, nil, "nothing to attach to"},
		{"bad comm", []string{"attach", "--comm", "(x"}, nil, "--comm"},
		{"not a cgroup", []string{"attach", "--cgroup", "/tmp"}, nil, "not a cgroup directory"},
		{"one pid of two missing", []string{"attach", fmt.Sprintf("1,%d", noSuchPID)}, nil, "does not exist"},
		{"bad hz", []string{"attach", "--hz", "0", "1"}, nil, "--hz"},
		{"unknown probe", []string{"attach", "--probes", "nope", "1"}, nil, "unknown probe"},
		{"no BTF", []string{"attach", "1"}, func(c *exec.Cmd) {
			c.Env = append(os.Environ(), "PERFPROBE_BTF_PATH=/nonexistent/vmlinux")
		}, "CONFIG_DEBUG_INFO_BTF"},
		{"not root", []string{"attach", "1"}, func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}, "run with sudo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "not root" && os.Geteuid() != 0 {
				t.Skip("needs root to drop to another user")
			}
			if tc.name == "no BTF" {
				bpftest.Require(t)
			}
			r := perfprobe(t, tc.setup, tc.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want non-zero; stderr %q", r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) || strings.Contains(r.stderr, "panic") {
				t.Errorf("stderr %q: want one line containing %q", r.stderr, tc.want)
			}
		})
	}
}

func TestAttachTargetExitsMidCapture(t *testing.T) {
	bpftest.Require(t)
	// The target is killed 1.5 s after perfprobe says it is attached
	// (attaching alone takes ~25 s under emulation).
	const life = 1500 * time.Millisecond
	p := testtarget.Start(t, testtarget.Build(t, "spinner"))
	dir := filepath.Join(t.TempDir(), "cap")
	kill := make(chan time.Time, 1)
	r := perfprobe(t, func(cmd *exec.Cmd) {
		cmd.Stderr = io.MultiWriter(cmd.Stderr, onLine("attached to pid", func() {
			time.Sleep(life)
			kill <- time.Now()
			_ = p.Cmd.Process.Kill()
		}))
	}, "attach", "-d", "120s", "-o", dir, fmt.Sprint(p.PID))
	if r.code != 0 {
		t.Fatalf("attach exited %d, want 0: %s", r.code, r.stderr)
	}
	var killed time.Time
	select {
	case killed = <-kill:
	default:
		t.Fatalf("perfprobe never said it was attached: %s", r.stderr)
	}
	rep := readReport(t, dir)
	if rep.Window.EndCause != "target-exited" {
		t.Errorf("end cause %q, want target-exited", rep.Window.EndCause)
	}
	// The window ends when the target exits, not at -d 120s. perfprobe
	// itself exits later, once the per-syscall tracepoints are detached
	// (1.5-7 s of RCU grace periods on the host, ~40 s on the rt kernel
	// under emulation).
	if d := rep.Window.End.Sub(rep.Window.Start); d > life+2*time.Second {
		t.Errorf("window %v: it should end when the target exits, %v after it started", d, life)
	}
	if took := time.Since(killed); took > 20*time.Second && !bpftest.Emulated() {
		t.Errorf("perfprobe exited %v after the target: it waited for -d 120s instead of ending with it", took)
	}
	// ~1.5 s of one spinning thread at 97 Hz.
	if n := rep.Counts["oncpu_samples"]; n < 50 {
		t.Errorf("only %d samples kept from before the exit", n)
	}
	if out, ok := pprofTop(t, filepath.Join(dir, "profile.pb.gz"), "oncpu"); ok && !strings.Contains(out, "main.spinHot") {
		t.Errorf("profile after target exit does not name main.spinHot (symbols must survive the exit):\n%s", out)
	}
	assertNoProgramsLeft(t)
}

// onLine returns a writer that runs f, once and in its own goroutine, when
// a line written to it contains marker.
func onLine(marker string, f func()) io.Writer {
	return &lineWatch{marker: marker, f: f}
}

type lineWatch struct {
	marker string
	f      func()
	buf    []byte
	fired  bool
}

func (w *lineWatch) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if !w.fired && strings.Contains(string(w.buf[:i]), w.marker) {
			w.fired = true
			go w.f()
		}
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func TestAttachInterrupted(t *testing.T) {
	bpftest.Require(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			p := testtarget.Start(t, testtarget.Build(t, "spinner"))
			dir := filepath.Join(t.TempDir(), "cap")
			cmd := exec.Command(perfprobeBin, "attach", "-d", "60s", "-o", dir, fmt.Sprint(p.PID))
			var stderr bytes.Buffer
			pipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// 1.5 s of capture once attached (attaching is slow under emulation).
			attached := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(pipe)
				for sc.Scan() {
					stderr.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "attached to pid") {
						attached <- true
					}
				}
				close(attached)
			}()
			if !<-attached {
				cmd.Wait()
				t.Fatalf("attach never said it was attached: %s", stderr.String())
			}
			time.Sleep(1500 * time.Millisecond)
			cmd.Process.Signal(sig)
			for range attached { // the rest of stderr
			}
			err = cmd.Wait()
			if sig == syscall.SIGKILL {
				assertNoProgramsLeft(t)
				return
			}
			if err != nil {
				t.Fatalf("attach after %v: %v: %s", sig, err, stderr.String())
			}
			rep := readReport(t, dir)
			if rep.Window.EndCause != "signal" || rep.Counts["oncpu_samples"] < 50 {
				t.Errorf("after %v: cause %q, %d samples; want signal and >= 50", sig, rep.Window.EndCause, rep.Counts["oncpu_samples"])
			}
			assertNoProgramsLeft(t)
		})
	}
}

func TestRun(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "spinner")
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, nil, "run", "-o", dir, "--", bin, "-duration", "1500ms")
	if r.code != 0 {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	rep := readReport(t, dir)
	if rep.Window.EndCause != "command-exited" {
		t.Errorf("end cause %q, want command-exited", rep.Window.EndCause)
	}
	// The command is held until the probes are attached: nearly all of its
	// 1.5 s of spinning is sampled.
	if n := rep.Counts["oncpu_samples"]; n < 130 {
		t.Errorf("%d samples, want >= 130 of ~150", n)
	}
	if !strings.Contains(r.stderr, "main.spinHot") {
		t.Errorf("summary does not name main.spinHot:\n%s", r.stderr)
	}
	assertNoProgramsLeft(t)

	r = perfprobe(t, nil, "run", "-q", "-o", filepath.Join(t.TempDir(), "cap2"), "--", "sh", "-c", "exit 3")
	if r.code != 3 {
		t.Errorf("run of a command exiting 3 exited %d: %s", r.code, r.stderr)
	}
	r = perfprobe(t, nil, "run", "--", "/nonexistent/cmd")
	if r.code == 0 || !strings.Contains(r.stderr, "cannot run") {
		t.Errorf("run of a missing command: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDoctor(t *testing.T) {
	bpftest.Require(t)
	mounts := func() string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := mounts()
	r := perfprobe(t, nil, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "probe cpu") || !strings.Contains(r.stdout, "4 of 4 probes work") ||
		!regexp.MustCompile(`(?m)^follow children +ok `).MatchString(r.stdout) {
		t.Errorf("doctor exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// One tracefs line: the host's, or one perfprobe mounted privately,
	// which leaves the host's mount table as it was.
	want := "iostall uses per-syscall tracepoints"
	if !strings.Contains(before, " - tracefs ") {
		want = "perfprobe mounted it privately"
	}
	var lines []string
	for l := range strings.SplitSeq(r.stdout, "\n") {
		if strings.HasPrefix(l, "tracefs ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("doctor's tracefs lines %q, want one saying %q", lines, want)
	}
	if !strings.Contains(r.stdout, "syscalls timed from per-syscall tracepoints") {
		t.Errorf("doctor's iostall line does not say it uses the per-syscall tracepoints:\n%s", r.stdout)
	}
	if after := mounts(); after != before {
		t.Errorf("doctor changed the mount table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r = perfprobe(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), "PERFPROBE_BTF_PATH=/nonexistent") }, "doctor")
	if r.code == 0 || !strings.Contains(r.stdout, "BTF") || !strings.Contains(r.stdout, "FAIL") {
		t.Errorf("doctor without BTF exit %d:\n%s", r.code, r.stdout)
	}
	assertNoProgramsLeft(t)
}

// run attaches the tls probe's uprobes to the command's file before the
// exec, so handshakes from its very first moments are counted exactly.
func TestRunCountsTLSFromExec(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "tlshandshakes")
	dir := filepath.Join(t.TempDir(), "cap")
	r := perfprobe(t, nil, "run", "-q", "-o", dir, "--", bin, "-n", "30", "-fail", "3")
	if r.code != 0 {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	rep := readReport(t, dir)
	if got := strings.Join(rep.Probes, ","); got != "cpu,iostall,sched,tls" || len(rep.Kernel.Paths) != 4 {
		t.Errorf("probes %q with paths %v, want all four default probes attached on kernel %s", got, rep.Kernel.Paths, rep.Kernel.Release)
	}
	want := map[string]uint64{"tls_client_ok": 27, "tls_server_ok": 27, "tls_handshakes_ok": 54, "tls_handshakes_failed": 6}
	for k, v := range want {
		if rep.Counts[k] != v {
			t.Errorf("%s = %d, want %d (counts %v)", k, rep.Counts[k], v, rep.Counts)
		}
	}
}
