package symbolize

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDebuginfod(t *testing.T) {
	dir := buildDebug(t)
	withDebugDirs(t, filepath.Join(dir, "empty"))
	bin := filepath.Join(dir, "byid")
	tg := start(t, bin)
	ids, err := filepath.Glob(filepath.Join(dir, "root", ".build-id", "*", "*.debug"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("the build-id tree: %v, %v", ids, err)
	}
	debugFile := ids[0]
	id := filepath.Base(filepath.Dir(debugFile)) + strings.TrimSuffix(filepath.Base(debugFile), ".debug")
	debugSize := fileSize(t, debugFile)

	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/buildid/"+id+"/debuginfo" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, debugFile)
	}))
	defer srv.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	defer slow.Close()
	oldTimeout := DebuginfodTimeout
	DebuginfodTimeout = 300 * time.Millisecond
	defer func() { DebuginfodTimeout = oldTimeout }()

	var warnings []string
	DebuginfodWarn = func(msg string) { warnings = append(warnings, msg) }
	defer func() { DebuginfodWarn = nil }()

	symbolize := func(t *testing.T) Frame {
		t.Helper()
		clear(debuginfodDown)
		p, err := New().Process(tg.pid())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		return p.Symbolize(tg.addrs[0], false)
	}
	for _, tc := range []struct {
		name      string
		urls      string
		cache     string // "" for a new empty one
		known     bool
		hits      int32
		warnings  int
		cacheSize int64 // of id's file afterwards; -1 for absent
	}{
		{"unset", "", "", false, 0, 0, -1},
		{"fetched", srv.URL, "shared", true, 1, 0, debugSize},
		{"cached", down.URL, "shared", true, 0, 0, debugSize},
		{"not-found", missing.URL, "", false, 0, 0, -1},
		{"down", down.URL, "", false, 0, 1, -1},
		{"down-then-up", down.URL + " " + srv.URL, "", true, 1, 1, debugSize},
		{"slow", slow.URL, "", false, 0, 1, -1}, // given up after DebuginfodTimeout
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			if tc.cache != "" {
				cache = filepath.Join(dir, "cache-"+tc.cache)
			}
			t.Setenv("XDG_CACHE_HOME", cache)
			t.Setenv("DEBUGINFOD_URLS", tc.urls)
			hits.Store(0)
			warnings = nil
			start := time.Now()
			f := symbolize(t)
			if el := time.Since(start); el > DebuginfodTimeout+time.Second {
				t.Errorf("took %v, want at most the %v timeout (+1s)", el, DebuginfodTimeout)
			}
			if f.Known != tc.known || tc.known && f.Function != "plantedHotLoop" {
				t.Errorf("Function %q (known %v), want plantedHotLoop known=%v", f.Function, f.Known, tc.known)
			}
			if got := hits.Load(); got != tc.hits {
				t.Errorf("%d requests to the serving debuginfod, want %d", got, tc.hits)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
			cached := filepath.Join(cache, "perfprobe", "debuginfod", id+".debug")
			if got := fileSize(t, cached); got != tc.cacheSize {
				t.Errorf("cached file %s: %d bytes, want %d", cached, got, tc.cacheSize)
			}
		})
	}
}

func TestTrimCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"a.debug", "b.debug", "c.debug", "other"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now, now.Add(time.Duration(i)*time.Minute))
	}
	trimCache(dir, 250) // 300 bytes of .debug files: the oldest goes
	for name, want := range map[string]int64{"a.debug": -1, "b.debug": 100, "c.debug": 100, "other": 100} {
		if got := fileSize(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: %d bytes after trimming, want %d", name, got, want)
		}
	}
}

// fileSize is the size of p, or -1 when it does not exist.
func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// needTool returns the path of the program name, skipping the test when
// it is not installed, or failing it when PERFPROBE_REQUIRE_TOOLS=1.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed and PERFPROBE_REQUIRE_TOOLS=1 (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDebuginfodServer names a stripped program's planted function, with
// its file and line, through a real debuginfod server (elfutils', Debian's
// debuginfod package) serving a directory that holds the debug file; then,
// with the server stopped, the frame stays an address and Process.Warnings
// says which server failed, once.
func TestDebuginfodServer(t *testing.T) {
	server := needTool(t, "debuginfod", "debuginfod")
	dir := buildDebug(t)
	ids, err := filepath.Glob(filepath.Join(dir, "root", ".build-id", "*", "*.debug"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("the build-id tree: %v, %v", ids, err)
	}
	id := filepath.Base(filepath.Dir(ids[0])) + strings.TrimSuffix(filepath.Base(ids[0]), ".debug")
	work := t.TempDir()
	serve := filepath.Join(work, "serve")
	if err := os.MkdirAll(serve, 0o755); err != nil {
		t.Fatal(err)
	}
	debug, err := os.ReadFile(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(serve, "prog.debug"), debug, 0o644); err != nil {
		t.Fatal(err)
	}

	srv, base := startDebuginfod(t, server, work, serve, id)
	withDebugDirs(t, filepath.Join(dir, "empty"))
	t.Setenv("DEBUGINFOD_URLS", base)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(work, "cache"))
	clear(debuginfodDown)
	tg := start(t, filepath.Join(dir, "byid"))
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	f := p.Symbolize(tg.addrs[0], false)
	p.Close()
	if f.Function != "plantedHotLoop" || !f.Known {
		t.Errorf("through debuginfod: Function %q (known %v), want plantedHotLoop", f.Function, f.Known)
	}
	checkLine(t, f, 0, true)
	t.Logf("through debuginfod: %s at %s:%d", f.Function, f.File, f.Line)
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q with the server up", w)
	}

	// The server down: the frame stays an address, and one warning says so.
	srv.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := http.Get(base); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("debuginfod at %s still answers 10s after being killed", base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(work, "cache2"))
	clear(debuginfodDown)
	p, err = New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if f := p.Symbolize(tg.addrs[0], false); f.Known {
		t.Errorf("server down: %q known, want an address", f.Function)
	}
	w := p.Warnings()
	t.Logf("server down: %q", w)
	if len(w) != 1 || !strings.Contains(w[0], base) || !strings.Contains(w[0], "connection refused") {
		t.Errorf("server down: warnings %q, want one naming %s and the refused connection", w, base)
	}
}

// startDebuginfod starts debuginfod on a loopback port over the directory
// serve and waits until it serves build id id. A port taken between
// freePort and the server's bind makes it exit; another one is tried.
func startDebuginfod(t *testing.T, server, work, serve, id string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(work, "debuginfod.log")
	for try := 1; ; try++ {
		port := freePort(t)
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(server, "-F", "-p", strconv.Itoa(port), "-d", filepath.Join(work, fmt.Sprintf("db%d.sqlite", try)), "-t", "0", "-g", "0", serve)
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Start()
		logf.Close()
		if err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		// Until it has scanned the directory: polled, with a bound.
		for deadline := time.Now().Add(30 * time.Second); ; {
			if resp, err := http.Get(base + "/buildid/" + id + "/debuginfo"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd, base
				}
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(logPath)
				t.Fatalf("debuginfod at %s does not serve build id %s after 30s:\n%s", base, id, b)
			}
			select {
			case <-exited:
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
		if try == 3 {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("debuginfod exited 3 times:\n%s", b)
		}
	}
}
