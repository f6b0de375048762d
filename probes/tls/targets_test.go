package tls_test

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes/tls"
	"github.com/perfprobe/perfprobe/profile"
)

// Two processes of one binary in one session, the second added while the
// probe runs: the binary is probed once (tls_files_probed = 1), and each
// process's handshakes are counted exactly, under its own pid; with
// uprobe_multi links and with one perf uprobe per site (before 6.6).
func TestTwoProcessesOneBinary(t *testing.T) {
	bpftest.Require(t)
	for _, perf := range []bool{false, true} {
		t.Run(map[bool]string{false: "multi", true: "perf"}[perf], func(t *testing.T) {
			tls.ForcePerfUprobes(perf)
			defer tls.ForcePerfUprobes(false)
			testTwoProcessesOneBinary(t)
		})
	}
}

func testTwoProcessesOneBinary(t *testing.T) {
	const n, fail = 50, 5
	bin := testtarget.Build(t, "tlshandshakes")
	procs := []*testtarget.Proc{
		testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal"),
		testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal"),
	}
	sums := make([]handshakeSummary, len(procs))
	r, _ := bpftest.CaptureTargets(t, []int{procs[0].PID}, tlsOnly, func(w *bpftest.Watch) {
		if err := w.AddTarget(t, procs[1].PID); err != nil {
			t.Fatalf("adding pid %d: %v", procs[1].PID, err)
		}
		for _, p := range procs {
			if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range procs {
			if err := p.Wait(&sums[i]); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := r.Capture
	for i, sum := range sums {
		if sum.Handshakes != n || sum.ClientFailed != fail || sum.ServerFailed != fail {
			t.Fatalf("target %d summary %+v: want %d handshakes, %d failing on each side", i, sum, n, fail)
		}
	}
	if got := c.Counts["tls_files_probed"]; got != 1 {
		t.Errorf("tls_files_probed = %d, want 1: both processes run one file", got)
	}
	want := map[string]uint64{
		"tls_client_ok": 2 * (n - fail), "tls_client_failed": 2 * fail,
		"tls_server_ok": 2 * (n - fail), "tls_server_failed": 2 * fail,
		"tls_inflight_at_end": 0,
	}
	for k, v := range want {
		if c.Counts[k] != v {
			t.Errorf("%s = %d, want %d", k, c.Counts[k], v)
		}
	}
	for k, v := range c.Drops {
		if v != 0 {
			t.Errorf("drop %s = %d, want 0", k, v)
		}
	}
	perPID := map[int]int64{}
	for _, s := range c.Stacks {
		if s.Type == profile.TypeTLSHandshake {
			perPID[int(s.PID)] += s.Count
		}
	}
	for _, p := range procs {
		if perPID[p.PID] != 2*n {
			t.Errorf("pid %d: %d handshakes in its stacks, want %d (client and server sides)", p.PID, perPID[p.PID], 2*n)
		}
	}
	if len(perPID) != len(procs) {
		t.Errorf("handshake stacks of pids %v, want only the two targets", perPID)
	}
	total, matched, unlabelled := r.ByPID(profile.TypeTLSHandshake, "crypto/tls.(*Conn).handshakeContext")
	if unlabelled > 0 {
		t.Errorf("%d samples without a pid or comm label", unlabelled)
	}
	for _, p := range procs {
		if matched[p.PID] < total[p.PID]*99/100 || total[p.PID] == 0 {
			t.Errorf("pid %d: handshakeContext on %d of %d ns, want >= 99%% (symbolized in its own process)", p.PID, matched[p.PID], total[p.PID])
		}
	}
}
