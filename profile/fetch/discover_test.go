package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Discover tests look at this test process's own listening sockets, so
// they do not run in parallel (parallel tests start after them).

// listen serves h on addr in this process until the test ends.
func listen(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "0.0.0.0:") {
		network = "tcp4" // "tcp" would listen dual-stack on ::
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listening on %s: %v", addr, err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func port(t *testing.T, s *httptest.Server) int {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDiscoverSelf(t *testing.T) {
	for _, tc := range []struct {
		listen, host string
	}{
		{"127.0.0.1:0", "127.0.0.1"},
		{"0.0.0.0:0", "127.0.0.1"},
		{"[::1]:0", "[::1]"},
		{":0", "[::1]"}, // dual-stack ::
	} {
		t.Run(tc.listen, func(t *testing.T) {
			s := listen(t, tc.listen, pprofMux(true))
			base := fmt.Sprintf("http://%s:%d", tc.host, port(t, s))
			ep, err := Discover(context.Background(), os.Getpid(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ep.Base != base || ep.Dir != base+"/debug/pprof/" || ep.Fgprof != base+"/debug/fgprof" {
				t.Errorf("Base %q Dir %q Fgprof %q, want %s", ep.Base, ep.Dir, ep.Fgprof, base)
			}
			if ep.PID != os.Getpid() || ep.Insecure || len(ep.Notes) != 0 {
				t.Errorf("PID %d Insecure %v Notes %q", ep.PID, ep.Insecure, ep.Notes)
			}
		})
	}
}

// TestDiscoverPrefersPprofPort: of two ports, the one serving pprof wins,
// whatever the order; the other is named nowhere.
func TestDiscoverPrefersPprofPort(t *testing.T) {
	other := listen(t, "127.0.0.1:0", http.NotFoundHandler())
	s := listen(t, "127.0.0.1:0", pprofMux(false))
	ep, err := Discover(context.Background(), os.Getpid(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := s.URL; ep.Base != want {
		t.Errorf("Base = %q, want %q (not port %d)", ep.Base, want, port(t, other))
	}
	if ep.Fgprof != "" || ep.FgprofNote != "fgprof not served at /debug/fgprof (404): add fgprof.Handler() to the target to get wall-clock profiles" {
		t.Errorf("Fgprof %q, FgprofNote %q", ep.Fgprof, ep.FgprofNote)
	}
}

// TestDiscoverRedirectPrefix: the pprof handlers live under /admin and
// /debug/pprof/ redirects there.
func TestDiscoverRedirectPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", pprofMux(true)))
	mux.Handle("/debug/pprof/", http.RedirectHandler("/admin/debug/pprof/", http.StatusFound))
	s := listen(t, "127.0.0.1:0", mux)
	ep, err := Discover(context.Background(), os.Getpid(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Base != s.URL+"/admin" || ep.Dir != s.URL+"/admin/debug/pprof/" || ep.Fgprof != s.URL+"/admin/debug/fgprof" {
		t.Errorf("Base %q Dir %q Fgprof %q", ep.Base, ep.Dir, ep.Fgprof)
	}
	// The directory works for a profile.
	f := &fetcher{ep: ep, client: newClient(ep, nil)}
	p, fail := f.one(context.Background(), kGoroutine, ep.Dir+"goroutine", 5*time.Second)
	if fail != nil || len(p.Sample) == 0 {
		t.Errorf("goroutine profile through the prefix: %+v", fail)
	}
}

func TestDiscoverTLS(t *testing.T) {
	s := httptest.NewUnstartedServer(pprofMux(true))
	// Discovery must leave no trace in the target's log: a plain HTTP
	// probe of a TLS port would log a handshake error there.
	var serverLog bytes.Buffer
	var logMu sync.Mutex
	s.Config.ErrorLog = log.New(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return serverLog.Write(b)
	}), "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		logMu.Lock()
		defer logMu.Unlock()
		if serverLog.Len() > 0 {
			t.Errorf("discovery made the target log: %q", serverLog.String())
		}
	})
	ep, err := Discover(context.Background(), os.Getpid(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Base != s.URL || !strings.HasPrefix(ep.Base, "https://127.0.0.1:") || !ep.Insecure || ep.Fgprof != s.URL+"/debug/fgprof" {
		t.Errorf("Base %q (want %q) Insecure %v Fgprof %q", ep.Base, s.URL, ep.Insecure, ep.Fgprof)
	}
	want := fmt.Sprintf("TLS port %d on loopback: certificate not verified", port(t, s))
	if len(ep.Notes) != 1 || ep.Notes[0] != want {
		t.Errorf("Notes = %q, want %q", ep.Notes, want)
	}
	// The endpoint's client fetches from it.
	f := &fetcher{ep: ep, client: newClient(ep, nil)}
	if _, fail := f.one(context.Background(), kGoroutine, ep.Dir+"goroutine", 5*time.Second); fail != nil {
		t.Errorf("goroutine over TLS: %s", fail.cause)
	}
}

// TestDiscoverPrefersPlain: a service serving pprof on a TLS port and a
// plain one (the demo does) is read over plain HTTP.
func TestDiscoverPrefersPlain(t *testing.T) {
	// Ports are probed in ascending order: put the plain one above the
	// TLS one, so that taking the first found would take TLS. The TLS
	// server takes the first free port below the plain one (a random
	// ephemeral port near the top of the range may have none above it).
	plain := listen(t, "127.0.0.1:0", pprofMux(true))
	var ln net.Listener
	for p := port(t, plain) - 1; p > 1024 && ln == nil; p-- {
		ln, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	}
	if ln == nil {
		t.Fatal("no free port below the plain one")
	}
	tlsSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: pprofMux(true), ErrorLog: log.New(io.Discard, "", 0)}}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ep, err := Discover(context.Background(), os.Getpid(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pprof is also served on port %d", port(t, tlsSrv))
	if ep.Base != plain.URL || !slices.Contains(ep.Notes, want) {
		t.Errorf("Base %q Notes %q: want %q and the note %q", ep.Base, ep.Notes, plain.URL, want)
	}
}

func TestDiscoverNoListeners(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	_, err := Discover(context.Background(), cmd.Process.Pid, Options{})
	want := fmt.Sprintf("pid %d has no listening TCP sockets", cmd.Process.Pid)
	if !errors.Is(err, ErrNoListeners) || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want ErrNoListeners %q", err, want)
	}
}

func TestDiscoverNoProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	_, err := Discover(context.Background(), cmd.Process.Pid, Options{})
	if !errors.Is(err, ErrNoProcess) {
		t.Errorf("err = %v, want ErrNoProcess", err)
	}
}

func TestDiscoverNotPprof(t *testing.T) {
	s := listen(t, "127.0.0.1:0", http.NotFoundHandler())
	start := time.Now()
	_, err := Discover(context.Background(), os.Getpid(), Options{})
	if !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("err = %v, want ErrNoEndpoint", err)
	}
	p := port(t, s)
	want := fmt.Sprintf("no pprof endpoint on pid %d's ports %d (import net/http/pprof or give --pprof-url); %d: /debug/pprof/ answered 404 Not Found",
		os.Getpid(), p, p)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q\nwant %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Discover took %v", d)
	}
}

// TestDiscoverHangingPort: a port that accepts but never answers costs the
// per-port timeout, and the pprof port is still found.
func TestDiscoverHangingPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := listen(t, "127.0.0.1:0", pprofMux(false))
	start := time.Now()
	ep, err := Discover(context.Background(), os.Getpid(), Options{})
	if err != nil || ep.Base != s.URL {
		t.Fatalf("Discover = %v, %v; want %s", ep, err, s.URL)
	}
	if d := time.Since(start); d > probeTimeout+time.Second {
		t.Errorf("Discover took %v, want about the %v port timeout", d, probeTimeout)
	}
}

// TestDiscoverOtherNetns runs the target in a network namespace of its own:
// its 127.0.0.1 is not ours, and Discover connects from inside it.
func TestDiscoverOtherNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -n and setns")
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		t.Skip("unshare -n:", err)
	}
	cmd, addr := startHelper(t, "unshare", "-n", "--", "sh", "-c", `ip link set lo up && exec "$0" -test.run='^$'`)
	pid := cmd.Process.Pid
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Logf("%s also reachable from our namespace (a port clash); the test still holds", addr)
	}
	ep, err := Discover(context.Background(), pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Base != "http://"+addr || ep.Fgprof == "" || len(ep.Notes) != 1 || !strings.Contains(ep.Notes[0], "another network namespace") {
		t.Errorf("Base %q (want http://%s) Fgprof %q Notes %q", ep.Base, addr, ep.Fgprof, ep.Notes)
	}
	res := Fetch(context.Background(), ep, time.Second, Options{})
	if res.CPU == nil || res.Wall == nil || res.Goroutine == nil {
		t.Errorf("cpu %v wall %v goroutine %v; Skipped %q", res.CPU != nil, res.Wall != nil, res.Goroutine != nil, res.Skipped)
	}
}

// TestDiscoverChildAndProfilingOff finds another process's endpoint and
// fetches from it; mutex and block profiling are off there.
func TestDiscoverChildAndProfilingOff(t *testing.T) {
	cmd, addr := startHelper(t)
	ep, err := Discover(context.Background(), cmd.Process.Pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Base != "http://"+addr || ep.Fgprof != "http://"+addr+"/debug/fgprof" {
		t.Errorf("Base %q Fgprof %q, want http://%s", ep.Base, ep.Fgprof, addr)
	}
	res := Fetch(context.Background(), ep, time.Second, Options{})
	want := []string{
		"mutex profile: no samples: mutex profiling is off in the target (runtime.SetMutexProfileFraction)",
		"block profile: no samples: block profiling is off in the target (runtime.SetBlockProfileRate)",
	}
	if strings.Join(res.Skipped, "\n") != strings.Join(want, "\n") {
		t.Errorf("Skipped = %q\nwant %q", res.Skipped, want)
	}
	if res.CPU == nil || res.Wall == nil || res.Goroutine == nil || res.Mutex != nil || res.Block != nil {
		t.Errorf("cpu %v wall %v goroutine %v mutex %v block %v", res.CPU != nil, res.Wall != nil, res.Goroutine != nil, res.Mutex != nil, res.Block != nil)
	}
	if res.Covered != time.Second {
		t.Errorf("Covered = %v", res.Covered)
	}
}

// TestFetchTargetExits: the target exits during the second of three chunks.
func TestFetchTargetExits(t *testing.T) {
	cmd, _ := startHelper(t)
	ep, err := Discover(context.Background(), cmd.Process.Pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Killed rather than asked to exit: a -race binary keeps serving for a
	// while after os.Exit.
	time.AfterFunc(1500*time.Millisecond, func() { cmd.Process.Kill() })
	res := Fetch(context.Background(), ep, 3*time.Second, Options{Chunk: time.Second})
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("Fetch took %v; the target exited at 1.5s", d)
	}
	want := fmt.Sprintf("Go profiles: the target (pid %d) exited; the Go profiles cover 1s of the window", cmd.Process.Pid)
	if len(res.Skipped) != 1 || res.Skipped[0] != want {
		t.Errorf("Skipped = %q\nwant [%q]", res.Skipped, want)
	}
	if res.Covered != time.Second || res.CPU == nil || res.Wall == nil || res.Goroutine != nil {
		t.Errorf("Covered %v cpu %v wall %v goroutine %v; want 1s of CPU and wall, no snapshot", res.Covered, res.CPU != nil, res.Wall != nil, res.Goroutine != nil)
	}
}

// TestDiscoverPermission runs Discover as an unprivileged user against
// this (root) process.
func TestDiscoverPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is private; copy it where nobody can
	// run it.
	dir, err := os.MkdirTemp("", "fetchtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fetch.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "FETCH_TEST_HELPER=discover", fmt.Sprintf("FETCH_TEST_PID=%d", os.Getpid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("running as nobody: %v %s", err, out)
	}
	want := fmt.Sprintf("reading pid %d's open files in /proc/%d/fd: permission denied (run perfprobe as root, or give --pprof-url)", os.Getpid(), os.Getpid())
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("as nobody: %q\nwant %q", got, want)
	}
}

func TestDiscoverUserURL(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", pprofMux(true)))
	s := serve(t, mux)
	for _, u := range []string{s.URL + "/admin", s.URL + "/admin/", s.URL + "/admin/debug/pprof/", s.URL + "/admin/debug/pprof"} {
		ep, err := Discover(context.Background(), 0, Options{URL: u})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if ep.Base != s.URL+"/admin" || ep.Dir != s.URL+"/admin/debug/pprof/" || ep.Fgprof != s.URL+"/admin/debug/fgprof" {
			t.Errorf("%s: Base %q Dir %q Fgprof %q", u, ep.Base, ep.Dir, ep.Fgprof)
		}
	}
	// A directory that is not /debug/pprof/ (handlers mounted one by one).
	mux2 := http.NewServeMux()
	mux2.Handle("/pprof/", http.StripPrefix("/pprof", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/debug/pprof" + r.URL.Path
		pprofMux(false).ServeHTTP(w, r)
	})))
	s2 := serve(t, mux2)
	ep, err := Discover(context.Background(), 0, Options{URL: s2.URL + "/pprof"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Dir != s2.URL+"/pprof/" || ep.Base != s2.URL || ep.Fgprof != "" {
		t.Errorf("Base %q Dir %q Fgprof %q", ep.Base, ep.Dir, ep.Fgprof)
	}

	_, err = Discover(context.Background(), 0, Options{URL: serve(t, http.NotFoundHandler()).URL})
	if !errors.Is(err, ErrNoEndpoint) || !strings.Contains(err.Error(), "/debug/pprof/ answered 404 Not Found") {
		t.Errorf("404 server: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@h:1/admin": "http://user:xxxxx@h:1/admin",
		"http://h:1":                   "http://h:1",
		"%%":                           "%%",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, base, dir, err string
	}{
		{in: "http://127.0.0.1:6060", base: "http://127.0.0.1:6060", dir: "http://127.0.0.1:6060/debug/pprof/"},
		{in: "http://127.0.0.1:6060/", base: "http://127.0.0.1:6060", dir: "http://127.0.0.1:6060/debug/pprof/"},
		{in: "https://host:8443/debug/pprof/", base: "https://host:8443", dir: "https://host:8443/debug/pprof/"},
		{in: "http://[::1]:6060/debug/pprof", base: "http://[::1]:6060", dir: "http://[::1]:6060/debug/pprof/"},
		{in: " http://h:1/admin/ ", base: "http://h:1/admin", dir: "http://h:1/admin/debug/pprof/"},
		{in: "http://h:1/admin/debug/pprof/", base: "http://h:1/admin", dir: "http://h:1/admin/debug/pprof/"},
		{in: "", err: "pprof URL is empty: give one like http://127.0.0.1:6060"},
		{in: "localhost:6060", err: `pprof URL "localhost:6060" has no scheme: write it as http://localhost:6060`},
		{in: "ftp://h:1/", err: `pprof URL "ftp://h:1/": scheme "ftp" is not http or https`},
		{in: "http://:6060", err: `pprof URL "http://:6060" has no host`},
		{in: "http://h:port", err: `pprof URL "http://h:port": invalid port ":port" after host`},
		{in: "http://h:1/debug/pprof/?seconds=5", err: `pprof URL "http://h:1/debug/pprof/?seconds=5" must not have a query or fragment`},
	} {
		ep, err := NewEndpoint(tc.in, false)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("NewEndpoint(%q) error %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("NewEndpoint(%q): %v", tc.in, err)
		case ep.Base != tc.base || ep.Dir != tc.dir || ep.Fgprof != tc.base+"/debug/fgprof":
			t.Errorf("NewEndpoint(%q) = Base %q Dir %q Fgprof %q, want %q %q", tc.in, ep.Base, ep.Dir, ep.Fgprof, tc.base, tc.dir)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
