package tls_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
)

// Two processes of N Go handshakes each (F failing), in one session,
// drained every 20 ms while they run: in every window the handshake
// histograms per process add up exactly to the session's (each slot, the
// count and the sum), and summed over the windows each process has exactly
// 2N handshakes in its tls_handshake histogram, N client and N server.
func TestHistogramsPerTarget(t *testing.T) {
	bpftest.Require(t)
	const n, fail = 150, 15
	bin := testtarget.Build(t, "tlshandshakes")
	var (
		procs []*testtarget.Proc
		ts    []*probes.Target
	)
	for range 2 {
		p := testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal")
		target, err := probes.OpenTarget(p.PID)
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		procs, ts = append(procs, p), append(ts, target)
	}
	cfg := tlsOnly
	cfg.TargetHistograms = true
	s, err := probes.StartTargets(ts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range procs {
		if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	sums := make([]handshakeSummary, len(procs))
	go func() {
		defer close(done)
		for i, p := range procs {
			if err := p.Wait(&sums[i]); err != nil {
				t.Error(err)
			}
		}
	}()
	windows := bpftest.Windows(t, s, 20*time.Millisecond, done)
	got := map[int]map[string]uint64{}
	var with int
	for i, c := range windows {
		bpftest.CheckTargetHistograms(t, c, func(name string) bool { return strings.HasPrefix(name, "tls_handshake") })
		if n := c.Drops["tls_pid_hists_full"]; n != 0 { // CheckTargetHistograms bounds it
			t.Logf("window %d: tls_pid_hists_full = %d", i, n)
		}
		both := 0
		for pid, hs := range c.TargetHistograms {
			if got[pid] == nil {
				got[pid] = map[string]uint64{}
			}
			for name, h := range hs {
				got[pid][name] += h.Count
			}
			if hs["tls_handshake"] != nil {
				both++
			}
		}
		if both == 2 {
			with++
		}
	}
	t.Logf("%d windows, %d with handshakes of both processes; per pid %v", len(windows), with, got)
	for i, p := range procs {
		if sums[i].Handshakes != n || sums[i].ClientFailed != fail || sums[i].ServerFailed != fail {
			t.Fatalf("pid %d summary %+v: want %d handshakes, %d failing on each side", p.PID, sums[i], n, fail)
		}
		want := map[string]uint64{"tls_handshake": 2 * n, "tls_handshake_client": n, "tls_handshake_server": n}
		for name, v := range want {
			if got[p.PID][name] != v {
				t.Errorf("pid %d: %s counts %d handshakes over the windows, want exactly %d", p.PID, name, got[p.PID][name], v)
			}
		}
	}
	if len(got) != len(procs) {
		t.Errorf("handshakes of pids %v, want the two targets only", got)
	}
	if with < 3 {
		t.Errorf("handshakes of both processes in %d windows: want several", with)
	}
}
