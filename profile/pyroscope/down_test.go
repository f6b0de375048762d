package pyroscope_test

import (
	"crypto/rand"
	"encoding/base64"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

// bigWindow is an on-CPU profile of n functions with random 128-byte
// names, which gzip cannot shrink much: about 1 MB pushed for n = 9000.
func bigWindow(n int) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: pp.TypeOnCPU, Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     int64(1e9) / 19,
		TimeNanos:  time.Now().UnixNano(),
	}
	name := make([]byte, 96)
	for i := range n {
		_, _ = rand.Read(name)
		f := &profile.Function{ID: uint64(i + 1), Name: base64.StdEncoding.EncodeToString(name)}
		l := &profile.Location{ID: uint64(i + 1), Address: uint64(i) * 16, Line: []profile.Line{{Function: f}}}
		p.Function, p.Location = append(p.Function, f), append(p.Location, l)
		p.Sample = append(p.Sample, &profile.Sample{Value: []int64{1, p.Period}, Location: []*profile.Location{l}})
	}
	return p
}

// TestServerDownTwoMinutes is the acceptance's outage, in real time (2
// minutes; skipped with -short): Pyroscope is gone while a ~1 MB window is
// queued every 100 ms with an 8 MiB cap. The queue never exceeds the cap,
// the heap in use stays under the cap plus 4 MiB between windows and plus 40
// MiB at any time (see below), every window is either
// still queued or counted as dropped in the registry, and once the server
// is back the queue drains by itself within three maximum backoffs.
//
// The slack: between windows, what the client keeps besides the queued
// bytes is small (the connect buffer pool, the transport). During a
// conversion, one 1 MB window holds about 7 MB live at its peak (the
// single-type profile, the encoding buffers, the copy queued), and
// HeapInuse, read after a forced GC while the enqueuer keeps converting,
// also counts what it allocated since: measured 17-28 MiB over base+cap
// on a loaded 2-CPU machine.
func TestServerDownTwoMinutes(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2-minute outage in real time")
	}
	const (
		cap       = 8 << 20
		slack     = 40 << 20
		idleSlack = 4 << 20
		outage    = 2 * time.Minute
		every     = 100 * time.Millisecond
		maxBack   = 2 * time.Second
	)
	srv := pyroscopetest.New(t)
	if err := srv.SetFailure(pyroscopetest.Down); err != nil {
		t.Fatal(err)
	}
	c, reg, l := newClient(t, pyroscope.Config{URL: srv.URL, QueueBytes: cap, Timeout: 2 * time.Second, MinBackoff: 200 * time.Millisecond, MaxBackoff: maxBack})
	p := bigWindow(9000)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	start(t, c)

	var mu, conv sync.Mutex // conv: held while a window is converted
	var maxQueue int64
	var maxHeap, maxHeapIdle uint64
	note := func() {
		q := c.Stats().QueueBytes
		mu.Lock()
		maxQueue = max(maxQueue, q)
		mu.Unlock()
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the heap and the queue, sampled
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			note()
			any := heap()
			conv.Lock()
			idle := heap()
			conv.Unlock()
			mu.Lock()
			maxHeap, maxHeapIdle = max(maxHeap, any), max(maxHeapIdle, idle)
			mu.Unlock()
		}
	}()
	enqueued, minBytes, maxBytes := 0, 1<<62, 0
	end := time.Now().Add(outage)
	for tick := time.NewTicker(every); time.Now().Before(end); <-tick.C {
		conv.Lock()
		n, err := c.Enqueue(labels, p, nil)
		conv.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		enqueued++
		minBytes, maxBytes = min(minBytes, n), max(maxBytes, n)
		note()
	}
	close(stop)
	wg.Wait()

	s := c.Stats()
	t.Logf("%d windows of %d-%d bytes enqueued in %s; %d dropped, %d queued (%d bytes); queue max %d bytes; heap in use over a base of %.1f MiB: max %.1f MiB between windows, %.1f MiB at any time",
		enqueued, minBytes, maxBytes, outage, s.Dropped[pyroscope.DropQueueFull], s.QueueWindows, s.QueueBytes, maxQueue, mib(base), mib(maxHeapIdle-base), mib(maxHeap-base))
	if minBytes < 900_000 || maxBytes > 1_200_000 {
		t.Errorf("windows of %d-%d bytes, want about 1 MB", minBytes, maxBytes)
	}
	if enqueued < 100 { // 1200 on an idle machine; converting slows under load
		t.Errorf("only %d windows enqueued in %s", enqueued, outage)
	}
	if maxQueue > cap {
		t.Errorf("queue reached %d bytes, over its cap of %d", maxQueue, cap)
	}
	if maxHeapIdle > base+cap+idleSlack {
		t.Errorf("heap in use between windows reached %.1f MiB over base, over the cap and %.0f MiB of slack", mib(maxHeapIdle-base), mib(idleSlack))
	}
	if maxHeap > base+cap+slack {
		t.Errorf("heap in use reached %.1f MiB over base, over the cap and %.0f MiB of slack", mib(maxHeap-base), mib(slack))
	}
	dropped := s.Dropped[pyroscope.DropQueueFull]
	if s.Pushed != 0 || dropped+uint64(s.QueueWindows) != uint64(enqueued) || dropped == 0 {
		t.Errorf("stats %+v: want every one of %d windows dropped or queued", s, enqueued)
	}
	if m := gather(t, reg, "perfprobe_pyroscope_dropped_windows_total", pyroscope.DropQueueFull); m != float64(dropped) {
		t.Errorf("dropped_windows_total{queue_full} = %v, want %d", m, dropped)
	}
	if m := gather(t, reg, "perfprobe_pyroscope_queue_bytes", ""); m != float64(s.QueueBytes) || m > cap {
		t.Errorf("queue_bytes gauge %v, stats %d, cap %d", m, s.QueueBytes, cap)
	}
	if lines := l.all(); len(lines) != 1 {
		t.Errorf("%d log lines over the outage, want 1 (state changes only): %q", len(lines), lines)
	}

	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitFor(t, 3*maxBack, "the queue drained after the server came back", func() bool { return c.Stats().QueueWindows == 0 })
	t.Logf("drained %d windows in %s", s.QueueWindows, time.Since(t0).Round(time.Millisecond))
	if n := srv.Pushes(); n != s.QueueWindows {
		t.Errorf("server took %d pushes, want the %d queued", n, s.QueueWindows)
	}
	if lines := l.all(); len(lines) != 2 || !strings.Contains(lines[1], "is back after 2m") {
		t.Errorf("log lines %q, want the outage and the return after 2m", lines)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
