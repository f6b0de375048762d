package fetch

import (
	"context"
	"math"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file use the runtime's one CPU profiler through the
// real handlers, so they do not run in parallel.

func TestFetchRealHandlers(t *testing.T) {
	srv := serve(t, pprofMux(true))
	ep, err := NewEndpoint(srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(*atomic.Bool){spinTestWork, sleepTestWork, contendMutex, blockOnChan} {
		startWork(t, f)
	}
	const window = 2 * time.Second
	start := time.Now()
	res := Fetch(context.Background(), ep, window, Options{})
	elapsed := time.Since(start)
	if len(res.Skipped) != 0 {
		t.Errorf("Skipped = %q, want none", res.Skipped)
	}
	if res.Covered != window {
		t.Errorf("Covered = %v, want %v", res.Covered, window)
	}
	if elapsed < window || elapsed > window+3*time.Second {
		t.Errorf("Fetch took %v for a %v window", elapsed, window)
	}
	if res.Endpoint != srv.URL {
		t.Errorf("Endpoint = %q, want %q", res.Endpoint, srv.URL)
	}

	if res.CPU == nil {
		t.Fatal("no CPU profile")
	}
	spin, total := valueWith(t, res.CPU, "cpu/nanoseconds", ".spinTestWork")
	t.Logf("CPU: spinTestWork %v of %v", time.Duration(spin), time.Duration(total))
	if total == 0 || float64(spin)/float64(total) <= 0.5 {
		t.Errorf("spinTestWork has %v of %v CPU, want > 50%%", time.Duration(spin), time.Duration(total))
	}

	if res.Wall == nil {
		t.Fatal("no wall-clock profile")
	}
	sleep, _ := valueWith(t, res.Wall, "time/nanoseconds", ".sleepTestWork")
	t.Logf("wall: sleepTestWork %v", time.Duration(sleep))
	if d := math.Abs(float64(sleep)-float64(window)) / float64(window); d > 0.25 {
		t.Errorf("sleepTestWork wall time %v, want %v ± 25%%", time.Duration(sleep), window)
	}

	if res.Mutex == nil || res.Block == nil {
		t.Fatalf("mutex %v, block %v: want both", res.Mutex != nil, res.Block != nil)
	}
	n, _ := valueWith(t, res.Mutex, "contentions/count", ".contendMutex")
	delay, _ := valueWith(t, res.Mutex, "delay/nanoseconds", ".contendMutex")
	t.Logf("mutex: contendMutex %d contentions, %v", n, time.Duration(delay))
	// Each goroutine holds the lock 200µs while the other waits: thousands
	// of contentions in 2s, and well over a tenth of the window waited.
	if n < 100 || time.Duration(delay) < window/10 {
		t.Errorf("mutex delta: contendMutex %d contentions, %v delay; want ≥ 100 and ≥ %v", n, time.Duration(delay), window/10)
	}
	if res.Mutex.DurationNanos < int64(window)*9/10 {
		t.Errorf("mutex delta covers %v, want ≈ %v", time.Duration(res.Mutex.DurationNanos), window)
	}
	bn, _ := valueWith(t, res.Block, "contentions/count", ".blockOnChan")
	t.Logf("block: blockOnChan %d events", bn)
	if bn < 100 {
		t.Errorf("block delta: blockOnChan %d events, want ≥ 100 (one per ms)", bn)
	}

	if res.Goroutine == nil {
		t.Fatal("no goroutine snapshot")
	}
	if g, _ := valueWith(t, res.Goroutine, "goroutine/count", ".sleepTestWork"); g != 1 {
		t.Errorf("goroutine snapshot: %d goroutines in sleepTestWork, want 1", g)
	}
}

func TestFetchOpenEndedChunks(t *testing.T) {
	srv := serve(t, pprofMux(true))
	ep, _ := NewEndpoint(srv.URL, false)
	startWork(t, spinTestWork)
	startWork(t, sleepTestWork)
	ctx, cancel := context.WithCancel(context.Background())
	// Chunks are whole seconds (the handlers take integer seconds): 300ms
	// becomes 1s. A chunk takes a little over 1s (more under -race), so by
	// 4.5s two or three have completed and the next one is in flight.
	const cancelAt = 4500 * time.Millisecond
	time.AfterFunc(cancelAt, cancel)
	start := time.Now()
	res := Fetch(ctx, ep, 0, Options{Chunk: 300 * time.Millisecond})
	afterCancel := time.Since(start) - cancelAt
	if afterCancel > 2*time.Second {
		t.Errorf("Fetch returned %v after the cancel", afterCancel)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("Skipped = %q", res.Skipped)
	}
	t.Logf("Covered %v, returned %v after the cancel", res.Covered, afterCancel)
	if res.Covered < 2*time.Second || res.Covered > 4*time.Second {
		t.Errorf("Covered = %v, want 2s to 4s", res.Covered)
	}
	if res.CPU == nil || res.Wall == nil || res.Goroutine == nil {
		t.Fatalf("cpu %v wall %v goroutine %v: want all", res.CPU != nil, res.Wall != nil, res.Goroutine != nil)
	}
	// The merged profiles span the completed chunks.
	for name, d := range map[string]int64{"cpu": res.CPU.DurationNanos, "wall": res.Wall.DurationNanos} {
		if r := float64(d) / float64(res.Covered); r < 0.9 || r > 1.25 {
			t.Errorf("%s profile spans %v, Covered %v", name, time.Duration(d), res.Covered)
		}
	}
	sleep, _ := valueWith(t, res.Wall, "time/nanoseconds", ".sleepTestWork")
	if r := float64(sleep) / float64(res.Covered); r < 0.75 || r > 1.25 {
		t.Errorf("merged wall time of sleepTestWork %v, want Covered %v ± 25%%", time.Duration(sleep), res.Covered)
	}
	spin, total := valueWith(t, res.CPU, "cpu/nanoseconds", ".spinTestWork")
	if float64(spin)/float64(total) <= 0.5 {
		t.Errorf("merged CPU: spinTestWork %v of %v", time.Duration(spin), time.Duration(total))
	}
}

func TestFetchWindowCancelledEarly(t *testing.T) {
	srv := serve(t, pprofMux(true))
	ep, _ := NewEndpoint(srv.URL, false)
	ctx, cancel := context.WithTimeout(context.Background(), 1700*time.Millisecond)
	defer cancel()
	res := Fetch(ctx, ep, 5*time.Second, Options{Chunk: time.Second})
	if res.Covered != time.Second {
		t.Errorf("Covered = %v, want 1s: one chunk kept, the one in flight dropped", res.Covered)
	}
	if res.CPU == nil || res.Wall == nil {
		t.Errorf("cpu %v wall %v: want both from the first chunk", res.CPU != nil, res.Wall != nil)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("Skipped = %q", res.Skipped)
	}
}

func TestFetchInterruptedBeforeFirstChunk(t *testing.T) {
	srv := serve(t, pprofMux(true))
	ep, _ := NewEndpoint(srv.URL, false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := Fetch(ctx, ep, 0, Options{Chunk: time.Second})
	if res.Covered != 0 || res.CPU != nil || res.Goroutine == nil {
		t.Errorf("Covered %v, cpu %v, goroutine %v: want 0, none, a snapshot", res.Covered, res.CPU != nil, res.Goroutine != nil)
	}
	want := "CPU, wall-clock, mutex, block profiles: the window ended before the first 1s chunk completed"
	if !slices.Equal(res.Skipped, []string{want}) {
		t.Errorf("Skipped = %q, want %q", res.Skipped, want)
	}
}

// TestFetchCPUInUse gets net/http/pprof's own error: the runtime's CPU
// profiler is taken.
func TestFetchCPUInUse(t *testing.T) {
	if err := pprof.StartCPUProfile(discard{}); err != nil {
		t.Skip("CPU profiler busy:", err)
	}
	defer pprof.StopCPUProfile()
	srv := serve(t, pprofMux(true))
	ep, _ := NewEndpoint(srv.URL, false)
	res := Fetch(context.Background(), ep, time.Second, Options{})
	if len(res.Skipped) != 1 {
		t.Fatalf("Skipped = %q, want one line", res.Skipped)
	}
	for _, want := range []string{"CPU profile: /debug/pprof/profile answered 500 Internal Server Error: Could not enable CPU profiling: cpu profiling already in use", "another CPU profile"} {
		if !strings.Contains(res.Skipped[0], want) {
			t.Errorf("Skipped[0] = %q, want it to contain %q", res.Skipped[0], want)
		}
	}
	if res.CPU != nil || res.Wall == nil || res.Mutex == nil || res.Goroutine == nil {
		t.Errorf("cpu %v wall %v mutex %v goroutine %v: want only CPU missing", res.CPU != nil, res.Wall != nil, res.Mutex != nil, res.Goroutine != nil)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		window, chunk time.Duration
		want          []int
	}{
		{2 * time.Second, 10 * time.Second, []int{2}},
		{25 * time.Second, 10 * time.Second, []int{10, 10, 5}},
		{30 * time.Second, 10 * time.Second, []int{10, 10, 10}},
		{400 * time.Millisecond, 10 * time.Second, []int{1}},
		{2400 * time.Millisecond, 10 * time.Second, []int{2}},
		{3 * time.Second, 300 * time.Millisecond, []int{1, 1, 1}},
		{5 * time.Second, 2500 * time.Millisecond, []int{3, 2}},
	} {
		p := newPlan(tc.window, tc.chunk)
		var got []int
		for n, ok := p.next(); ok; n, ok = p.next() {
			got = append(got, n)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("plan(%v, %v) = %v, want %v", tc.window, tc.chunk, got, tc.want)
		}
	}
	p := newPlan(0, 300*time.Millisecond)
	for range 5 {
		if n, ok := p.next(); !ok || n != 1 {
			t.Fatalf("open-ended plan: %d, %v; want 1s chunks forever", n, ok)
		}
	}
}
