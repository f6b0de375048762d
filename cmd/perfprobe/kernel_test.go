package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
)

// attachUntilExit runs `perfprobe attach -d 0` on a held target, releases
// the target once perfprobe says it is attached, and returns when both
// are done: perfprobe stops when the target exits.
func attachUntilExit(t *testing.T, env []string, dir string, p *testtarget.Proc, release func(), args ...string) result {
	t.Helper()
	cmd := exec.Command(perfprobeBin, append(append([]string{"attach", "-d", "0", "-q", "-o", dir}, args...), fmt.Sprint(p.PID))...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "attached to pid") {
			release()
		}
	}
	err = cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(began)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// fsyncCapture attaches with the default probes to fsyncer doing n
// fsyncs on a block device, and checks what every kernel must give: all
// n fsyncs counted, the block writes the target issued counted, the tls
// probe skipped for a target without TLS code and the others attached.
func fsyncCapture(t *testing.T, env ...string) report {
	const n = 50
	dir, major, minor := bpftest.BlockDir(t)
	p, release := testtarget.StartHeld(t, testtarget.Build(t, "fsyncer"), "-n", fmt.Sprint(n), "-dir", dir)
	out := filepath.Join(t.TempDir(), "cap")
	r := attachUntilExit(t, env, out, p, release)
	if r.code != 0 {
		t.Fatalf("attach exited %d: %s", r.code, r.stderr)
	}
	var sum struct{ Fsyncs int }
	if err := p.Wait(&sum); err != nil || sum.Fsyncs != n {
		t.Fatalf("fsyncer did %d fsyncs (%v), want %d", sum.Fsyncs, err, n)
	}
	rep := readReport(t, out)
	t.Logf("kernel %s, probes %v, paths %v", rep.Kernel.Release, rep.Probes, rep.Kernel.Paths)
	if got := strings.Join(rep.Probes, ","); got != "cpu,iostall,sched" {
		t.Errorf("probes %q, want cpu,iostall,sched (tls has nothing to attach to)", got)
	}
	if !strings.Contains(r.stderr, "probe tls skipped") {
		t.Errorf("stderr does not say tls was skipped:\n%s", r.stderr)
	}
	if got := rep.Counts["syscall_fsync_calls"]; got != n {
		t.Errorf("syscall_fsync_calls = %d, want exactly %d", got, n)
	}
	// Each fsync writes back the page written before it from the
	// target's own thread (and, with ext4's fast commits, a journal block):
	// at least one write request per fsync.
	base := fmt.Sprintf("block_%d_%d", major, minor)
	if w := rep.Counts[base+"_target_writes"]; w < n || w > 4*n {
		t.Errorf("%s_target_writes = %d, want %d..%d (the fsyncs' data pages); counts %v", base, w, n, 4*n, rep.Counts)
	}
	t.Logf("%s: target writes %d, flushes %d, requests %d (all origins %d)", base, rep.Counts[base+"_target_writes"],
		rep.Counts[base+"_target_flushes"], rep.Counts[base+"_target_ios"], rep.Counts[base+"_ios"])
	if h, ok := rep.Histograms[base+"_target"]; !ok || h.Count < n || h.Max == 0 {
		t.Errorf("histogram %s_target %+v: want >= %d timed requests", base, h, n)
	}
	return rep
}

// With the default probes, whichever block hooks this kernel has.
func TestAttachDefaultProbes(t *testing.T) {
	bpftest.Require(t)
	fsyncCapture(t)
	assertNoProgramsLeft(t)
}

// A kernel without block_io_start (before 6.5), simulated with a BTF that
// lacks it: iostall takes the block_getrq path and still counts the
// target's block requests. A kernel without the sched_switch tracepoint:
// the default capture skips sched in one line and goes on; naming it
// fails with that line.
func TestAttachKernelLacks(t *testing.T) {
	bpftest.Require(t)
	k, err := probes.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("block_io_start", func(t *testing.T) {
		if !k.Tracepoint("block_io_start", 1) {
			t.Skip("this kernel lacks block_io_start already: TestAttachDefaultProbes covers the fallback")
		}
		rep := fsyncCapture(t, "PERFPROBE_BTF_PATH="+bpftest.BTFWithout(t, "btf_trace_block_io_start"))
		if path := rep.Kernel.Paths["iostall"]; !strings.Contains(path, "from block_getrq") || !strings.Contains(path, "Linux 6.5+") {
			t.Errorf("iostall path %q: want block_getrq, because block_io_start is Linux 6.5+", path)
		}
		assertNoProgramsLeft(t)
	})
	t.Run("sched_switch", func(t *testing.T) {
		env := "PERFPROBE_BTF_PATH=" + bpftest.BTFWithout(t, "btf_trace_sched_switch")
		p := testtarget.Start(t, testtarget.Build(t, "spinner"))
		dir := filepath.Join(t.TempDir(), "cap")
		r := perfprobe(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), env) }, "attach", "-q", "-d", "1s", "-o", dir, fmt.Sprint(p.PID))
		if r.code != 0 {
			t.Fatalf("default attach without sched_switch exited %d, want 0 (sched skipped): %s", r.code, r.stderr)
		}
		const want = "probe sched skipped: this kernel lacks the sched_switch(preempt, prev, next) tracepoint for BPF programs (tp_btf) (Linux 5.5+); capturing with cpu, iostall"
		var lines []string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "sched") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
			t.Errorf("stderr lines about sched %q, want one: %q\n%s", lines, want, r.stderr)
		}
		rep := readReport(t, dir)
		if slices.Contains(rep.Probes, "sched") || rep.Counts["oncpu_samples"] < 50 {
			t.Errorf("probes %v, %d samples: want cpu sampling on without sched", rep.Probes, rep.Counts["oncpu_samples"])
		}
		r = perfprobe(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), env) }, "attach", "--probes", "cpu,sched", "-d", "1s", "-o", dir+"2", fmt.Sprint(p.PID))
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, "lacks the sched_switch") {
			t.Errorf("--probes cpu,sched without sched_switch: exit %d, stderr %q; want one line saying what the kernel lacks", r.code, r.stderr)
		}
		assertNoProgramsLeft(t)
	})
}
