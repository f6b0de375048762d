package fetch

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	deltapprof "github.com/grafana/pyroscope-go/godeltaprof/http/pprof"
)

// counted wraps h and counts its requests by path, with "?seconds" added
// for requests that have that parameter.
type counted struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *counted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Path
	if r.URL.Query().Has("seconds") {
		key += "?seconds"
	}
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

// take returns the counts so far and starts again from zero.
func (c *counted) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// deltaServer serves net/http/pprof and, with delta, godeltaprof's
// handlers, for this process, counting requests.
func deltaServer(t *testing.T, delta bool) (*Endpoint, *counted) {
	mux := pprofMux(false)
	if delta {
		mux.HandleFunc("/debug/pprof/delta_heap", deltapprof.Heap)
		mux.HandleFunc("/debug/pprof/delta_mutex", deltapprof.Mutex)
		mux.HandleFunc("/debug/pprof/delta_block", deltapprof.Block)
	}
	c := &counted{h: mux, n: map[string]int{}}
	s := serve(t, c)
	ep, err := NewEndpoint(s.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	return ep, c
}

const (
	plantBlock = 8 << 20 // far above the 512 KiB sampling rate: every block is sampled, scaled by ~1
	plantCount = 8
)

// planted holds what plantHeap allocated, so that it stays live.
var planted [][]byte

// plantHeap allocates plantCount blocks of plantBlock bytes and keeps them.
//
//go:noinline
func plantHeap() {
	for range plantCount {
		planted = append(planted, make([]byte, plantBlock))
	}
}

// heapWith returns the alloc_space and inuse_space of the samples whose
// stack has fn.
func heapWith(t *testing.T, p *profile.Profile, fn string) (alloc, inuse int64) {
	t.Helper()
	alloc, _ = valueWith(t, p, "alloc_space/bytes", fn)
	inuse, _ = valueWith(t, p, "inuse_space/bytes", fn)
	return alloc, inuse
}

// Over two windows, the heap profile counts what was allocated in each
// (the planted 64 MiB in the first, nothing of it in the second) and
// what is live at each end (64 MiB both times), whether it comes from
// godeltaprof's delta_heap or from two net/http/pprof heap snapshots. The
// mutex and block deltas come from delta_mutex and delta_block when they
// are served, from ?seconds=N otherwise, and the Endpoint remembers which.
func TestFetchHeapMutexBlockDelta(t *testing.T) {
	const want = plantBlock * plantCount
	opt := Options{Kinds: []string{"heap", "mutex", "block"}, Delta: true, Chunk: time.Second}
	for _, delta := range []bool{true, false} {
		t.Run(map[bool]string{true: "godeltaprof", false: "net/http/pprof"}[delta], func(t *testing.T) {
			planted = nil
			runtime.GC()
			ep, c := deltaServer(t, delta)
			stop := startWork(t, contendMutex)
			defer stop()
			plantedDone := make(chan struct{})
			go func() {
				defer close(plantedDone)
				time.Sleep(500 * time.Millisecond)
				plantHeap()
				// A heap profile is as of the last completed GC; the
				// second publishes the first one's allocations.
				runtime.GC()
				runtime.GC()
			}()
			res := Fetch(context.Background(), ep, 2*time.Second, opt)
			<-plantedDone
			if len(res.Skipped) != 0 {
				t.Errorf("Skipped = %q", res.Skipped)
			}
			if res.Heap == nil || res.Mutex == nil || res.Block == nil || res.CPU != nil || res.Goroutine != nil {
				t.Fatalf("heap %v mutex %v block %v cpu %v goroutine %v; want heap, mutex and block only",
					res.Heap != nil, res.Mutex != nil, res.Block != nil, res.CPU != nil, res.Goroutine != nil)
			}
			if res.Covered != 2*time.Second {
				t.Errorf("Covered = %v, want 2s", res.Covered)
			}
			alloc, inuse := heapWith(t, res.Heap, "plantHeap")
			t.Logf("window 1: plantHeap alloc %d inuse %d bytes", alloc, inuse)
			if alloc < want*95/100 || alloc > want*105/100 {
				t.Errorf("plantHeap allocated %d bytes in the window, want %d ± 5%%", alloc, want)
			}
			if inuse < want*95/100 || inuse > want*105/100 {
				t.Errorf("plantHeap has %d bytes live at the end, want %d ± 5%%", inuse, want)
			}
			if with, _ := valueWith(t, res.Mutex, "delay/nanoseconds", "contendMutex"); with <= 0 {
				t.Errorf("mutex delta has %d ns of contendMutex, want > 0", with)
			}
			n := c.take()
			t.Logf("requests: %v", n)
			wantReq := map[string]int{
				// a read to start, one per 1s chunk
				"/debug/pprof/delta_heap": 2, "/debug/pprof/delta_mutex": 3, "/debug/pprof/delta_block": 3,
			}
			if !delta {
				wantReq = map[string]int{
					// each tried once (404), then net/http/pprof
					"/debug/pprof/delta_heap": 1, "/debug/pprof/delta_mutex": 1, "/debug/pprof/delta_block": 1,
					"/debug/pprof/heap": 2, "/debug/pprof/mutex?seconds": 2, "/debug/pprof/block?seconds": 2,
				}
			}
			for path, w := range wantReq {
				if n[path] != w {
					t.Errorf("%d requests to %s, want %d", n[path], path, w)
				}
			}
			for _, path := range []string{"/debug/pprof/heap?seconds", "/debug/pprof/profile?seconds", "/debug/pprof/goroutine"} {
				if n[path] != 0 {
					t.Errorf("%d requests to %s, want none", n[path], path)
				}
			}
			for _, k := range []string{"heap", "mutex", "block"} {
				if got, ok := ep.Delta[k]; !ok || got != delta {
					t.Errorf("Endpoint.Delta[%s] = %v (known %v), want %v", k, got, ok, delta)
				}
			}

			// The second window allocates nothing of plantHeap's, which
			// is still live.
			res = Fetch(context.Background(), ep, time.Second, opt)
			if res.Heap == nil {
				t.Fatalf("no heap profile in the second window: %q", res.Skipped)
			}
			alloc, inuse = heapWith(t, res.Heap, "plantHeap")
			t.Logf("window 2: plantHeap alloc %d inuse %d bytes", alloc, inuse)
			if alloc != 0 {
				t.Errorf("plantHeap allocated %d bytes in the second window, want 0", alloc)
			}
			if inuse < want*95/100 || inuse > want*105/100 {
				t.Errorf("plantHeap has %d bytes live at the end of the second window, want %d ± 5%%", inuse, want)
			}
			n = c.take()
			if !delta {
				for _, path := range []string{"/debug/pprof/delta_heap", "/debug/pprof/delta_mutex", "/debug/pprof/delta_block"} {
					if n[path] != 0 {
						t.Errorf("second window: %d requests to %s, known not to be served", n[path], path)
					}
				}
			}
			runtime.KeepAlive(planted)
		})
	}
}

// Without Options.Delta, the delta handlers are never asked, even when
// served: attach keeps net/http/pprof's ?seconds=N.
func TestFetchNoDeltaByDefault(t *testing.T) {
	ep, c := deltaServer(t, true)
	res := Fetch(context.Background(), ep, time.Second, Options{Kinds: []string{"mutex", "block", "heap"}})
	if res.Mutex == nil || res.Block == nil || res.Heap == nil {
		t.Fatalf("mutex %v block %v heap %v: %q", res.Mutex != nil, res.Block != nil, res.Heap != nil, res.Skipped)
	}
	n := c.take()
	for path, w := range map[string]int{
		"/debug/pprof/delta_heap": 0, "/debug/pprof/delta_mutex": 0, "/debug/pprof/delta_block": 0,
		"/debug/pprof/heap": 2, "/debug/pprof/mutex?seconds": 1, "/debug/pprof/block?seconds": 1,
	} {
		if n[path] != w {
			t.Errorf("%d requests to %s, want %d", n[path], path, w)
		}
	}
	if ep.Delta != nil {
		t.Errorf("Endpoint.Delta = %v, want nil (never asked)", ep.Delta)
	}
}

// heapDiff keeps the end's inuse values and the alloc values of the end
// less the start's, dropping stacks with nothing left.
func TestHeapDiff(t *testing.T) {
	mk := func(vals map[string][4]int64) *profile.Profile {
		p := &profile.Profile{
			SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
				{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
			PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"}, Period: 512 * 1024,
		}
		for i, name := range []string{"a", "b", "c"} {
			v, ok := vals[name]
			if !ok {
				continue
			}
			f := &profile.Function{ID: uint64(i + 1), Name: name}
			l := &profile.Location{ID: uint64(i + 1), Line: []profile.Line{{Function: f}}}
			p.Function = append(p.Function, f)
			p.Location = append(p.Location, l)
			p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{l}, Value: v[:]})
		}
		return p
	}
	start := mk(map[string][4]int64{"a": {10, 1000, 5, 500}, "b": {4, 400, 4, 400}})
	start.TimeNanos = 1e9
	end := mk(map[string][4]int64{"a": {12, 1200, 1, 100}, "b": {4, 400, 0, 0}, "c": {3, 300, 3, 300}})
	end.TimeNanos = 3e9
	d, err := heapDiff(start, end)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][4]int64{}
	for _, s := range d.Sample {
		got[s.Location[0].Line[0].Function.Name] = [4]int64(s.Value)
	}
	want := map[string][4]int64{"a": {2, 200, 1, 100}, "c": {3, 300, 3, 300}}
	if len(got) != len(want) || got["a"] != want["a"] || got["c"] != want["c"] {
		t.Errorf("heapDiff = %v, want %v (b: nothing allocated, nothing live)", got, want)
	}
	if d.DurationNanos != 2e9 || d.TimeNanos != 3e9 {
		t.Errorf("time %d duration %d, want 3e9 and 2e9", d.TimeNanos, d.DurationNanos)
	}
}
