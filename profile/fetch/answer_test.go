package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/felixge/fgprof"
)

// badTarget is a pprof target whose handlers are the real ones (mutex,
// block, goroutine, fgprof) except those in override; the CPU handler is a
// stand-in serving a canned profile unless overridden, so that these tests
// can run in parallel.
func badTarget(t *testing.T, override map[string]http.Handler) *httptest.Server {
	handlers := map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile": cpuStandIn("application/octet-stream", cannedCPU()),
		"/debug/fgprof":        fgprof.Handler(),
	}
	maps.Copy(handlers, override)
	mux := http.NewServeMux()
	for path, h := range handlers {
		mux.Handle(path, h)
	}
	return serve(t, mux)
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// TestFetchBadAnswers: each broken answer gives exactly one Skipped line,
// the rest is fetched, and Fetch returns in bounded time.
func TestFetchBadAnswers(t *testing.T) {
	text := func(status int, msg string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Go-Pprof", "1")
			w.WriteHeader(status)
			fmt.Fprintln(w, msg)
		})
	}
	canned := cannedCPU()
	cases := []struct {
		name     string
		override map[string]http.Handler
		opt      Options
		want     string // the one Skipped line
		missing  kind
	}{{
		name:     "fgprof 404",
		override: map[string]http.Handler{"/debug/fgprof": http.NotFoundHandler()},
		want:     "wall-clock profile: fgprof not served at /debug/fgprof (404): add fgprof.Handler() to the target to get wall-clock profiles",
		missing:  kWall,
	}, {
		name:     "mutex 500 with text",
		override: map[string]http.Handler{"/debug/pprof/mutex": text(500, "failed to collect profile")},
		want:     "mutex profile: /debug/pprof/mutex answered 500 Internal Server Error: failed to collect profile",
		missing:  kMutex,
	}, {
		name:     "WriteTimeout",
		override: map[string]http.Handler{"/debug/pprof/profile": text(400, "profile duration exceeds server's WriteTimeout")},
		want:     "CPU profile: /debug/pprof/profile answered 400 Bad Request: profile duration exceeds server's WriteTimeout (the target's http.Server WriteTimeout is shorter than the profile: raise it)",
		missing:  kCPU,
	}, {
		name:     "HTML instead of profile",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("text/html; charset=utf-8", []byte("<!doctype html><html><body>Welcome</body></html>"))},
		want:     "CPU profile: /debug/pprof/profile: got an HTML page, not a profile (a web app's catch-all page? check the URL)",
		missing:  kCPU,
	}, {
		name:     "HTML without content type",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("application/octet-stream", []byte("\n  <html><body>Welcome</body></html>"))},
		want:     "CPU profile: /debug/pprof/profile: got an HTML page, not a profile (a web app's catch-all page? check the URL)",
		missing:  kCPU,
	}, {
		name:     "text instead of profile",
		override: map[string]http.Handler{"/debug/pprof/block": text(200, "--- contention:\ncycles/second=1000")},
		want:     `block profile: /debug/pprof/block: got text, not a profile: "--- contention:"`,
		missing:  kBlock,
	}, {
		name:     "truncated gzip",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("application/octet-stream", canned[:len(canned)/2])},
		want:     fmt.Sprintf("CPU profile: /debug/pprof/profile: truncated gzip answer: it ends after %d bytes", len(canned)/2),
		missing:  kCPU,
	}, {
		name:     "garbage",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("application/octet-stream", []byte("\x00\x01\x02garbage\xff"))},
		want:     "CPU profile: /debug/pprof/profile: not a pprof profile: parsing profile:",
		missing:  kCPU,
	}, {
		name:     "wrong profile type",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("application/octet-stream", goroutineProfile())},
		want:     "CPU profile: /debug/pprof/profile: the profile has sample types goroutine/count, not cpu/nanoseconds (wrong handler?)",
		missing:  kCPU,
	}, {
		name:     "oversized",
		override: map[string]http.Handler{"/debug/pprof/profile": cpuStandIn("application/octet-stream", make([]byte, 1<<20))},
		opt:      Options{maxBody: 256 << 10},
		want:     "CPU profile: answer larger than 256 KiB: not reading it",
		missing:  kCPU,
	}}
	// The cases run concurrently (t.Parallel would be limited to GOMAXPROCS
	// at a time, and each takes a 1s window).
	type run struct {
		res  *Result
		took time.Duration
	}
	runs := make([]run, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		s := badTarget(t, tc.override)
		ep, _ := NewEndpoint(s.URL, false)
		wg.Go(func() {
			start := time.Now()
			runs[i].res = Fetch(context.Background(), ep, time.Second, tc.opt)
			runs[i].took = time.Since(start)
		})
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runs[i].res
			// Well under the 11s after which a request would time out (more
			// than 1s: ten of these run at once with real fgprof handlers).
			if runs[i].took > 5*time.Second {
				t.Errorf("Fetch took %v for a 1s window", runs[i].took)
			}
			if len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0], tc.want) {
				t.Fatalf("Skipped = %q\nwant [%q...]", res.Skipped, tc.want)
			}
			got := [nKinds]bool{res.CPU != nil, res.Wall != nil, res.Mutex != nil, res.Block != nil, res.Goroutine != nil}
			if res.Heap != nil {
				t.Error("heap profile fetched without being asked")
			}
			for k := range kHeap {
				if got[k] == (k == tc.missing) {
					t.Errorf("%s profile fetched: %v", kindInfo[k].name, got[k])
				}
			}
			if res.Covered != time.Second {
				t.Errorf("Covered = %v", res.Covered)
			}
		})
	}
}

// TestFetchBrokenEndpoint: when the whole endpoint is broken, every kind
// fails for the same reason, reported once.
func TestFetchBrokenEndpoint(t *testing.T) {
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	loop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.String(), http.StatusFound)
	})
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "http://" + ln.Addr().String()
	}()
	tlsSrv := httptest.NewUnstartedServer(pprofMux(false))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := serve(t, pprofMux(false))
	hostOf := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }

	cases := []struct {
		name, url string
		opt       Options
		want      string
		max       time.Duration
	}{{
		name: "never answers",
		url:  serve(t, hang).URL,
		opt:  Options{Slack: 300 * time.Millisecond},
		want: "Go profiles: no answer within 1.3s (timed out)",
		max:  2 * time.Second,
	}, {
		name: "connection refused",
		url:  closed,
		want: fmt.Sprintf("Go profiles: connection refused at %s (is the target still listening there?)", hostOf(closed)),
		max:  time.Second,
	}, {
		name: "redirect loop",
		url:  serve(t, loop).URL,
		want: "Go profiles: redirect loop: more than 5 redirects (a redirect loop?)",
		max:  time.Second,
	}, {
		name: "404 everywhere",
		url:  serve(t, http.NotFoundHandler()).URL,
		want: "Go profiles: no pprof handlers at %s/debug/pprof/ (404 for every profile): check --pprof-url",
		max:  time.Second,
	}, {
		name: "http to a TLS port",
		url:  "http://" + hostOf(tlsSrv.URL),
		want: fmt.Sprintf("Go profiles: %s serves HTTPS: use https://", hostOf(tlsSrv.URL)),
		max:  time.Second,
	}, {
		name: "untrusted certificate",
		url:  tlsSrv.URL,
		want: fmt.Sprintf("Go profiles: TLS certificate of %s not trusted (tls: failed to verify certificate: x509: certificate signed by unknown authority): give --insecure to skip verification", hostOf(tlsSrv.URL)),
		max:  time.Second,
	}, {
		name: "https to a plain port",
		url:  "https://" + hostOf(plain.URL),
		want: fmt.Sprintf("Go profiles: %s does not speak TLS: use http://", hostOf(plain.URL)),
		max:  time.Second,
	}}
	type run struct {
		res  *Result
		took time.Duration
	}
	runs := make([]run, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		ep, err := NewEndpoint(tc.url, false)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			start := time.Now()
			runs[i].res = Fetch(context.Background(), ep, time.Second, tc.opt)
			runs[i].took = time.Since(start)
		})
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runs[i].res
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, tc.url)
			}
			if runs[i].took > tc.max {
				t.Errorf("Fetch took %v, want ≤ %v", runs[i].took, tc.max)
			}
			if len(res.Skipped) != 1 || res.Skipped[0] != want {
				t.Errorf("Skipped = %q\nwant [%q]", res.Skipped, want)
			}
			if res.CPU != nil || res.Wall != nil || res.Mutex != nil || res.Block != nil || res.Goroutine != nil || res.Covered != 0 {
				t.Errorf("got profiles from a broken endpoint: %+v", res)
			}
		})
	}
}

// TestFetchInsecure: with Insecure, the untrusted certificate is accepted.
func TestFetchInsecure(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.Handle("/debug/pprof/profile", cpuStandIn("application/octet-stream", cannedCPU()))
	s := httptest.NewTLSServer(mux)
	t.Cleanup(s.Close)
	ep, _ := NewEndpoint(s.URL, true)
	res := Fetch(context.Background(), ep, time.Second, Options{})
	if res.CPU == nil || res.Goroutine == nil || len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0], "wall-clock profile: fgprof not served") {
		t.Errorf("cpu %v goroutine %v Skipped %q", res.CPU != nil, res.Goroutine != nil, res.Skipped)
	}
}

func TestParseProfileAnswer(t *testing.T) {
	canned := cannedCPU()
	p, err := parseProfileAnswer(canned, "application/octet-stream", 1<<20)
	if err != nil || !hasSampleType(p, "cpu/nanoseconds") || len(p.Sample) != 1 || p.Sample[0].Value[1] != 30_000_000 {
		t.Fatalf("canned CPU profile: %v, %v", p, err)
	}
	bomb := gzipped(make([]byte, 2<<20))
	for _, tc := range []struct {
		body []byte
		ct   string
		want string
	}{
		{nil, "application/octet-stream", "empty answer instead of a profile"},
		{[]byte("Could not enable CPU profiling\n"), "text/plain; charset=utf-8", `got text, not a profile: "Could not enable CPU profiling"`},
		{[]byte(`{"error":"nope"}`), "application/json", `got text, not a profile: "{\"error\":\"nope\"}"`},
		{[]byte("<html></html>"), "", "got an HTML page, not a profile"},
		{bomb, "application/octet-stream", "profile larger than 1 MiB once decompressed: not reading it"},
		{canned[:20], "application/octet-stream", "truncated gzip answer: it ends after 20 bytes"},
		{canned[:5], "application/octet-stream", "corrupt gzip answer: unexpected EOF"},
	} {
		_, err := parseProfileAnswer(tc.body, tc.ct, 1<<20)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("parseProfileAnswer(%.20q, %q) = %v, want %q", tc.body, tc.ct, err, tc.want)
		}
	}
}

func TestServerMessage(t *testing.T) {
	for in, want := range map[string]string{
		"\n\n  Could not enable CPU profiling: cpu profiling already in use\nmore": "Could not enable CPU profiling: cpu profiling already in use",
		"bad\x00bytes\xff":       "bad?bytes?",
		strings.Repeat("é", 300): strings.Repeat("é", 200) + "…",
		"":                       "",
	} {
		if got := serverMessage([]byte(in)); got != want {
			t.Errorf("serverMessage(%.30q) = %q, want %q", in, got, want)
		}
	}
}
