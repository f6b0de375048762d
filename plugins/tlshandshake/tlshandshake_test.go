package tlshandshake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/tlshandshake"
	"github.com/perfprobe/perfprobe/profile"
)

const (
	client = "crypto/internal/fips140/nistec.(*P256Point).ScalarMult;crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;crypto/tls.(*Conn).HandshakeContext;main.dial;main.worker;runtime.goexit"
	server = "crypto/internal/fips140/ecdsa.sign;crypto/tls.(*serverHandshakeStateTLS13).sendServerCertificate;crypto/tls.(*Conn).serverHandshake;crypto/tls.(*Conn).handshakeContext;crypto/tls.(*Conn).HandshakeContext;main.serve;runtime.goexit"
)

// 300 full handshakes in 3 s (100/s, client side here), 1.2 s of the 2 s
// of CPU in them: critical, with the rate, CPU per handshake, p95 from
// the histogram, the worker goroutine's wall share and the advice to
// reuse connections and resume sessions.
func TestHandshakes(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "cpu", "tls")
	c.Counts["tls_handshakes_ok"], c.Counts["tls_handshakes_failed"] = 290, 10
	c.Counts["tls_client_ok"], c.Counts["tls_client_failed"] = 290, 10
	h := plugintest.Hist(280, 2e6)
	h.Add(plugintest.Hist(20, 20e6))
	c.Histograms["tls_handshake"] = h
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeTLSHandshake, profile.TypeGoWall},
		plugintest.S{Type: profile.TypeOnCPU, Stack: client, Value: 800e6, Count: 80},
		plugintest.S{Type: profile.TypeOnCPU, Stack: server, Value: 400e6, Count: 40},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "main.spin;main.worker;runtime.goexit", Value: 800e6, Count: 80},
		plugintest.S{Type: profile.TypeTLSHandshake, Stack: "crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;main.dial;main.worker", Value: 870e6, Count: 300},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;runtime.netpollblock;crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;main.dial;main.worker;runtime.goexit", Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "main.spin;main.worker;runtime.goexit", Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;net/http.(*Server).Serve;main.main.gowrap1;runtime.goexit", Value: 3000e6},
	)
	st, fs := plugintest.Run(t, "tls-handshake", &plugins.Evidence{Capture: c, Profile: p})
	if len(fs) != 1 {
		t.Fatalf("findings %+v (%+v)", fs, st)
	}
	f := fs[0]
	if f.Severity != plugins.Critical || f.Share != 0.6 {
		t.Errorf("severity %s share %v, want critical 0.6 (1.2 s of 2 s CPU)", f.Severity, f.Share)
	}
	for name, want := range map[string]float64{"handshakes": 300, "handshakes_per_s": 100, "cpu_share": 60, "cpu_per_handshake_ns": 4e6, "wall_share": 50} {
		if got := plugintest.Figure(t, f, name); got != want {
			t.Errorf("figure %s = %v, want %v", name, got, want)
		}
	}
	// 1 in 15 handshakes took 20 ms: p95 is in the 20 ms slot.
	if p95 := plugintest.Figure(t, f, "p95_ns"); p95 < 16e6 || p95 > 20e6 {
		t.Errorf("p95 %v ns, want ~20 ms", p95)
	}
	if f.Title != "60% of CPU time is TLS handshakes (100 per second) from main.dial" || f.Key[0] != "main.dial" {
		t.Errorf("title %q key %v", f.Title, f.Key)
	}
	if !strings.Contains(f.Advice, "Reuse connections") || !strings.Contains(f.Advice, "ClientSessionCache") {
		t.Errorf("advice %q", f.Advice)
	}
	if len(f.Stacks) == 0 || f.Stacks[0][len(f.Stacks[0])-1] != "main.worker" || f.Confidence.Level != "high" {
		t.Errorf("stacks %v confidence %+v", f.Stacks, f.Confidence)
	}
	if !strings.Contains(f.Detail, "goroutines main.worker spend 50% of their wall time") {
		t.Errorf("detail %q", f.Detail)
	}
}

// A few handshakes are nothing; without the tls probe the plugin is not
// applicable and says how to enable it.
func TestHandshakesGates(t *testing.T) {
	c := plugintest.Capture(10*time.Second, "cpu", "tls")
	c.Counts["tls_handshakes_ok"] = 3
	p := plugintest.Profile([]string{profile.TypeOnCPU},
		plugintest.S{Type: profile.TypeOnCPU, Stack: client, Value: 6e6, Count: 1},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "main.work;main.main", Value: 4e9, Count: 400})
	if st, fs := plugintest.Run(t, "tls-handshake", &plugins.Evidence{Capture: c, Profile: p}); len(fs) != 0 || st.Status != plugins.StatusOK {
		t.Errorf("three handshakes: %+v %+v", fs, st)
	}
	c.Probes = []string{"cpu", "sched"}
	st, _ := plugintest.Run(t, "tls-handshake", &plugins.Evidence{Capture: c, Profile: p})
	if st.Status != plugins.StatusNotApplicable || !strings.HasSuffix(st.Reason+": "+st.Enable, "run with --probes tls") {
		t.Errorf("without the tls probe: %+v", st)
	}
}

// A server and its clients in one process, a new connection per request:
// 3,600 handshakes in 6 s (600/s) take 16% of the process's CPU, under
// the 20% share that alone makes a warning; the rate makes it one. The
// handshakes cost 220 µs of CPU each, under what says "full" by cost, but
// their stacks sign and verify certificates, which resumed handshakes do
// not: the advice is to resume sessions. At 2% of the CPU (250 ms of
// 12.5 s) the same rate is info.
func TestHandshakeRate(t *testing.T) {
	const (
		clientCert = "crypto/internal/fips140/ecdsa.verify;crypto/x509.(*Certificate).Verify;crypto/tls.(*Conn).verifyServerCertificate;crypto/tls.(*clientHandshakeStateTLS13).readServerCertificate;crypto/tls.(*clientHandshakeStateTLS13).handshake;crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;net/http.(*persistConn).addTLS.func2;runtime.goexit"
		clientKex  = "crypto/internal/fips140/mlkem.ntt;crypto/tls.(*clientHandshakeStateTLS13).establishHandshakeKeys;crypto/tls.(*clientHandshakeStateTLS13).handshake;crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;net/http.(*persistConn).addTLS.func2;runtime.goexit"
		serverKex  = "crypto/internal/fips140/edwards25519/field.feMul;crypto/tls.(*serverHandshakeStateTLS13).processClientHello;crypto/tls.(*serverHandshakeStateTLS13).handshake;crypto/tls.(*Conn).serverHandshake;crypto/tls.(*Conn).handshakeContext;net/http.(*conn).serve;runtime.goexit"
	)
	evidence := func(handshakeCPU, total int64) *plugins.Evidence {
		c := plugintest.Capture(6*time.Second, "cpu", "tls")
		c.Counts["tls_handshakes_ok"] = 3600
		c.Counts["tls_client_ok"], c.Counts["tls_server_ok"] = 1800, 1800
		c.Histograms["tls_handshake"] = plugintest.Hist(3600, 1e6)
		p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeTLSHandshake},
			plugintest.S{Type: profile.TypeOnCPU, Stack: clientCert, Value: handshakeCPU / 8, Count: handshakeCPU / 8 / 10e6},
			plugintest.S{Type: profile.TypeOnCPU, Stack: clientKex, Value: handshakeCPU * 3 / 8, Count: handshakeCPU * 3 / 8 / 10e6},
			plugintest.S{Type: profile.TypeOnCPU, Stack: serverKex, Value: handshakeCPU / 2, Count: handshakeCPU / 2 / 10e6},
			plugintest.S{Type: profile.TypeOnCPU, Stack: "crypto/sha256.block;main.hashWork;main.handleWork;net/http.(*conn).serve;runtime.goexit", Value: total - handshakeCPU, Count: (total - handshakeCPU) / 10e6},
			plugintest.S{Type: profile.TypeTLSHandshake, Stack: "crypto/tls.(*Conn).clientHandshake;crypto/tls.(*Conn).handshakeContext;net/http.(*persistConn).addTLS.func2", Value: 3600e6, Count: 3600},
		)
		return &plugins.Evidence{Capture: c, Profile: p}
	}
	f := plugintest.One(t, "tls-handshake", evidence(800e6, 5e9))
	if f == nil || f.Severity != plugins.Warning || f.Share != 0.16 {
		t.Fatalf("finding %+v, want a warning at 16%% of the CPU", f)
	}
	if got := plugintest.Figure(t, *f, "handshakes_per_s"); got != 600 {
		t.Errorf("rate %v/s, want 600", got)
	}
	if !strings.Contains(f.Detail, "They are full handshakes") || !strings.Contains(f.Detail, "Scored by the rate") || !strings.Contains(f.Advice, "Resume sessions") {
		t.Errorf("detail %q advice %q", f.Detail, f.Advice)
	}
	f = plugintest.One(t, "tls-handshake", evidence(250e6, 12500e6))
	if f != nil && f.Severity > plugins.Info {
		t.Errorf("600/s at 2%% of the CPU: [%s] %s: %s", f.Severity, f.Title, f.Detail)
	}
}
