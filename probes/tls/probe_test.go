package tls_test

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	_ "github.com/perfprobe/perfprobe/probes/tls"
	"github.com/perfprobe/perfprobe/profile"
)

var tlsOnly = probes.Config{Probes: []string{"tls"}}

// labelShare returns the part of the TLS handshake time with label
// tls=side whose stack holds a frame named fn, and that total.
func labelShare(r bpftest.Result, side, fn string) (share float64, total int64) {
	i := profile.ValueIndex(r.Profile, profile.TypeTLSHandshake)
	var matched int64
	for _, s := range r.Profile.Sample {
		if l := s.Label["tls"]; len(l) == 0 || l[0] != side {
			continue
		}
		total += s.Value[i]
		for _, f := range profile.Frames(s) {
			if f == fn {
				matched += s.Value[i]
				break
			}
		}
	}
	if total > 0 {
		share = float64(matched) / float64(total)
	}
	return share, total
}

type handshakeSummary struct {
	Handshakes   int   `json:"handshakes"`
	Failed       int   `json:"failed"`
	ClientOK     int   `json:"client_ok"`
	ClientFailed int   `json:"client_failed"`
	ServerOK     int   `json:"server_ok"`
	ServerFailed int   `json:"server_failed"`
	ClientP50NS  int64 `json:"client_p50_ns"`
	ServerP50NS  int64 `json:"server_p50_ns"`
	ClientMeanNS int64 `json:"client_mean_ns"`
	ServerMeanNS int64 `json:"server_mean_ns"`
}

// Exactly N Go handshakes, F of them failing on purpose, in one process
// that is both client and server: every one is counted on the right side
// with the right result, and the durations match the target's own clock.
// The probe's p50 (slots at most 25% wide, interpolated) is within 20% of
// the target's own, and so is its exact mean (sum/count).
func TestGoHandshakes(t *testing.T) {
	bpftest.Require(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"default", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
		{"pie", []string{"-buildmode=pie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n, fail = 200, 20
			bin := testtarget.Build(t, "tlshandshakes", tc.flags...)
			p := testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal")
			var sum handshakeSummary
			r := bpftest.CaptureDuring(t, p.PID, tlsOnly, func(*probes.Session) {
				if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
					t.Fatal(err)
				}
				if err := p.Wait(&sum); err != nil {
					t.Fatal(err)
				}
			})
			c := r.Capture
			if sum.Handshakes != n || sum.ClientFailed != fail || sum.ServerFailed != fail {
				t.Fatalf("target summary %+v: want %d handshakes, %d failing on each side", sum, n, fail)
			}
			want := map[string]uint64{
				"tls_client_ok": n - fail, "tls_client_failed": fail,
				"tls_server_ok": n - fail, "tls_server_failed": fail,
				"tls_handshakes_ok": 2 * (n - fail), "tls_handshakes_failed": 2 * fail,
				"tls_go_ok": 2 * (n - fail), "tls_openssl_ok": 0,
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
			for _, side := range []struct {
				name, fn, wrapper string
				p50, mean         int64
			}{
				{"client", "main.clientHandshakeOnce", "crypto/tls.(*Conn).clientHandshake-fm", sum.ClientP50NS, sum.ClientMeanNS},
				{"server", "main.serverHandshakeOnce", "crypto/tls.(*Conn).serverHandshake-fm", sum.ServerP50NS, sum.ServerMeanNS},
			} {
				h := c.Histograms["tls_handshake_"+side.name]
				if h == nil || h.Count != n {
					t.Errorf("%s histogram %+v: want %d handshakes", side.name, h, n)
					continue
				}
				mean := h.MeanNs()
				if dev := math.Abs(float64(mean)-float64(side.mean)) / float64(side.mean); dev > 0.20 && !bpftest.Emulated() {
					t.Errorf("%s: probe mean %d ns, target mean %d ns: off by %.1f%%, want <= 20%%", side.name, mean, side.mean, 100*dev)
				}
				p50 := h.Percentile(0.5)
				if dev := math.Abs(float64(p50)-float64(side.p50)) / float64(side.p50); dev > 0.20 && !bpftest.Emulated() {
					t.Errorf("%s: probe p50 %d ns, target p50 %d ns: off by %.1f%%, want <= 20%%", side.name, p50, side.p50, 100*dev)
				}
				share, total := labelShare(r, side.name, side.fn)
				if share < 0.99 {
					t.Errorf("%s: %s holds %.1f%% of %d ns of handshake time, want >= 99%%", side.name, side.fn, 100*share, total)
				}
				// The entry uprobe sits on the PUSHQ BP, before the frame
				// pointer is set up; the direct caller (the method value
				// wrapper handshakeContext calls) comes from [SP].
				if share, _ := labelShare(r, side.name, side.wrapper); share < 0.99 {
					t.Errorf("%s: the direct caller %s holds %.1f%% of handshake time, want >= 99%%", side.name, side.wrapper, 100*share)
				}
				t.Logf("%s: probe mean %d ns (target %d, %+.1f%%), probe p50 %d ns (target %d), %s share %.1f%%",
					side.name, mean, side.mean, 100*(float64(mean)/float64(side.mean)-1), p50, side.p50, side.fn, 100*share)
			}
			if h := c.Histograms["tls_handshake"]; h == nil || h.Count != 2*n {
				t.Errorf("tls_handshake histogram %+v: want %d handshakes", h, 2*n)
			}
			if share, _, _ := r.Share(profile.TypeTLSHandshake, "crypto/tls.(*Conn).handshakeContext", 0); share < 0.99 {
				t.Errorf("crypto/tls.(*Conn).handshakeContext on %.1f%% of handshake time, want >= 99%%", 100*share)
			}
		})
	}
}

// opensslCert makes a self-signed certificate for 127.0.0.1 in dir.
func opensslCert(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return cert, key
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// listening waits until something listens on 127.0.0.1:port, without
// connecting (a connection would be a handshake).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// Debian's openssl s_server (libssl.so.3, non-blocking with -nbio so each
// handshake takes several SSL_do_handshake calls) serves N s_client
// handshakes, F of which fail because the client does not trust the
// certificate: the probe attached to the server counts exactly N-F ok and
// F failed server handshakes.
func TestOpenSSLServer(t *testing.T) {
	bpftest.Require(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("needs the openssl command: apt-get install openssl")
	}
	const n, fail = 20, 4
	dir := t.TempDir()
	cert, key := opensslCert(t, dir, "server")
	other, _ := opensslCert(t, dir, "other")
	port := freePort(t)
	srv := exec.Command("openssl", "s_server", "-quiet", "-nbio", "-no_ticket", "-accept", fmt.Sprintf("127.0.0.1:%d", port),
		"-cert", cert, "-key", key, "-naccept", fmt.Sprint(n))
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// s_server drops every connection once its stdin is at EOF: keep it
	// open.
	stdin, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); srv.Process.Kill(); srv.Wait() })
	for i := 0; !listening(port); i++ {
		if i > 100 {
			t.Fatalf("s_server not listening on %d after 10s", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	clientErrs := 0
	r := bpftest.CaptureDuring(t, srv.Process.Pid, tlsOnly, func(*probes.Session) {
		for i := range n {
			ca := cert
			if i >= n-fail {
				ca = other
			}
			cl := exec.Command("openssl", "s_client", "-brief", "-connect", fmt.Sprintf("127.0.0.1:%d", port),
				"-CAfile", ca, "-verify_return_error", "-no_ticket")
			cl.Stdin = strings.NewReader("")
			out, err := cl.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "CONNECTION ESTABLISHED") {
				clientErrs++
				if i < n-fail {
					t.Errorf("s_client %d: %v\n%s", i, err, out)
				}
			}
		}
		if err := srv.Wait(); err != nil { // -naccept n: it exits after n connections
			t.Logf("s_server: %v", err)
		}
	})
	c := r.Capture
	t.Logf("counts %v drops %v", c.Counts, c.Drops)
	if clientErrs != fail {
		t.Errorf("%d s_client runs failed, want %d", clientErrs, fail)
	}
	for k, v := range map[string]uint64{
		"tls_server_ok": n - fail, "tls_server_failed": fail, "tls_openssl_ok": n - fail,
		"tls_client_ok": 0, "tls_go_ok": 0, "tls_inflight_at_end": 0,
	} {
		if c.Counts[k] != v {
			t.Errorf("%s = %d, want %d", k, c.Counts[k], v)
		}
	}
	if h := c.Histograms["tls_handshake"]; h == nil || h.Count != n {
		t.Errorf("tls_handshake histogram %+v: want %d handshakes", h, n)
	} else {
		t.Logf("s_server handshakes: p50 %d ns, mean %d ns, max %d ns; retries %d; counts %v",
			h.Percentile(0.5), h.MeanNs(), h.MaxNs, c.Counts["tls_openssl_retries"], c.Counts)
	}
	if c.Counts["tls_openssl_retries"] == 0 {
		t.Error("no SSL_do_handshake retries with -nbio: WANT_READ path not exercised")
	}
	// The entry uprobe is SSL_do_handshake's first instruction: the walk
	// misses the direct caller (Debian's openssl has no frame pointers,
	// so it is all there is past the leaf), which comes from [SP].
	for _, s := range r.Profile.Sample {
		if f := profile.Frames(s); len(f) < 2 || f[0] != "SSL_do_handshake" || strings.HasPrefix(f[1], "[unknown]") {
			t.Errorf("stack %v: want SSL_do_handshake and its caller", f)
		} else {
			t.Logf("stack %v: %v", s.Label, f)
		}
	}
	var stacks int64
	for _, s := range c.Stacks {
		if s.Type == profile.TypeTLSHandshake {
			stacks += s.Count
			if s.Labels["lib"] != "openssl" || s.Labels["tls"] != "server" {
				t.Errorf("stack labels %v, want lib=openssl tls=server", s.Labels)
			}
		}
	}
	if stacks != n {
		t.Errorf("%d handshakes in stacks, want %d", stacks, n)
	}
}

// A Go TLS server under continuous handshake load keeps serving while the
// probe attaches and detaches 20 times: no crash, no client-side error.
func TestAttachDetachUnderLoad(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "tlsserver")
	p := testtarget.Start(t, bin, "-clients", "2")
	var seen uint64
	for i := range 20 {
		r := bpftest.Capture(t, p.PID, tlsOnly, 200*time.Millisecond)
		c := r.Capture
		if c.Counts["tls_client_ok"] == 0 || c.Counts["tls_server_ok"] == 0 {
			t.Errorf("cycle %d: counts %v, want handshakes on both sides", i, c.Counts)
		}
		if c.Counts["tls_handshakes_failed"] != 0 {
			t.Errorf("cycle %d: %d failed handshakes", i, c.Counts["tls_handshakes_failed"])
		}
		for k, v := range c.Drops {
			if v != 0 {
				t.Errorf("cycle %d: drop %s = %d", i, k, v)
			}
		}
		seen += c.Counts["tls_handshakes_ok"]
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Handshakes   int64   `json:"handshakes"`
		ClientErrors int64   `json:"client_errors"`
		ServerErrors int64   `json:"server_errors"`
		Seconds      float64 `json:"seconds"`
		FirstError   string  `json:"first_error"`
	}
	if err := p.Wait(&sum); err != nil { // a crash (SIGILL, SIGSEGV) fails here
		t.Fatalf("target did not survive: %v", err)
	}
	if sum.ClientErrors != 0 || sum.ServerErrors != 0 {
		t.Errorf("target summary %+v: want no client or server errors", sum)
	}
	if sum.Handshakes == 0 {
		t.Errorf("target summary %+v: no handshakes", sum)
	}
	t.Logf("target: %+v; probe saw %d ok handshakes over 20 windows", sum, seen)
}

// Targets without TLS code: the probe is skipped with one clear reason
// and the capture goes on.
func TestNoTLSCodeSkipped(t *testing.T) {
	bpftest.Require(t)
	for _, name := range []string{"sleeper", "cspin"} {
		t.Run(name, func(t *testing.T) {
			bin := testtarget.Build(t, name)
			p := testtarget.Start(t, bin)
			target, err := probes.OpenTarget(p.PID)
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			sess, err := probes.Start(target, probes.Config{Probes: []string{"tls"}})
			if err != nil {
				t.Fatalf("session failed instead of skipping the probe: %v", err)
			}
			defer sess.Close()
			want := fmt.Sprintf("probe tls skipped: no TLS code in %s (no crypto/tls handshake functions, no libssl)", target.Exe)
			if got := sess.Skipped(); len(got) != 1 || got[0] != want {
				t.Errorf("skipped = %q, want [%q]", got, want)
			}
			if len(sess.Attached()) != 0 {
				t.Errorf("attached = %v, want none", sess.Attached())
			}
			c := sess.Stop("test")
			if len(c.Warnings) != 1 || c.Warnings[0] != want {
				t.Errorf("capture warnings %q, want [%q]", c.Warnings, want)
			}
		})
	}
}

// A target killed in the middle of a handshake: Collect still works, the
// finished handshakes are all there and the interrupted one is reported in
// flight.
func TestTargetExitsMidHandshake(t *testing.T) {
	bpftest.Require(t)
	const n = 10
	bin := testtarget.Build(t, "tlshandshakes")
	p := testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-wait-signal", "-hold-after")
	r := bpftest.CaptureDuring(t, p.PID, tlsOnly, func(s *probes.Session) {
		if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for s.Progress()["tls"].Events < 2*n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // into the handshake that never gets an answer
		p.Cmd.Process.Kill()
		if err := p.Wait(nil); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("target exit: %v, want killed", err)
		}
	})
	c := r.Capture
	for _, w := range c.Warnings {
		if strings.Contains(w, "collecting") {
			t.Errorf("collect failed: %s", w)
		}
	}
	for k, v := range map[string]uint64{"tls_client_ok": n, "tls_server_ok": n, "tls_handshakes_failed": 0, "tls_inflight_at_end": 1} {
		if c.Counts[k] != v {
			t.Errorf("%s = %d, want %d", k, c.Counts[k], v)
		}
	}
}

// Handshake throughput of the Go TLS server with and without the probe.
// The machine may be shared, so each round runs two identical servers at
// the same time, the probe attached to one of them (alternating), and
// compares their throughput and CPU time per handshake: load from
// elsewhere hits both alike. The two run copies of the binary: the probe's
// uprobes are on the file, and a process of the same file that is no
// target still takes their traps. The probe runs with the default stack
// interval, as perfprobe attach does. Set PERFPROBE_TLS_OVERHEAD=1 to run
// (about a minute); it reports the median ratio over the rounds and fails
// above 3% slowdown.
func TestThroughputOverhead(t *testing.T) {
	if os.Getenv("PERFPROBE_TLS_OVERHEAD") != "1" {
		t.Skip("set PERFPROBE_TLS_OVERHEAD=1 to measure handshake throughput with and without the probe")
	}
	bpftest.Require(t)
	bin := testtarget.Build(t, "tlsserver")
	copied := filepath.Join(t.TempDir(), "tlsserver")
	if b, err := os.ReadFile(bin); err != nil || os.WriteFile(copied, b, 0o755) != nil {
		t.Fatalf("copying %s: %v", bin, err)
	}
	bins := [2]string{bin, copied}
	const rounds, d, delay = 10, 5 * time.Second, time.Second
	type summary struct {
		Handshakes   int64   `json:"handshakes"`
		ClientErrors int64   `json:"client_errors"`
		Seconds      float64 `json:"seconds"`
		CPUSeconds   float64 `json:"cpu_seconds"`
	}
	var rates, cpus []float64 // with/without, per round
	cfg := probes.Config{Probes: []string{"tls"}, StackInterval: probes.DefaultStackInterval}
	for i := range rounds {
		procs := [2]*testtarget.Proc{}
		for j := range procs {
			procs[j] = testtarget.Start(t, bins[j], "-clients", "2", "-delay", delay.String(), "-duration", d.String())
		}
		traced := i % 2
		r := bpftest.Capture(t, procs[traced].PID, cfg, delay+d)
		var sums [2]summary
		for j, p := range procs {
			if err := p.Wait(&sums[j]); err != nil {
				t.Fatal(err)
			}
			if sums[j].ClientErrors != 0 {
				t.Errorf("round %d: %d client errors", i, sums[j].ClientErrors)
			}
		}
		with, without := sums[traced], sums[1-traced]
		rw, rwo := float64(with.Handshakes)/with.Seconds, float64(without.Handshakes)/without.Seconds
		cw, cwo := 1e9*with.CPUSeconds/float64(with.Handshakes), 1e9*without.CPUSeconds/float64(without.Handshakes)
		rates, cpus = append(rates, rw/rwo), append(cpus, cw/cwo)
		sc := r.Capture.SelfCost
		t.Logf("round %d: handshakes/s without %.0f, with %.0f (ratio %.3f); CPU/handshake without %.0f ns, with %.0f ns (ratio %.3f); probe saw %d, BPF %.0f ns per handshake",
			i, rwo, rw, rw/rwo, cwo, cw, cw/cwo, r.Capture.Counts["tls_client_ok"], float64(sc.BPFRunNs)/float64(max(1, r.Capture.Counts["tls_client_ok"])))
	}
	slices.Sort(rates)
	slices.Sort(cpus)
	ratio, cpu := (rates[rounds/2-1]+rates[rounds/2])/2, (cpus[rounds/2-1]+cpus[rounds/2])/2
	t.Logf("median over %d rounds: throughput with/without = %.3f (slowdown %.1f%%); CPU per handshake with/without = %.3f", rounds, ratio, 100*(1-ratio), cpu)
	if ratio < 0.97 {
		t.Errorf("throughput with the probe is %.1f%% lower, want <= 3%%", 100*(1-ratio))
	}
}

// Exactly N Go handshakes, F of them failing, drained every 20 ms while
// they run back to back (so that most switches fall inside one): summed
// over the windows, every handshake is counted once, on its side,
// with its result, in the counts, the histograms and the stacks, and none
// is taken for one begun before the window or returning unpaired.
func TestDrain(t *testing.T) {
	bpftest.Require(t)
	const n, fail = 300, 30
	bin := testtarget.Build(t, "tlshandshakes")
	p := testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal")
	target, err := probes.OpenTarget(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	s, err := probes.Start(target, tlsOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var sum handshakeSummary
	go func() {
		defer close(done)
		if err := p.Wait(&sum); err != nil {
			t.Error(err)
		}
	}()
	windows := bpftest.Windows(t, s, 20*time.Millisecond, done)
	got := map[string]uint64{}
	var hist, stacks, with uint64
	for _, c := range windows {
		for _, k := range []string{"tls_client_ok", "tls_client_failed", "tls_server_ok", "tls_server_failed",
			"tls_handshakes_ok", "tls_handshakes_failed", "tls_unpaired_returns", "tls_started_before_window"} {
			got[k] += c.Counts[k]
		}
		if h := c.Histograms["tls_handshake"]; h != nil && h.Count > 0 {
			hist += h.Count
			with++
		}
		for _, st := range c.Stacks {
			if st.Type == profile.TypeTLSHandshake {
				stacks += uint64(st.Count)
			}
		}
		for k, v := range c.Drops {
			if v != 0 {
				t.Errorf("drop %s = %d, want 0", k, v)
			}
		}
	}
	t.Logf("target %+v; %d windows, %d with handshakes; counts %v", sum, len(windows), with, got)
	if sum.Handshakes != n || sum.ClientFailed != fail || sum.ServerFailed != fail {
		t.Fatalf("target summary %+v: want %d handshakes, %d failing on each side", sum, n, fail)
	}
	want := map[string]uint64{
		"tls_client_ok": n - fail, "tls_client_failed": fail,
		"tls_server_ok": n - fail, "tls_server_failed": fail,
		"tls_handshakes_ok": 2 * (n - fail), "tls_handshakes_failed": 2 * fail,
		"tls_unpaired_returns": 0, "tls_started_before_window": 0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s summed over the windows = %d, want %d", k, got[k], v)
		}
	}
	if hist != 2*n || stacks != 2*n {
		t.Errorf("%d handshakes in the histograms, %d in the stacks, want %d each", hist, stacks, 2*n)
	}
	if with < 5 {
		t.Errorf("handshakes in %d windows: want them spread over several", with)
	}
}
