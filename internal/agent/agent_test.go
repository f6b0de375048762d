package agent

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/store"
)

// collector keeps the windows an agent hands over and ends the run after
// n of them (every target's window of one drain counts once).
type collector struct {
	mu      sync.Mutex
	windows []Window
	drains  map[time.Time]bool
	n       int
	cancel  context.CancelFunc
}

func (c *collector) add(w Window) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.windows = append(c.windows, w)
	c.drains[w.End] = true
	if len(c.drains) >= c.n {
		c.cancel()
	}
}

// runAgent runs cfg until n windows were handed over (or a minute).
func runAgent(t *testing.T, cfg testCfg, n int) (*Agent, []Window) {
	t.Helper()
	a, err := New(cfg.Config, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &collector{drains: map[time.Time]bool{}, n: n, cancel: cancel}
	a.OnWindow = func(w Window) {
		if cfg.onWindow != nil {
			cfg.onWindow(w)
		}
		c.add(w)
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(c.drains) < n {
		t.Fatalf("%d windows in a minute, want %d", len(c.drains), n)
	}
	return a, c.windows
}

// testCfg is a config with a hook on each window.
type testCfg struct {
	Config
	onWindow func(Window)
}

func testConfig(t *testing.T) testCfg {
	cfg := testCfg{Config: Defaults()}
	cfg.Store.Dir = t.TempDir()
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.MaxCPU = 0
	return cfg
}

// A spinner (one CPU, in main.spinHot) and a sleeper (wakes every 20 ms)
// profiled for 8 windows of 500 ms: every window of each is stored under
// its labels, the windows follow each other with no gap, the spinner's
// on-CPU time over the windows is the span within 10% with main.spinHot
// over 90% of it, and the metrics count the windows and the sleeper's
// run-queue waits per service.
func TestAgentWindows(t *testing.T) {
	bpftest.Require(t)
	spinBin, sleepBin := testtarget.Build(t, "spinner"), testtarget.Build(t, "sleeper")
	spin := testtarget.Start(t, spinBin, "-threads", "1")
	sleep := testtarget.Start(t, sleepBin, "-interval", "20ms")
	cfg := testConfig(t)
	cfg.Targets.PIDs = []int{spin.PID, sleep.PID}
	cfg.Interval = 500 * time.Millisecond
	cfg.Hz = 99
	cfg.Probes = []string{"cpu", "sched"}
	cfg.Labels = map[string]string{"env": "test"}
	const n = 8
	// The spinner's CPU time as each of its windows is handed over: the
	// reference for its on-CPU samples (other load on the machine may
	// leave it less than a CPU).
	var cpuAt []time.Duration
	cfg.onWindow = func(w Window) {
		if w.Target.PID == spin.PID {
			d, err := spin.CPUTime()
			if err != nil {
				t.Error(err)
			}
			cpuAt = append(cpuAt, d)
		}
	}
	a, windows := runAgent(t, cfg, n)

	host, _ := os.Hostname()
	byPID := map[int][]Window{}
	for _, w := range windows {
		byPID[w.Target.PID] = append(byPID[w.Target.PID], w)
	}
	for _, p := range []struct {
		pid int
		bin string
	}{{spin.PID, spinBin}, {sleep.PID, sleepBin}} {
		ws := byPID[p.pid]
		if len(ws) < n {
			t.Fatalf("pid %d: %d windows, want %d", p.pid, len(ws), n)
		}
		for i, w := range ws {
			if i > 0 && !w.Start.Equal(ws[i-1].End) {
				t.Errorf("pid %d: window %d starts at %v, the one before ended at %v: want no gap", p.pid, i, w.Start, ws[i-1].End)
			}
			want := map[string]string{"service_name": filepath.Base(p.bin), "pid": strconv.Itoa(p.pid), "hostname": host, "env": "test"}
			for k, v := range want {
				if w.Labels[k] != v {
					t.Errorf("pid %d window %d: label %s=%q, want %q", p.pid, i, k, w.Labels[k], v)
				}
			}
			if w.Labels["comm"] == "" {
				t.Errorf("pid %d window %d: no comm label", p.pid, i)
			}
		}
	}

	// The spinner's on-CPU samples over its windows after the second, and
	// its CPU time over them (the first windows' hand-over takes longer:
	// the kernel's symbols are loaded then).
	var oncpu, hot, all int64
	ws := byPID[spin.PID]
	span := cpuAt[len(cpuAt)-1] - cpuAt[1]
	for k, w := range ws {
		i := profile.ValueIndex(w.Profile, profile.TypeOnCPU)
		all += profile.Total(w.Profile, profile.TypeOnCPU)
		if k < 2 {
			continue
		}
		for _, s := range w.Profile.Sample {
			oncpu += s.Value[i]
			for _, f := range profile.Frames(s) {
				if f == "main.spinHot" {
					hot += s.Value[i]
					break
				}
			}
		}
	}
	t.Logf("spinner: %v on CPU in windows 3..%d, %v of CPU time by /proc; %.1f%% in main.spinHot", time.Duration(oncpu), len(ws), span, 100*float64(hot)/float64(oncpu))
	if r := float64(oncpu) / float64(span); math.Abs(r-1) > 0.10 {
		t.Errorf("spinner on CPU %v by the samples, %v by /proc (%.2f): want the same within 10%%", time.Duration(oncpu), span, r)
	}
	if share := float64(hot) / float64(oncpu); share < 0.90 {
		t.Errorf("main.spinHot is %.1f%% of the spinner's on-CPU time, want over 90%%", 100*share)
	}

	// The store has every window, and merges them to the same total.
	s, err := store.OpenReadOnly(cfg.Store.Dir)
	if err != nil {
		t.Fatal(err)
	}
	q := store.Query{Service: filepath.Base(spinBin), From: ws[0].Start.Truncate(time.Millisecond), To: ws[len(ws)-1].End}
	stored, err := s.List(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(ws) {
		t.Errorf("the store lists %d windows of the spinner, the agent handed over %d", len(stored), len(ws))
	}
	merged, _, err := s.Load(q)
	if err != nil {
		t.Fatal(err)
	}
	if got := profile.Total(merged, profile.TypeOnCPU); got != all {
		t.Errorf("the store's merged windows hold %v on CPU, the windows %v: want the same", time.Duration(got), time.Duration(all))
	}

	// Metrics after the run (the registry outlives the server).
	fams := gather(t, a)
	if got := value(fams, "perfprobe_agent_windows_total", nil); got < n {
		t.Errorf("perfprobe_agent_windows_total = %v, want at least %d", got, n)
	}
	sleepSvc := map[string]string{"service_name": filepath.Base(sleepBin)}
	count := histCount(fams, "perfprobe_runqueue_latency_seconds", sleepSvc)
	sleepSpan := ws[len(ws)-1].End.Sub(ws[0].Start)
	wakeups := float64(sleepSpan) / float64(20*time.Millisecond)
	t.Logf("sleeper: %d run-queue waits over %v (%.0f wakeups expected)", count, sleepSpan, wakeups)
	if float64(count) < 0.8*wakeups {
		t.Errorf("perfprobe_runqueue_latency_seconds{service_name=%q} counts %d waits, want at least 80%% of the %.0f wakeups", sleepSvc["service_name"], count, wakeups)
	}
	if value(fams, "perfprobe_probe_events_total", map[string]string{"probe": "sched"}) == 0 {
		t.Error("perfprobe_probe_events_total{probe=sched} is 0")
	}
}

// Scraping /metrics over HTTP while the agent runs: the text parses.
func TestAgentMetricsEndpoint(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "sleeper"), "-interval", "10ms")
	cfg := testConfig(t)
	cfg.Targets.PIDs = []int{p.PID}
	cfg.Interval = 300 * time.Millisecond
	cfg.Probes = []string{"sched"}
	a, err := New(cfg.Config, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var scraped map[string]*dto.MetricFamily
	a.OnWindow = func(w Window) {
		if scraped != nil {
			return
		}
		res, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
		if err != nil {
			t.Error(err)
			cancel()
			return
		}
		defer res.Body.Close()
		scraped, err = parse(res.Body)
		if err != nil {
			t.Error(err)
		}
		cancel()
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if scraped == nil {
		t.Fatal("no window in 30 s")
	}
	for _, name := range []string{"perfprobe_agent_windows_total", "perfprobe_agent_targets", "perfprobe_probe_bpf_run_seconds_total", "perfprobe_runqueue_latency_seconds", "process_resident_memory_bytes", "perfprobe_agent_store_bytes"} {
		if scraped[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if got := value(scraped, "perfprobe_agent_targets", nil); got != 1 {
		t.Errorf("perfprobe_agent_targets = %v, want 1", got)
	}
}

// 100 windows of 100 ms while 50 short-lived processes come and go
// (matched by --comm): no goroutine, file descriptor or BPF object is left
// behind, and the session forgets the processes that exited.
func TestAgentNoLeaks(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "spinner")
	long := testtarget.Start(t, bin, "-threads", "1")
	cfg := testConfig(t)
	cfg.Targets.Comm = "^" + filepath.Base(bin)[:12]
	cfg.Interval = 100 * time.Millisecond
	cfg.Probes = []string{"cpu", "sched"}
	goroutines := runtime.NumGoroutine()
	fds, bpfs := openFDs(t)

	a, err := New(cfg.Config, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	a.Quiet = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type sample struct{ goroutines, fds, bpfs, members int }
	var at10, at100 sample
	windows := 0
	started := 0
	var mu sync.Mutex
	a.OnWindow = func(w Window) {
		if w.Target.PID != long.PID {
			return // one count per drain: the long-lived target is in each
		}
		mu.Lock()
		defer mu.Unlock()
		windows++
		f, b := openFDs(t)
		s := sample{runtime.NumGoroutine(), f, b, len(a.session.Probes().Targets())}
		switch windows {
		case 10:
			at10 = s
		case 100:
			at100 = s
			cancel()
		}
		if windows%2 == 0 && started < 50 {
			started++
			go func() {
				p := testtarget.Start(t, bin, "-threads", "1", "-duration", "120ms")
				_ = p.Wait(nil)
			}()
		}
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("window 10: %+v; window 100: %+v; %d processes started", at10, at100, started)
	if windows < 100 {
		t.Fatalf("%d windows in 2 minutes, want 100", windows)
	}
	if started < 50 {
		t.Errorf("%d processes started, want 50", started)
	}
	if at100.bpfs != at10.bpfs {
		t.Errorf("BPF objects: %d at window 10, %d at window 100: want the same", at10.bpfs, at100.bpfs)
	}
	if at100.fds > at10.fds+4 || at100.goroutines > at10.goroutines+4 {
		t.Errorf("from window 10 to 100: fds %d -> %d, goroutines %d -> %d: want at most 4 more (targets in flight)", at10.fds, at100.fds, at10.goroutines, at100.goroutines)
	}
	if at100.members > 4 {
		t.Errorf("the session lists %d targets at window 100, want only the live ones (at most 4)", at100.members)
	}
	// After Run, everything is released.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	f, b := openFDs(t)
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("goroutines: %d before, %d after the agent", goroutines, g)
	}
	if f > fds || b > bpfs {
		t.Errorf("fds %d -> %d, BPF objects %d -> %d after the agent: want none left", fds, f, bpfs, b)
	}
}

// openFDs counts this process's open file descriptors and those that are
// BPF maps, programs or links.
func openFDs(t *testing.T) (all, bpf int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		all++
		if strings.HasPrefix(l, "anon_inode:bpf") || strings.Contains(l, "bpf-") {
			bpf++
		}
	}
	return all, bpf
}

func gather(t *testing.T, a *Agent) map[string]*dto.MetricFamily {
	fams, err := a.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	return fams, nil
}

// matches reports whether m has every label of want.
func matches(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// value sums the counters or gauges of a family matching want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var v float64
	if f := fams[name]; f != nil {
		for _, m := range f.GetMetric() {
			if matches(m, want) {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}

func histCount(fams map[string]*dto.MetricFamily, name string, want map[string]string) uint64 {
	var n uint64
	if f := fams[name]; f != nil {
		for _, m := range f.GetMetric() {
			if matches(m, want) {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// With a CPU budget no agent can meet, the sampling rate halves after
// every two windows over it (re-attaching the probes) down to 1 Hz, and
// the metric shows the rate in force.
func TestAgentCPUGuard(t *testing.T) {
	bpftest.Require(t)
	p := testtarget.Start(t, testtarget.Build(t, "spinner"), "-threads", "1")
	cfg := testConfig(t)
	cfg.Targets.PIDs = []int{p.PID}
	cfg.Interval = 300 * time.Millisecond
	cfg.Hz = 99
	cfg.Probes = []string{"cpu"}
	cfg.MaxCPU = 0.0001
	a, windows := runAgent(t, cfg, 8)
	// Each re-attaching leaves no hole beyond the old session's hand-over
	// (30-90 ms here; 4 s when the old probes were closed first) and no
	// overlap (the new session's first moments are discarded).
	slices.SortFunc(windows, func(x, y Window) int { return x.Start.Compare(y.Start) })
	for i := 1; i < len(windows); i++ {
		gap := windows[i].Start.Sub(windows[i-1].End)
		if gap < 0 || gap > 250*time.Millisecond {
			t.Errorf("window %d starts %v after window %d ends: want 0 to 250ms across a re-attaching", i, gap, i-1)
		}
	}
	// Windows 1 (no baseline) and 2-3 over: 49 Hz; 4-5: 24 Hz; 6-7: 12 Hz.
	if a.hz > 24 || a.hz < 1 {
		t.Errorf("after 8 windows over the budget the agent samples at %d Hz, want 24 or less (99 halved at least twice)", a.hz)
	}
	if got := value(gather(t, a), "perfprobe_agent_sampling_hz", nil); got != float64(a.hz) {
		t.Errorf("perfprobe_agent_sampling_hz = %v, the agent samples at %d Hz", got, a.hz)
	}
}
