package agent

import (
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/store"
)

// metrics are the agent's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg *prometheus.Registry

	windows, warnings, storeErrors, pushErrors prometheus.Counter
	targets, hz, cpuPercent, rss               prometheus.Gauge
	bpfSeconds, events, drops                  *prometheus.CounterVec
	goScrapes                                  *prometheus.CounterVec

	lat *latencies
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.windows = prometheus.NewCounter(prometheus.CounterOpts{Name: "perfprobe_agent_windows_total", Help: "Windows handed over by the probes."})
	m.warnings = prometheus.NewCounter(prometheus.CounterOpts{Name: "perfprobe_agent_window_warnings_total", Help: "Warnings in the windows (kept in the stored profiles' comments)."})
	m.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "perfprobe_agent_store_errors_total", Help: "Windows that could not be written to the store."})
	m.pushErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "perfprobe_agent_push_errors_total", Help: "Windows that could not be converted for Pyroscope."})
	m.targets = prometheus.NewGauge(prometheus.GaugeOpts{Name: "perfprobe_agent_targets", Help: "Processes profiled in the last window."})
	m.hz = prometheus.NewGauge(prometheus.GaugeOpts{Name: "perfprobe_agent_sampling_hz", Help: "On-CPU sampling rate per CPU (lowered by --max-cpu)."})
	m.cpuPercent = prometheus.NewGauge(prometheus.GaugeOpts{Name: "perfprobe_agent_cpu_percent", Help: "The agent's own CPU time over the last window, in percent of one CPU."})
	m.rss = prometheus.NewGauge(prometheus.GaugeOpts{Name: "perfprobe_agent_peak_rss_bytes", Help: "The agent's peak resident set."})
	m.bpfSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "perfprobe_probe_bpf_run_seconds_total", Help: "Time the kernel spent in each probe's BPF programs."}, []string{"probe"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "perfprobe_probe_events_total", Help: "Events each probe recorded."}, []string{"probe"})
	m.drops = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "perfprobe_probe_drops_total", Help: "Events each probe could not record."}, []string{"probe"})
	m.goScrapes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "perfprobe_agent_go_scrapes_total", Help: "Scrapes of Go targets' runtime profiles."}, []string{"result"})
	m.lat = &latencies{h: map[latKey]*profile.Histogram{}}
	for _, c := range []prometheus.Collector{m.windows, m.warnings, m.storeErrors, m.pushErrors, m.targets, m.hz, m.cpuPercent, m.rss, m.bpfSeconds, m.events, m.drops, m.goScrapes, m.lat,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector()} {
		f(c)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	// The agent's own Go profiles, for when the agent itself is the
	// question (the metrics address is loopback unless told otherwise).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("perfprobe agent: metrics at /metrics, its own Go profiles at /debug/pprof/\n"))
	})
	return mux
}

// watchStore exports the store's size.
func (m *metrics) watchStore(s *store.Store) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "perfprobe_agent_store_bytes", Help: "Bytes of the windows in the store."}, func() float64 { b, _ := s.Usage(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "perfprobe_agent_store_windows", Help: "Windows in the store."}, func() float64 { _, n := s.Usage(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "perfprobe_agent_store_deleted_windows_total", Help: "Windows deleted by the store's size and age limits."}, func() float64 { return float64(s.Deleted()) }),
	)
}

// observe adds a window's latency histograms, per service: from each
// target's own histograms when the probes keep them per process, else
// the whole window's when all its targets are one service.
func (m *metrics) observe(c *profile.Capture, services map[int]string) {
	perPID := c.TargetHistograms
	if perPID == nil {
		one := ""
		for _, s := range services {
			if one != "" && s != one {
				return // several services and no per-process histograms: nothing to attribute
			}
			one = s
		}
		if one == "" {
			return
		}
		for pid, s := range services {
			if s == one {
				perPID = map[int]map[string]*profile.Histogram{pid: c.Histograms}
				break
			}
		}
	}
	m.lat.mu.Lock()
	defer m.lat.mu.Unlock()
	for pid, hs := range perPID {
		svc, ok := services[pid]
		if !ok {
			continue
		}
		for name, h := range hs {
			if h == nil || h.Count == 0 {
				continue
			}
			k, ok := latencyOf(name, svc)
			if !ok {
				continue
			}
			acc := m.lat.h[k]
			if acc == nil {
				acc = &profile.Histogram{}
				m.lat.h[k] = acc
			}
			acc.Add(h)
		}
	}
}

// latKey is one exported histogram series.
type latKey struct {
	metric, service, label, value string
}

// latencyOf maps a probe histogram name to its metric.
func latencyOf(name, service string) (latKey, bool) {
	switch {
	case name == "runqueue":
		return latKey{"perfprobe_runqueue_latency_seconds", service, "", ""}, true
	case strings.HasPrefix(name, "syscall_"):
		return latKey{"perfprobe_io_syscall_latency_seconds", service, "syscall", strings.TrimPrefix(name, "syscall_")}, true
	case strings.HasPrefix(name, "tls_handshake_"):
		return latKey{"perfprobe_tls_handshake_latency_seconds", service, "side", strings.TrimPrefix(name, "tls_handshake_")}, true
	}
	return latKey{}, false
}

var latHelp = map[string]string{
	"perfprobe_runqueue_latency_seconds":      "Time threads waited in the run queue for a CPU, per service (sched probe).",
	"perfprobe_io_syscall_latency_seconds":    "I/O syscall latency, per service and syscall (iostall probe).",
	"perfprobe_tls_handshake_latency_seconds": "TLS handshake latency, per service and side (tls probe).",
}

// latencies exports the kernel's log-linear histograms as Prometheus
// histograms with power-of-two buckets from 1 µs to 34 s: every power of
// two is a slot boundary, so the bucket counts are exact.
type latencies struct {
	mu sync.Mutex
	h  map[latKey]*profile.Histogram
}

// bucketPowers are the bucket bounds, as powers of two of nanoseconds.
const minPow, maxPow = 10, 35

// Describe describes nothing: the series' label sets differ by metric
// (syscall, side), so the collector is unchecked.
func (l *latencies) Describe(chan<- *prometheus.Desc) {}

func (l *latencies) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]latKey, 0, len(l.h))
	for k := range l.h {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b latKey) int {
		return strings.Compare(a.metric+a.service+a.value, b.metric+b.service+b.value)
	})
	for _, k := range keys {
		h := l.h[k]
		labels, values := []string{"service_name"}, []string{k.service}
		if k.label != "" {
			labels, values = append(labels, k.label), append(values, k.value)
		}
		desc := prometheus.NewDesc(k.metric, latHelp[k.metric], labels, nil)
		buckets := map[float64]uint64{}
		var cum uint64
		slot := 0
		for p := minPow; p <= maxPow; p++ {
			for ; slot < p*profile.HistSub && slot < len(h.Slots); slot++ {
				cum += h.Slots[slot]
			}
			buckets[float64(uint64(1)<<p)/1e9] = cum
		}
		m, err := prometheus.NewConstHistogram(desc, h.Count, float64(h.SumNs)/1e9, buckets, values...)
		if err == nil {
			ch <- m
		}
	}
}
