package capture_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// handshakeWith does one TLS handshake with the server at addr (tlsserver
// -mute) and waits until the server's side has ended: the server closes
// the connection once its handshake returned. It reports whether the
// handshake succeeded.
func handshakeWith(t *testing.T, addr string, cfg *tls.Config) bool {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Errorf("dialing %s: %v", addr, err)
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, cfg)
	err = tc.Handshake()
	io.Copy(io.Discard, conn) // until the server closes
	return err == nil
}

// TestOwnConnectionsLeftOut: a Go TLS server (tlsserver -mute, serving
// only: it closes each connection after the handshake) is attached with
// the default options, whose Go endpoint discovery sends a TLS hello to
// its TLS port (a good handshake, then no HTTP answer) and a plain GET
// (a failed handshake), while this test makes exactly
// 300 good and 7 failing handshakes with it (the failing ones reject the
// server's certificate, so the server's side fails on the alert). The
// server side counts exactly 300 ok and 7 failed, in the counts, the
// server histogram and the stacks; discovery's handshakes are counted
// apart in tls_own_probes: one per connection discovery made (2, or 1
// when its one-second budget per port ran out before the plain GET on a
// busy machine).
func TestOwnConnectionsLeftOut(t *testing.T) {
	bpftest.Require(t)
	const good, bad = 300, 7
	bin := testtarget.Build(t, "tlsserver")
	p := testtarget.Start(t, bin, "-clients", "0", "-mute")
	tg, err := probes.OpenTarget(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	o := capture.DefaultOptions()
	o.Duration = 0
	s, err := capture.Start(tg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.GoFetchEnded() == nil {
		t.Fatal("the default options fetch no Go profiles: nothing discovers the endpoint")
	}

	okCfg := &tls.Config{InsecureSkipVerify: true}
	badCfg := &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"} // trusts nothing
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok, ko int
	)
	// Two clients: one interleaved with the discovery, one after it.
	for c := range 2 {
		wg.Go(func() {
			if c == 1 {
				<-s.GoFetchEnded()
			}
			for i := c; i < good+bad; i += 2 {
				cfg := okCfg
				if i >= good {
					cfg = badCfg
				}
				r := handshakeWith(t, p.Addr, cfg)
				mu.Lock()
				if r {
					ok++
				} else {
					ko++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-s.GoFetchEnded():
	case <-time.After(30 * time.Second):
		t.Fatal("endpoint discovery did not end within 30s")
	}
	if ok != good || ko != bad {
		t.Fatalf("the test's clients saw %d ok and %d failed handshakes, want %d and %d", ok, ko, good, bad)
	}
	r := s.Stop(capture.EndSignal)
	c := r.Capture
	bpftest.CheckDeclared(t, c)
	t.Logf("counts: server %d ok / %d failed, client %d/%d, own probes %d, own connections %d",
		c.Counts["tls_server_ok"], c.Counts["tls_server_failed"], c.Counts["tls_client_ok"], c.Counts["tls_client_failed"],
		c.Counts["tls_own_probes"], c.Counts["own_connections"])
	for k, want := range map[string]uint64{"tls_server_ok": good, "tls_server_failed": bad, "tls_client_ok": 0, "tls_client_failed": 0, "tls_handshakes_ok": good, "tls_handshakes_failed": bad} {
		if c.Counts[k] != want {
			t.Errorf("%s = %d, want %d", k, c.Counts[k], want)
		}
	}
	if c.Counts["tls_own_probes"] < 1 || c.Counts["tls_own_probes"] != c.Counts["own_connections"] {
		t.Errorf("tls_own_probes = %d over own_connections = %d: want each of discovery's connections' server handshake counted apart",
			c.Counts["tls_own_probes"], c.Counts["own_connections"])
	}
	if h := c.Histograms["tls_handshake_server"]; h == nil || h.Count != good+bad {
		t.Errorf("server histogram %+v, want %d handshakes", h, good+bad)
	}
	var stacked int64
	for _, st := range c.Stacks {
		if st.Type == profile.TypeTLSHandshake && st.Labels["tls"] == "server" {
			stacked += st.Count
		}
	}
	if stacked != good+bad {
		t.Errorf("server handshake stacks count %d handshakes, want %d", stacked, good+bad)
	}
}
