package serve

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Every handler answers, and the profiles parse as pprof with the sample
// type of their kind; the rates are on while serving and set back after.
func TestServesEveryHandler(t *testing.T) {
	before := runtime.SetMutexProfileFraction(-1)
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != DefaultMutexFraction {
		t.Errorf("mutex profile fraction %d while serving, want %d", got, DefaultMutexFraction)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	profiles := map[string]string{ // path -> a sample type it must have
		"/debug/pprof/profile?seconds=1":       "cpu",
		"/debug/fgprof?seconds=1&format=pprof": "time",
		"/debug/pprof/heap":                    "inuse_space",
		"/debug/pprof/allocs":                  "alloc_space",
		"/debug/pprof/goroutine":               "goroutine",
		"/debug/pprof/mutex":                   "delay",
		"/debug/pprof/block":                   "delay",
		"/debug/pprof/threadcreate":            "threadcreate",
		"/debug/pprof/mutex?seconds=1":         "delay",
		"/debug/pprof/delta_heap":              "alloc_space",
		"/debug/pprof/delta_mutex":             "delay",
		"/debug/pprof/delta_block":             "delay",
	}
	var wg sync.WaitGroup
	for path, want := range profiles {
		wg.Go(func() {
			code, body := get(t, s.URL()+path)
			if code != http.StatusOK {
				t.Errorf("%s: %d %q", path, code, body[:min(len(body), 200)])
				return
			}
			p, err := profile.Parse(bytes.NewReader(body))
			if err != nil {
				t.Errorf("%s: not a pprof profile: %v", path, err)
				return
			}
			var types []string
			for _, st := range p.SampleType {
				types = append(types, st.Type)
			}
			if !strings.Contains(" "+strings.Join(types, " ")+" ", " "+want+" ") {
				t.Errorf("%s: sample types %v, want %s among them", path, types, want)
			}
		})
	}
	wg.Wait()
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/cmdline":           "serve.test",
		"/debug/pprof/trace?seconds=0.2": "go 1.",
		"/debug/pprof/symbol":            "num_symbols",
	} {
		code, body := get(t, s.URL()+path)
		if code != http.StatusOK || !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s: %d, want 200 and %q in %q", path, code, want, body[:min(len(body), 100)])
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != before {
		t.Errorf("mutex profile fraction %d after Close, want %d as before", got, before)
	}
	if _, err := http.Get(s.URL() + "/debug/pprof/"); err == nil {
		t.Error("still served after Close")
	}
}

const (
	plantBlock = 8 << 20 // far above the 512 KiB sampling rate: every block is sampled
	plantCount = 8
)

var planted [][]byte

//go:noinline
func plantHeap() {
	for range plantCount {
		planted = append(planted, make([]byte, plantBlock))
	}
}

// alloc returns the alloc_space of the delta_heap answer: all of it, and
// the part allocated by plantHeap.
func alloc(t *testing.T, s *Server) (total, plantedBytes int64) {
	t.Helper()
	code, body := get(t, s.URL()+"/debug/pprof/delta_heap")
	if code != http.StatusOK {
		t.Fatalf("delta_heap: %d", code)
	}
	p, err := profile.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "alloc_space" {
			idx = i
		}
	}
	for _, smp := range p.Sample {
		total += smp.Value[idx]
		for _, l := range smp.Location {
			if len(l.Line) > 0 && strings.HasSuffix(l.Line[0].Function.Name, ".plantHeap") {
				plantedBytes += smp.Value[idx]
				break
			}
		}
	}
	return total, plantedBytes
}

// delta_heap answers what was allocated since its last answer: little
// when nothing was, the planted 64 MiB when they were.
func TestDeltaHeap(t *testing.T) {
	s := start(t, Options{})
	runtime.GC()
	runtime.GC()
	alloc(t, s)
	runtime.GC()
	runtime.GC()
	quiet, _ := alloc(t, s)
	plantHeap()
	runtime.GC()
	runtime.GC()
	total, plantedBytes := alloc(t, s)
	t.Logf("quiet: %d bytes; after planting: %d bytes, %d by plantHeap", quiet, total, plantedBytes)
	const want = plantBlock * plantCount
	if quiet > 4<<20 {
		t.Errorf("%d bytes allocated between two reads with nothing planted, want under 4 MiB", quiet)
	}
	if plantedBytes < want*95/100 || plantedBytes > want*105/100 {
		t.Errorf("plantHeap allocated %d bytes, want %d ± 5%%", plantedBytes, want)
	}
	if total < plantedBytes || total > plantedBytes+4<<20 {
		t.Errorf("%d bytes allocated in all, want plantHeap's %d plus under 4 MiB", total, plantedBytes)
	}
	runtime.KeepAlive(planted)
	planted = nil
}

// Start's errors: a busy port, an address off loopback, a bad label, a
// bad URL whose password stays out of the message.
func TestStartErrors(t *testing.T) {
	s := start(t, Options{})
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Addr: s.Addr()}, "address already in use"},
		{Options{Addr: "0.0.0.0:0"}, "not a loopback address"},
		{Options{Addr: "6060"}, "give host:port"},
		{Options{Pyroscope: PyroscopeOptions{URL: "http://127.0.0.1:1", Labels: map[string]string{"a-b": "x"}}}, `label "a-b"`},
		{Options{Pyroscope: PyroscopeOptions{URL: "http://127.0.0.1:1", Labels: map[string]string{"pid": "x"}}}, "set by serve itself"},
		{Options{Pyroscope: PyroscopeOptions{URL: "ftp://u:hunter2@host"}}, "give one like"},
	} {
		got, err := Start(tc.o)
		if err == nil {
			got.Close()
			t.Errorf("Start(%+v) succeeded, want an error with %q", tc.o, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Start(%+v): %v, want %q and no password", tc.o, err, tc.want)
		}
	}
	var nilServer *Server
	if err := nilServer.Close(); err != nil {
		t.Errorf("Close of a nil Server: %v", err)
	}
}

// ingest records pyroscope-go's pushes: the name parameter, the tenant
// and the basic auth user of each.
type ingest struct {
	mu     sync.Mutex
	names  []string
	tenant []string
	users  []string
}

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	user, _, _ := r.BasicAuth()
	in.mu.Lock()
	defer in.mu.Unlock()
	if r.URL.Path == "/ingest" {
		in.names = append(in.names, r.URL.Query().Get("name"))
		in.tenant = append(in.tenant, r.Header.Get("X-Scope-OrgID"))
		in.users = append(in.users, user)
	}
}

func (in *ingest) snapshot() (names, tenants, users []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string{}, in.names...), append([]string{}, in.tenant...), append([]string{}, in.users...)
}

// With a Pyroscope URL, pyroscope-go pushes under the service name with
// the agent's labels (hostname, pid, comm, source="go") and the user's,
// authenticated and with the tenant; Close stops the pushes and leaves no
// goroutine behind.
func TestPyroscopePush(t *testing.T) {
	in := &ingest{}
	ps := httptest.NewServer(in)
	defer ps.Close()
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()

	s, err := Start(Options{ServiceName: "checkout", Pyroscope: PyroscopeOptions{
		URL: ps.URL, BasicAuthUser: "u", BasicAuthPassword: "hunter2", TenantID: "team-a",
		Labels: map[string]string{"region": "eu"}, UploadRate: time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	// A CPU profile over HTTP while pyroscope-go's profiler runs.
	if code, body := get(t, s.URL()+"/debug/pprof/profile?seconds=1"); code != http.StatusOK {
		t.Errorf("CPU profile while pushing: %d %q", code, body[:min(len(body), 200)])
	}
	deadline := time.Now().Add(10 * time.Second)
	var names []string
	for time.Now().Before(deadline) {
		if names, _, _ = in.snapshot(); len(names) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	names, tenants, users := in.snapshot()
	if len(names) == 0 {
		t.Fatal("no push arrived within 10s")
	}
	t.Logf("%d pushes, first %q", len(names), names[0])
	pid := strconv.Itoa(syscallGetpid())
	for i, n := range names {
		app, labels, ok := strings.Cut(strings.TrimSuffix(n, "}"), "{")
		if !ok || !strings.HasPrefix(app, "checkout") {
			t.Errorf("push name %q: want checkout{...}", n)
			continue
		}
		set := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			set[k] = v
		}
		for k, v := range map[string]string{"source": "go", "pid": pid, "comm": comm(), "hostname": hostname(), "region": "eu"} {
			if set[k] != v {
				t.Errorf("push %q: %s=%q, want %q", n, k, set[k], v)
			}
		}
		if tenants[i] != "team-a" || users[i] != "u" {
			t.Errorf("push %q: tenant %q user %q, want team-a and u", n, tenants[i], users[i])
		}
	}
	after := len(names)
	time.Sleep(1500 * time.Millisecond)
	if n, _, _ := in.snapshot(); len(n) != after {
		t.Errorf("%d pushes after Close", len(n)-after)
	}
	// Goroutines end shortly after Close (the HTTP server's connection
	// goroutines included); the client's idle connections are closed
	// first, as they would be counted.
	http.DefaultClient.CloseIdleConnections()
	var now int
	for range 50 {
		if now = runtime.NumGoroutine(); now <= before+1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now > before+1 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before Start:\n%s", now, before, buf[:runtime.Stack(buf, true)])
	}
}

// The servedemo program, started as a child process, is found by
// fetch.Discover from its sockets, as attach finds it, with fgprof and
// the delta handlers, and its CPU profile shows main.hotLoop.
func TestDiscoverServedemo(t *testing.T) {
	p := testtarget.Start(t, testtarget.Build(t, "servedemo"), "-duration", "30s")
	ctx := context.Background()
	ep, err := fetch.Discover(ctx, p.PID, fetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Base != "http://"+p.Addr || ep.Fgprof == "" {
		t.Errorf("Discover found %s (fgprof %q), want http://%s with fgprof", ep.Base, ep.Fgprof, p.Addr)
	}
	res := fetch.Fetch(ctx, ep, time.Second, fetch.Options{Kinds: []string{"cpu", "heap"}, Delta: true})
	if len(res.Skipped) > 0 || res.CPU == nil || res.Heap == nil {
		t.Fatalf("cpu %v heap %v skipped %q", res.CPU != nil, res.Heap != nil, res.Skipped)
	}
	if !ep.Delta["heap"] {
		t.Errorf("Endpoint.Delta = %v, want heap served", ep.Delta)
	}
	var hot, total int64
	for _, smp := range res.CPU.Sample {
		total += smp.Value[1]
		for _, l := range smp.Location {
			if len(l.Line) > 0 && l.Line[len(l.Line)-1].Function.Name == "main.hotLoop" {
				hot += smp.Value[1]
				break
			}
		}
	}
	share := float64(hot) / float64(max(total, 1))
	t.Logf("main.hotLoop: %.0f%% of %v CPU", 100*share, time.Duration(total))
	if share < 0.8 {
		t.Errorf("main.hotLoop has %.0f%% of the CPU profile, want at least 80%%", 100*share)
	}
	// hotLoop spins on one core; the machine may be shared, so only a
	// floor well under that.
	if total < int64(200*time.Millisecond) {
		t.Errorf("CPU profile of 1s has %v, want at least 0.2s", time.Duration(total))
	}
}
