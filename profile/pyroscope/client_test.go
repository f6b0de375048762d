package pyroscope_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

// hotWindow is one window of on-CPU time: hot ns in main.hot, cold ns in
// main.cold, both under main.main, 100 ms of blocked time in main.wait.
func hotWindow(start time.Time, hot, cold int64) *profile.Profile {
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: pp.TypeOnCPU, Unit: "nanoseconds"}, {Type: pp.TypeOffCPUBlocked, Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        int64(1e9) / 19,
		TimeNanos:     start.UnixNano(),
		DurationNanos: int64(15 * time.Second),
	}
	var locs []*profile.Location
	for i, name := range []string{"main.main", "main.hot", "main.cold", "main.wait"} {
		f := &profile.Function{ID: uint64(i + 1), Name: name}
		p.Function = append(p.Function, f)
		locs = append(locs, &profile.Location{ID: uint64(i + 1), Address: uint64(0x1000 * (i + 1)), Line: []profile.Line{{Function: f}}})
	}
	p.Location = locs
	p.Sample = []*profile.Sample{
		{Value: []int64{hot / p.Period, hot, 0}, Location: []*profile.Location{locs[1], locs[0]}},
		{Value: []int64{cold / p.Period, cold, 0}, Location: []*profile.Location{locs[2], locs[0]}},
		{Value: []int64{0, 0, 1e8}, Location: []*profile.Location{locs[3], locs[0]}},
	}
	return p
}

var labels = map[string]string{"service_name": "demo", "pid": "4242", "comm": "demo", "hostname": "node1"}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func start(t *testing.T, c *pyroscope.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// gather returns the value of a metric of reg, by name and label value ("" none).
func gather(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if label != "" && (len(m.Label) == 0 || m.Label[0].GetValue() != label) {
				continue
			}
			return metricValue(m)
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return math.NaN()
}

// share is the part of p's total whose leaf function is fn.
func share(p *profile.Profile, fn string) float64 {
	var in, all int64
	for _, s := range p.Sample {
		all += s.Value[0]
		if s.Location[0].Line[0].Function.Name == fn {
			in += s.Value[0]
		}
	}
	return float64(in) / float64(all)
}

func TestPushAndQuery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []pyroscopetest.Option
		cfg    pyroscope.Config
		header map[string]string
	}{
		{
			name:   "basic auth and tenant",
			cfg:    pyroscope.Config{BasicAuthUser: "agent", BasicAuthPassword: "pw-1", TenantID: "team-a"},
			header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("agent:pw-1")), "X-Scope-OrgID": "team-a"},
		},
		{
			name:   "bearer over https with a CA file, behind a path prefix",
			opts:   []pyroscopetest.Option{pyroscopetest.WithTLS(), pyroscopetest.WithPathPrefix("/pyroscope")},
			cfg:    pyroscope.Config{BearerToken: "tok-1"},
			header: map[string]string{"Authorization": "Bearer tok-1", "X-Scope-OrgID": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pyroscopetest.New(t, tc.opts...)
			cfg := tc.cfg
			cfg.URL, cfg.CAFile = srv.URL, srv.CAFile
			reg := prometheus.NewRegistry()
			c, err := pyroscope.New(cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			start(t, c)
			t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
			var hot, all int64
			for i := range 10 {
				h, cold := int64(3e9+i*7e7), int64(1e9+i*3e7)
				hot, all = hot+h, all+h+cold
				if _, err := c.Enqueue(labels, hotWindow(t0.Add(time.Duration(i)*15*time.Second), h, cold), nil); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "10 pushes", func() bool { return c.Stats().Pushed == 10 })
			if n := srv.Pushes(); n != 10 {
				t.Errorf("server saw %d pushes, want 10", n)
			}
			ctx := context.Background()
			cpu, err := srv.SelectMerge(ctx, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", `{service_name="demo",source="ebpf"}`)
			if err != nil || cpu == nil {
				t.Fatalf("querying cpu: %v (profile %v)", err, cpu)
			}
			want := float64(hot) / float64(all)
			if got := share(cpu, "main.hot"); math.Abs(got-want) > 0.001*want {
				t.Errorf("main.hot share %.5f, want %.5f (0.1%%)", got, want)
			}
			if got := total(cpu); got != all {
				t.Errorf("cpu total %d ns, want %d", got, all)
			}
			off, err := srv.SelectMerge(ctx, "off_cpu:off_cpu:nanoseconds:off_cpu:nanoseconds", `{service_name="demo",pid="4242"}`)
			if err != nil || off == nil || total(off) != 10*1e8 {
				t.Errorf("off_cpu: %v, total %d, want %d", err, total(off), int64(10*1e8))
			}
			if p, err := srv.SelectMerge(ctx, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", `{service_name="other"}`); err != nil || p != nil {
				t.Errorf("another service matched: %v, %v", p, err)
			}
			ids := map[string]int{}
			for _, st := range srv.Stored() {
				ids[st.TypeID]++
				want := map[string]string{"__name__": st.Labels["__name__"], "service_name": "demo", "pid": "4242", "comm": "demo", "hostname": "node1", "source": "ebpf"}
				if fmt.Sprint(st.Labels) != fmt.Sprint(want) {
					t.Errorf("stored labels %v, want %v", st.Labels, want)
				}
			}
			if len(ids) != 2 || ids["process_cpu:cpu:nanoseconds:cpu:nanoseconds"] != 10 || ids["off_cpu:off_cpu:nanoseconds:off_cpu:nanoseconds"] != 10 {
				t.Errorf("stored type ids %v, want 10 each of process_cpu and off_cpu", ids)
			}
			for _, r := range srv.Requests() {
				if !strings.HasSuffix(r.Path, "/push.v1.PusherService/Push") {
					continue
				}
				for k, v := range tc.header {
					if r.Header.Get(k) != v {
						t.Errorf("push request header %s is not as configured", k) // the value is a secret: not printed
					}
				}
			}
			if ok := gather(t, reg, "perfprobe_pyroscope_pushes_total", "ok"); ok != 10 {
				t.Errorf("pushes_total{ok} = %v, want 10", ok)
			}
			if s := c.Stats(); gather(t, reg, "perfprobe_pyroscope_push_bytes_total", "") != float64(s.BytesPushed) || s.BytesPushed == 0 || s.QueueBytes != 0 {
				t.Errorf("push bytes metric differs from the stats %+v", s)
			}
		})
	}
}

func total(p *profile.Profile) int64 {
	if p == nil {
		return 0
	}
	var n int64
	for _, s := range p.Sample {
		n += s.Value[0]
	}
	return n
}

// logs collects Logf lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func newClient(t *testing.T, cfg pyroscope.Config) (*pyroscope.Client, *prometheus.Registry, *logs) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := pyroscope.New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	l := &logs{}
	c.Logf = l.logf
	return c, reg, l
}

func TestRetry500(t *testing.T) {
	srv := pyroscopetest.New(t)
	if err := srv.SetFailureN(pyroscopetest.Status500, 5); err != nil {
		t.Fatal(err)
	}
	c, reg, l := newClient(t, pyroscope.Config{URL: srv.URL, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	for i := range 4 {
		if _, err := c.Enqueue(labels, hotWindow(time.Now(), int64(i+1)*1e9, 1e9), nil); err != nil {
			t.Fatal(err)
		}
	}
	start(t, c)
	waitFor(t, 10*time.Second, "4 windows pushed", func() bool { return c.Stats().Pushed == 4 })
	s := c.Stats()
	if s.Failed != 5 || s.Retries != 5 || s.Dropped[pyroscope.DropQueueFull]+s.Dropped[pyroscope.DropRejected] != 0 || srv.Pushes() != 4 {
		t.Errorf("stats %+v, server pushes %d; want 5 failed, 5 retries, no drop, 4 pushes", s, srv.Pushes())
	}
	if !strings.Contains(s.LastError, "HTTP 500") {
		t.Errorf("last error %q does not say HTTP 500", s.LastError)
	}
	if f, r := gather(t, reg, "perfprobe_pyroscope_pushes_total", "failed"), gather(t, reg, "perfprobe_pyroscope_retries_total", ""); f != 5 || r != 5 {
		t.Errorf("metrics: %v failed, %v retries; want 5, 5", f, r)
	}
	// One line going down, one coming back: not one per retry.
	if lines := l.all(); len(lines) != 2 || !strings.Contains(lines[0], "failed") || !strings.Contains(lines[1], "is back") {
		t.Errorf("log lines %q, want one 'failed' and one 'is back'", lines)
	}
}

func TestRetry429(t *testing.T) {
	srv := pyroscopetest.New(t)
	if err := srv.SetFailureN(pyroscopetest.Status429, 2); err != nil {
		t.Fatal(err)
	}
	c, _, _ := newClient(t, pyroscope.Config{URL: srv.URL, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	waitFor(t, 10*time.Second, "the window pushed", func() bool { return c.Stats().Pushed == 1 })
	if s := c.Stats(); s.Failed != 2 || s.Dropped[pyroscope.DropRejected] != 0 {
		t.Errorf("stats %+v: want 2 failures, nothing rejected (429 is retried)", s)
	}
}

func TestRejected400(t *testing.T) {
	srv := pyroscopetest.New(t)
	if err := srv.SetFailureN(pyroscopetest.Status400, 1); err != nil {
		t.Fatal(err)
	}
	c, reg, l := newClient(t, pyroscope.Config{URL: srv.URL, MinBackoff: 10 * time.Millisecond})
	for range 2 {
		if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
			t.Fatal(err)
		}
	}
	start(t, c)
	waitFor(t, 10*time.Second, "one rejected, one pushed", func() bool { s := c.Stats(); return s.Pushed == 1 && s.QueueWindows == 0 })
	if s := c.Stats(); s.Dropped[pyroscope.DropRejected] != 1 || s.Failed != 1 || s.Retries != 0 {
		t.Errorf("stats %+v: want 1 rejected, 1 failed, no retry", s)
	}
	if n := gather(t, reg, "perfprobe_pyroscope_dropped_windows_total", pyroscope.DropRejected); n != 1 {
		t.Errorf("dropped_windows_total{rejected} = %v, want 1", n)
	}
	if lines := l.all(); len(lines) != 1 || !strings.Contains(lines[0], "rejected") || !strings.Contains(lines[0], "push refused") {
		t.Errorf("log lines %q, want one line with the server's message", lines)
	}
}

func TestHang(t *testing.T) {
	srv := pyroscopetest.New(t)
	if err := srv.SetFailure(pyroscopetest.Hang); err != nil {
		t.Fatal(err)
	}
	c, _, _ := newClient(t, pyroscope.Config{URL: srv.URL, Timeout: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	for range 3 {
		if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
			t.Fatal(err)
		}
	}
	start(t, c)
	waitFor(t, 10*time.Second, "3 timed-out pushes", func() bool { return c.Stats().Failed >= 3 })
	if s := c.Stats(); s.Pushed != 0 || s.QueueWindows != 3 || !strings.Contains(s.LastError, "no answer within 200ms") {
		t.Errorf("stats %+v: want nothing pushed, 3 queued, a timeout error", s)
	}
	if err := srv.SetFailure(pyroscopetest.None); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "3 windows pushed", func() bool { return c.Stats().Pushed == 3 })
	if n := srv.Pushes(); n != 3 {
		t.Errorf("server took %d pushes, want 3", n)
	}
}

func TestFlush(t *testing.T) {
	srv := pyroscopetest.New(t)
	c, _, _ := newClient(t, pyroscope.Config{URL: srv.URL, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	for range 5 {
		if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil || srv.Pushes() != 5 {
		t.Fatalf("flush: %v, %d pushes; want nil, 5", err, srv.Pushes())
	}
	// Server gone: Flush ends at the deadline and says what is left.
	if err := srv.SetFailure(pyroscopetest.Down); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	t0 := time.Now()
	err := c.Flush(ctx2)
	if err == nil || !strings.Contains(err.Error(), "1 windows") || time.Since(t0) > 2*time.Second {
		t.Errorf("flush with the server down: %v after %s; want an error naming 1 window left, at the 300ms deadline", err, time.Since(t0))
	}
}

func TestQueueTooLarge(t *testing.T) {
	c, _, _ := newClient(t, pyroscope.Config{URL: "http://127.0.0.1:1", QueueBytes: 100})
	if n, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err == nil || n != 0 {
		t.Errorf("a window over the cap: %d bytes queued, err %v", n, err)
	}
	if s := c.Stats(); s.Dropped[pyroscope.DropTooLarge] != 1 || s.QueueWindows != 0 {
		t.Errorf("stats %+v: want one too_large drop", s)
	}
}
