// Package agent is perfprobe's continuous profiler: it keeps the probes
// attached to the selected processes, hands over one profile per target
// per window (Session.Drain: consecutive windows, nothing lost or counted
// twice), writes them to the local store and pushes them to Pyroscope,
// scrapes the Go runtime's profiles of Go targets when asked, and serves
// its metrics, latency histograms per service among them.
package agent

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/store"
)

// Window is one target's profile over one window, as written and pushed.
type Window struct {
	Target  profile.Target
	Service string
	// Labels are every label of the window: service_name, pid, comm,
	// hostname and the configured ones.
	Labels     map[string]string
	Start, End time.Time
	// Profile holds the eBPF sample types of this target and, when its Go
	// profiles were scraped over the window, the go_* types.
	Profile *pprof.Profile
	// GoRaw are the Go runtime's profiles as the target served them, by
	// kind, when scraped in this window.
	GoRaw map[string]*pprof.Profile
}

// Agent is one running continuous profiler.
type Agent struct {
	cfg   Config
	logf  func(format string, args ...any)
	host  string
	store *store.Store
	push  *pyroscope.Client
	m     *metrics
	goScr *goScraper

	// Quiet logs only problems, not what the agent does.
	Quiet bool
	// OnWindow, when set before Run, gets every window after it is
	// written and queued (tests).
	OnWindow func(Window)

	mu       sync.Mutex
	hz       int
	services map[int]string // by pid, while it is a target
	session  *capture.Session
	retiring sync.WaitGroup // sessions being released in the background
	base     costBase       // the session's cumulative costs at the last window
	over     int            // consecutive windows over MaxCPU
	// lastEvents are each probe's events in the last window.
	lastEvents map[string]uint64
	rotated    time.Time
	srv        *http.Server
	ln         net.Listener
}

// New checks cfg and opens what the agent writes to: the store, the push
// client, the metrics listener. Nothing is attached before Run.
func New(cfg Config, logf func(format string, args ...any)) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	host := cfg.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	a := &Agent{cfg: cfg, logf: logf, host: host, hz: cfg.Hz, services: map[int]string{}}
	a.m = newMetrics()
	if !cfg.Store.Disabled {
		s, err := store.Open(cfg.Store.Dir, store.Limits{MaxBytes: int64(cfg.Store.MaxBytes), MaxAge: cfg.Store.MaxAge})
		if err != nil {
			return nil, fmt.Errorf("opening the store: %w", err)
		}
		a.store = s
		a.m.watchStore(s)
	}
	if cfg.Pyroscope.URL != "" {
		c, err := pyroscope.New(cfg.Pyroscope.pusher(), a.m.reg)
		if err != nil {
			return nil, err
		}
		c.Logf = func(format string, args ...any) { logf("pyroscope: "+format, args...) }
		a.push = c
	}
	if cfg.Go.Enabled {
		a.goScr = newGoScraper(cfg.Go, a.m, logf)
		// The session current when a scrape connects: its tls probe
		// leaves the handshake out of the target's (the handshake
		// follows the connect by microseconds; a rotation in between
		// would count it as the target's).
		a.goScr.own = func(netns uint64, port uint16) func() {
			a.mu.Lock()
			s := a.session
			a.mu.Unlock()
			if s == nil {
				return func() {}
			}
			return s.OwnConn(netns, port)
		}
	}
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("metrics address %s: %w (give another with --metrics-addr, or --metrics-addr '' for none)", cfg.MetricsAddr, err)
		}
		a.ln = ln
		a.srv = &http.Server{Handler: a.m.handler(), ReadHeaderTimeout: 5 * time.Second}
	}
	return a, nil
}

// MetricsAddr is where /metrics is served ("" when not).
func (a *Agent) MetricsAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Store is the agent's store (nil when off).
func (a *Agent) Store() *store.Store { return a.store }

// selector is the processes cfg targets.
func (a *Agent) selector() capture.Selector {
	t := a.cfg.Targets
	sel := capture.Selector{PIDs: t.PIDs, Cgroup: t.Cgroup}
	switch {
	case t.All:
		sel.Comm = regexp.MustCompile("")
	case t.Comm != "":
		sel.Comm = regexp.MustCompile(t.Comm)
	}
	return sel
}

func (a *Agent) options() capture.Options {
	o := capture.DefaultOptions()
	o.Duration = a.cfg.Interval // each Wait is one window
	o.Hz = a.hz
	o.Probes = a.cfg.Probes
	// Probes other than the defaults were asked for by name: each must
	// attach. The defaults skip what a target has no use for (tls).
	o.Named = !slices.Equal(slices.Sorted(slices.Values(a.cfg.Probes)), probes.Defaults())
	o.Go = capture.GoOptions{Skip: true} // scraped per target by the agent (goScraper)
	o.TargetHistograms = true            // exported per service (metrics.go)
	// New processes are looked for (--comm, --cgroup, --all) and mappings
	// re-read twice a second: a process that lives under half a second
	// may be missed (--comm's scan of /proc is the agent's largest cost).
	o.RefreshEvery = 500 * time.Millisecond
	o.Notify = func(line string) { a.logf("%s", line) }
	return o
}

// start attaches the first session.
func (a *Agent) start() error {
	s, err := capture.StartSelected(a.selector(), a.options())
	if err != nil {
		return err
	}
	for _, line := range s.Probes().Skipped() {
		a.logf("%s", line)
	}
	a.install(s)
	return nil
}

// install makes s the session whose windows are handed over.
func (a *Agent) install(s *capture.Session) {
	a.mu.Lock()
	a.session, a.base, a.rotated = s, costBase{}, time.Now()
	a.mu.Unlock()
	a.m.hz.Set(float64(a.hz))
}

// rotate re-attaches the probes with no hole in the windows: the new
// session is attached while the old one still records (attaching takes
// ~0.4 s), then the old one hands over its last window and the new one
// discards what it saw meanwhile, so that nothing counts twice; only the
// old session's hand-over (milliseconds) goes unrecorded.
func (a *Agent) rotate(ctx context.Context) error {
	next, err := capture.StartSelected(a.selector(), a.options())
	if err != nil {
		return err
	}
	last, err := a.session.Drain()
	if _, derr := next.Drain(); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		next.Close()
		return err
	}
	a.emit(ctx, last)
	a.retire(a.session)
	a.install(next)
	return nil
}

// Run profiles until ctx is done (SIGTERM, Ctrl-C) or, for a fixed set of
// pids, until every one of them has exited; then it writes the last
// window, flushes the push queue within ShutdownTimeout and releases
// everything. Errors are those that stop it from profiling at all.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeOutputs()
	if a.srv != nil {
		go func() { _ = a.srv.Serve(a.ln) }()
	}
	pushCtx, stopPush := context.WithCancel(context.Background())
	var pushDone chan struct{}
	if a.push != nil {
		pushDone = make(chan struct{})
		go func() { defer close(pushDone); a.push.Run(pushCtx) }()
	}
	if err := a.start(); err != nil {
		stopPush()
		return err
	}
	a.info("profiling %s every %v at %d Hz with %v", a.selector(), a.cfg.Interval, a.hz, a.session.Probes().Attached())
	var runErr error
	for {
		cause := a.session.Wait(ctx, nil, "")
		r, err := a.session.Drain()
		if err != nil {
			runErr = fmt.Errorf("handing over a window: %w", err)
			break
		}
		a.emit(ctx, r)
		if cause == capture.EndSignal {
			break
		}
		if cause == capture.EndTargetExited {
			a.info("every target exited; the last windows are written")
			break
		}
		why := a.rotation(r)
		r = nil
		// A window's profiles are garbage once written and queued: give
		// their memory back to the machine now rather than hold the peak
		// until the next window (~10 ms of CPU per window).
		debug.FreeOSMemory()
		if why != "" {
			a.logf("re-attaching the probes: %s", why)
			if err := a.rotate(ctx); err != nil {
				runErr = fmt.Errorf("re-attaching: %w", err)
				break
			}
		}
	}
	if a.session != nil {
		a.retire(a.session) // released while the queue is flushed
		a.session = nil
	}
	a.goScr.stop()
	if pushDone != nil {
		// Flush beside the running sender, then stop it: stopping it first
		// would abort a push in flight that the server may already hold,
		// and Flush would send that window a second time.
		fctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if err := a.push.Flush(fctx); err != nil {
			st := a.push.Stats()
			a.logf("pyroscope: %d windows not sent at exit (%v)", st.QueueWindows, err)
		}
		cancel()
	}
	stopPush()
	if pushDone != nil {
		<-pushDone
	}
	a.retiring.Wait()
	return runErr
}

// retire releases a session in the background once its last window is
// handed over: its probes stop at once, but unlinking iostall's
// per-syscall tracepoints takes the kernel seconds (4 s here), which would
// be a hole in the profiles at each rotation and a delay before the queue
// is flushed at exit. Run waits for every retired session before it
// returns, so nothing stays attached.
func (a *Agent) retire(s *capture.Session) {
	a.retiring.Add(1)
	go func() {
		defer a.retiring.Done()
		s.Close()
	}()
}

// info logs what the agent does, unless Quiet.
func (a *Agent) info(format string, args ...any) {
	if !a.Quiet {
		a.logf(format, args...)
	}
}

func (a *Agent) closeOutputs() {
	if a.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = a.srv.Shutdown(ctx)
		cancel()
	}
}

// costBase is a session's cumulative costs when the last window was
// handed over.
type costBase struct {
	cpuNs  uint64
	bpfNs  map[string]uint64 // by probe
	events map[string]uint64
	drops  map[string]uint64
}

// rotation says why the probes must be re-attached now ("" : they need
// not): the stack maps are full, the Rotate period passed, or the agent
// went over its CPU budget and lowers the sampling rate.
func (a *Agent) rotation(r *capture.Result) string {
	// A stack map is a hash table that never empties while the probes stay
	// attached: as it fills, more and more new stacks collide and are
	// dropped. Over 1% of a probe's events in a window is the sign.
	for _, name := range []string{"cpu_user_stack", "cpu_kernel_stack", "sched_user_stack", "sched_kernel_stack", "iostall_user_stack"} {
		probe, _, _ := strings.Cut(name, "_")
		n, events := r.Capture.Drops[name], a.lastEvents[probe]
		if n >= 10 && float64(n) > 0.01*float64(events) {
			return fmt.Sprintf("%d of %d %s events lost their stack (%s): the stack map is filling up", n, events, probe, name)
		}
	}
	if a.cfg.Rotate > 0 && time.Since(a.rotated) >= a.cfg.Rotate {
		return fmt.Sprintf("every %v, so that the stack maps start empty", a.cfg.Rotate)
	}
	if a.cfg.MaxCPU > 0 && a.over >= 2 && a.hz > 1 {
		old := a.hz
		a.hz = max(1, a.hz/2)
		a.over = 0
		return fmt.Sprintf("the agent used over %g%% of a CPU for two windows: sampling at %d Hz instead of %d", a.cfg.MaxCPU, a.hz, old)
	}
	return ""
}

// emit splits a window by target and writes, pushes and counts it.
func (a *Agent) emit(ctx context.Context, r *capture.Result) {
	c := r.Capture
	a.cost(r)
	byPID := splitByPID(r.Profile)
	live := map[int]bool{}
	for _, t := range c.Targets {
		if t.Exited.IsZero() && t.Removed.IsZero() {
			live[t.PID] = true
		}
	}
	a.m.targets.Set(float64(len(live)))
	a.m.windows.Inc()
	services := map[int]string{}
	for _, t := range c.Targets {
		services[t.PID] = a.service(t)
	}
	a.m.observe(c, services)
	if a.goScr != nil {
		a.goScr.schedule(ctx, c.Targets, live)
	}
	for _, line := range c.Warnings {
		a.m.warnings.Inc()
		_ = line // per-window warnings are in the stored profile's comments
	}
	for _, t := range c.Targets {
		p := byPID[t.PID]
		var goRaw map[string]*pprof.Profile
		if goRes := a.goScr.take(t.PID); goRes != nil {
			merged, g := capture.MergeGo(p, goRes)
			p, goRaw = merged, g.Raw
		}
		if p == nil || len(p.Sample) == 0 {
			continue // nothing of it in this window
		}
		w := Window{Target: t, Service: services[t.PID], Start: c.Start, End: c.End, Profile: p, GoRaw: goRaw}
		w.Labels = a.labels(t, w.Service)
		a.write(w)
	}
	a.forget(live)
}

// write stores and queues one window.
func (a *Agent) write(w Window) {
	if a.store != nil {
		_, err := a.store.Put(store.Window{Service: w.Service, PID: w.Target.PID, Start: w.Start, End: w.End, Labels: w.Labels}, w.Profile)
		if err != nil {
			a.m.storeErrors.Inc()
			a.logf("store: %v", err)
		}
	}
	if a.push != nil {
		if _, err := a.push.Enqueue(w.Labels, w.Profile, w.GoRaw); err != nil {
			a.m.pushErrors.Inc()
			a.logf("pyroscope: %v", err)
		}
	}
	if a.OnWindow != nil {
		a.OnWindow(w)
	}
}

// labels are a window's series labels.
func (a *Agent) labels(t profile.Target, service string) map[string]string {
	l := maps.Clone(a.cfg.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l["service_name"] = service
	l["pid"] = strconv.Itoa(t.PID)
	if t.Comm != "" {
		l["comm"] = t.Comm
	}
	if a.host != "" {
		l["hostname"] = a.host
	}
	return l
}

// service names a target's service, once per pid.
func (a *Agent) service(t profile.Target) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.services[t.PID]; ok {
		return s
	}
	s := a.cfg.ServiceName
	if s == "" {
		s = ServiceName(t.PID, t.Exe, t.Comm)
	}
	a.services[t.PID] = s
	return s
}

// forget drops the per-pid state of processes no longer targets.
func (a *Agent) forget(live map[int]bool) {
	a.mu.Lock()
	for pid := range a.services {
		if !live[pid] {
			delete(a.services, pid)
		}
	}
	a.mu.Unlock()
	a.goScr.forget(live)
}

// cost accounts the window's self-cost and checks the CPU budget.
func (a *Agent) cost(r *capture.Result) {
	sc := r.Capture.SelfCost
	cpu := sc.UserCPUNs + sc.SystemCPUNs
	d := r.Capture.End.Sub(r.Capture.Start)
	if a.base.cpuNs != 0 && d > 0 {
		pct := 100 * float64(cpu-a.base.cpuNs) / float64(d)
		a.m.cpuPercent.Set(pct)
		if a.cfg.MaxCPU > 0 && pct > a.cfg.MaxCPU {
			a.over++
		} else {
			a.over = 0
		}
	}
	a.base.cpuNs = cpu
	bpf := map[string]uint64{}
	for key, ns := range sc.BPFPrograms {
		probe, _, _ := strings.Cut(key, "/")
		bpf[probe] += ns
	}
	for probe, ns := range bpf {
		if ns >= a.base.bpfNs[probe] {
			a.m.bpfSeconds.WithLabelValues(probe).Add(float64(ns-a.base.bpfNs[probe]) / 1e9)
		}
	}
	a.base.bpfNs = bpf
	if a.session != nil {
		prog := a.session.Probes().Progress()
		events, drops := map[string]uint64{}, map[string]uint64{}
		a.lastEvents = map[string]uint64{}
		for name, p := range prog {
			events[name], drops[name] = p.Events, p.Drops
			if p.Events >= a.base.events[name] {
				a.lastEvents[name] = p.Events - a.base.events[name]
				a.m.events.WithLabelValues(name).Add(float64(p.Events - a.base.events[name]))
			}
			if p.Drops >= a.base.drops[name] {
				a.m.drops.WithLabelValues(name).Add(float64(p.Drops - a.base.drops[name]))
			}
		}
		a.base.events, a.base.drops = events, drops
	}
	a.m.rss.Set(float64(sc.PeakRSSBytes))
}

// splitByPID splits a window's profile into one profile per target, by
// the samples' pid label; each keeps only the locations its samples use.
func splitByPID(p *pprof.Profile) map[int]*pprof.Profile {
	out := map[int]*pprof.Profile{}
	if p == nil {
		return out
	}
	groups := map[int][]*pprof.Sample{}
	for _, s := range p.Sample {
		if v := s.NumLabel["pid"]; len(v) == 1 {
			groups[int(v[0])] = append(groups[int(v[0])], s)
		}
	}
	if len(groups) == 1 {
		for pid, g := range groups {
			if len(g) == len(p.Sample) {
				out[pid] = p // one target: the window is already compact (a tenth of the agent's CPU)
				return out
			}
		}
	}
	for _, pid := range slices.Sorted(maps.Keys(groups)) {
		q := &pprof.Profile{
			SampleType: p.SampleType, DefaultSampleType: p.DefaultSampleType, Sample: groups[pid],
			Mapping: p.Mapping, Location: p.Location, Function: p.Function, Comments: p.Comments,
			TimeNanos: p.TimeNanos, DurationNanos: p.DurationNanos, PeriodType: p.PeriodType, Period: p.Period,
		}
		out[pid] = q.Compact()
	}
	return out
}
