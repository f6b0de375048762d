package symbolize

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
