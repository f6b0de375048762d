package probes

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/profile"
)

// Config says what a session attaches.
type Config struct {
	// Probes names the probes to attach; each must attach or Start fails.
	// Empty means Defaults(), where a probe this kernel cannot load is
	// skipped with one line and the capture goes on with the others.
	Probes []string
	Hz     int // on-CPU sampling frequency; 0 means DefaultHz
	// StackInterval bounds how often the sched probe walks one thread's
	// stacks; switch-outs in between reuse its last stacks (the time stays
	// exact, only its attribution is sampled). 0 walks on every
	// switch-out; negative means DefaultStackInterval.
	StackInterval time.Duration
	// IOThreshold: I/O syscalls slower than this are attributed to their
	// stack (0: all of them; negative means DefaultIOThreshold).
	IOThreshold time.Duration
	// Children makes every child process a target forks (not its new
	// threads, which are targets already) a target too, and theirs in
	// turn: in the kernel, at fork, so nothing a child does before user
	// space learns of it (Session.Poll) is lost.
	Children bool
	// TargetHistograms keeps the sched, iostall and tls probes'
	// histograms per target process too, in Capture.TargetHistograms
	// (nil without it); it costs ~60 ns of BPF time per recorded value
	// (PERFORMANCE.md), paid only by sessions that ask for it.
	TargetHistograms bool
}

// DefaultIOThreshold is the latency above which an I/O syscall counts as a
// stall and gets its stack.
const DefaultIOThreshold = 100 * time.Microsecond

// DefaultStackInterval is how often, at most, the sched probe walks one
// thread's stacks. Walking a user and a kernel stack costs ~3µs inside the
// scheduler; at 10ms a thread switching 100k times a second keeps its
// overhead within noise (PERFORMANCE.md).
const DefaultStackInterval = 10 * time.Millisecond

// DefaultHz is the on-CPU sampling frequency without --hz: prime, and not
// 99 or 100, the periods of fgprof's and the Go CPU profiler's own tickers
// that perfprobe starts in a Go target. At fgprof's exact 99 Hz the two
// timers stay in phase for the whole window, so the sampler always fired
// just before (or just after) each fgprof wakeup: a light Go service's
// on-CPU samples came to 0.2-0.45 (and once 5x) of its scheduler-measured
// CPU time; at 97 Hz the phases sweep twice a second and the ratio is
// sampling noise around 1.
const DefaultHz = 97

// Session is one capture: probes attached to a set of target processes,
// one set of programs for all of them. Targets join (AddTarget, or at fork
// as children of a followed target) and leave (RemoveTarget, or they exit)
// while the probes stay attached. Its methods may be called from several
// goroutines.
type Session struct {
	cfg      Config
	probes   []Probe
	stats    io.Closer
	start    time.Time
	startNs  uint64
	window   time.Time // the current window began: start, or the last Drain
	attach   time.Duration
	opts     Options   // what every probe is attached with
	skipped  []skipped // probes that did not apply, and why
	named    bool      // the probes were named: each must attach
	paths    map[string]string
	warnings []string // to keep in the capture

	targetMap *ebpf.Map // Options.Targets
	follow    *follower // nil when its programs cannot load here: exits are then read from /proc

	mu       sync.Mutex      // guards what follows
	members  []*member       // every target so far, in the order they joined
	live     map[int]*member // the current targets by pid
	exited   map[int]uint64  // pids exited, by exit time (bpf clock), whose map entries go at a later Poll
	detached bool            // the probes are detached: nothing more to attach
}

// member is one target of the session.
type member struct {
	t       *Target
	added   time.Time
	exited  time.Time
	removed time.Time
	execs   uint32 // execs the kernel counted in its entry
	own     bool   // the session opened t (AddTarget, a child): Close closes it
}

func (m *member) info() profile.Target {
	i := m.t.Info()
	i.Added, i.Exited, i.Removed = m.added, m.exited, m.removed
	return i
}

type skipped struct {
	name, reason string
	kernel       bool // this kernel cannot load it (not: nothing in the target to attach to)
}

func (k skipped) String() string { return fmt.Sprintf("probe %s skipped: %s", k.name, k.reason) }

// Start checks privileges and BTF, then loads and attaches every probe for
// target t. On error nothing stays attached.
func Start(t *Target, cfg Config) (*Session, error) {
	return StartTargets([]*Target{t}, cfg)
}

// StartTargets is Start for many targets at once, or none yet (AddTarget
// adds them while the probes run). On error nothing stays attached.
func StartTargets(ts []*Target, cfg Config) (*Session, error) {
	began := time.Now()
	named := len(cfg.Probes) > 0
	if !named {
		cfg.Probes = Defaults()
	}
	if cfg.Hz == 0 {
		cfg.Hz = DefaultHz
	}
	if cfg.Hz < 1 || cfg.Hz > 10000 {
		return nil, fmt.Errorf("sampling frequency %d Hz out of range: use 1..10000 (%d is the default)", cfg.Hz, DefaultHz)
	}
	if len(ts) > MaxTargets {
		return nil, fmt.Errorf("%d targets: a session profiles at most %d processes", len(ts), MaxTargets)
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	load, err := LoadOptions()
	if err != nil {
		return nil, err
	}
	_ = rlimit.RemoveMemlock() // older kernels charge BPF maps to RLIMIT_MEMLOCK
	s := &Session{cfg: cfg, named: named, paths: map[string]string{}, live: map[int]*member{}, exited: map[int]uint64{}}
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		s.stats = st
	}
	if s.targetMap, err = newTargetMap(); err != nil {
		s.Close()
		return nil, describeLoadError(err)
	}
	for _, t := range ts {
		if err := s.put(t, 0); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.follow, err = startFollower(s.targetMap, cfg.Children, load); err != nil {
		if cfg.Children {
			s.Close()
			return nil, fmt.Errorf("following child processes: %w", describeLoadError(err))
		}
		s.warnings = append(s.warnings, "targets: exits and execs are read from /proc, not seen by the kernel: "+kernelRefusal(err))
	}
	if cfg.StackInterval < 0 {
		cfg.StackInterval = DefaultStackInterval
	}
	if cfg.IOThreshold < 0 {
		cfg.IOThreshold = DefaultIOThreshold
	}
	s.opts = Options{Hz: cfg.Hz, StackInterval: cfg.StackInterval, IOThreshold: cfg.IOThreshold, Load: load, Targets: s.targetMap,
		TargetHistograms: cfg.TargetHistograms}
	for _, name := range cfg.Probes {
		p, err := s.attachProbe(name, s.first())
		if err != nil {
			s.Close()
			return nil, err
		}
		if p != nil {
			s.probes = append(s.probes, p)
		}
	}
	if len(s.probes) == 0 && slices.ContainsFunc(s.skipped, func(k skipped) bool { return k.kernel }) {
		s.Close()
		var why []string
		for _, k := range s.skipped {
			why = append(why, k.name+": "+k.reason)
		}
		return nil, fmt.Errorf("no probe can attach on this kernel (%s)", strings.Join(why, "; "))
	}
	if len(ts) > 1 {
		s.mu.Lock()
		for _, t := range ts[1:] {
			s.notify(t)
		}
		s.mu.Unlock()
	}
	s.start = time.Now()
	s.startNs = MonotonicNs()
	s.window = s.start
	for _, p := range s.probes {
		if err := p.Begin(s.startNs); err != nil {
			s.Close()
			return nil, fmt.Errorf("starting probe %s: %w", p.Name(), err)
		}
	}
	s.mu.Lock()
	for _, m := range s.members {
		m.added = s.start
	}
	s.mu.Unlock()
	s.attach = time.Since(began)
	return s, nil
}

// put makes t a target: in the map (events count from startNs, 0: from
// the window start) and in the list. s.mu must be held, or s not shared yet.
func (s *Session) put(t *Target, startNs uint64) error {
	if m := s.live[t.PID]; m != nil {
		return nil
	}
	var e targetEntry
	e.StartNs = startNs
	if s.cfg.Children {
		e.Flags = targetChildren
	}
	if err := putTarget(s.targetMap, t.PID, e); err != nil {
		return fmt.Errorf("adding pid %d to the targets: %w", t.PID, err)
	}
	m := &member{t: t, added: time.Now()}
	s.members = append(s.members, m)
	s.live[t.PID] = m
	return nil
}

// first returns the session's first target, nil when there is none yet.
func (s *Session) first() *Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) == 0 {
		return nil
	}
	return s.members[0].t
}

// describeLoadError turns the kernel's refusals into advice.
func describeLoadError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (%w: run as root or with CAP_BPF+CAP_PERFMON; check `perfprobe doctor`)", err, ErrNotPermitted)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w (this kernel lacks a feature the probe needs; see `perfprobe doctor`)", err)
	}
	return err
}

// attachProbe loads and attaches one probe for t (nil: no target yet). A
// probe that does not apply to t is recorded as skipped and returned as nil.
func (s *Session) attachProbe(name string, t *Target) (Probe, error) {
	p, err := New(name)
	if err != nil {
		return nil, err
	}
	if err := p.Attach(t, s.opts); err != nil {
		p.Close()
		var skip *Skipped
		if errors.As(err, &skip) {
			s.skipped = append(s.skipped, skipped{name: name, reason: skip.Reason})
			return nil, nil
		}
		err = describeLoadError(err)
		if s.named || errors.Is(err, ErrNotPermitted) || errors.Is(err, ErrNoBTF) {
			return nil, fmt.Errorf("attaching probe %s: %w", name, err)
		}
		s.skipped = append(s.skipped, skipped{name: name, reason: kernelRefusal(err), kernel: true})
		return nil, nil
	}
	if pp, ok := p.(Path); ok {
		s.paths[name] = pp.Path()
	}
	return p, nil
}

// kernelRefusal says in one line why this kernel cannot load a probe: what
// it lacks (Missing), or the first line of what it said.
func kernelRefusal(err error) string {
	var m *Missing
	if errors.As(err, &m) {
		return m.Error()
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	return "this kernel refused it: " + line
}

// Add attaches one more probe to a running session; its window starts
// now. `perfprobe run` uses it for probes bound to the target's image
// that found nothing before the exec (a C command's libssl is mapped only
// after it).
func (s *Session) Add(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = slices.DeleteFunc(s.skipped, func(k skipped) bool { return k.name == name })
	var t *Target
	if len(s.members) > 0 {
		t = s.members[0].t
	}
	p, err := s.attachProbe(name, t)
	if err != nil || p == nil {
		return err
	}
	if err := p.Begin(MonotonicNs()); err != nil {
		p.Close()
		return fmt.Errorf("starting probe %s: %w", name, err)
	}
	s.probes = append(s.probes, p)
	return nil
}

// notify tells the probes about target t, new or just exec'd: those that
// attach per target (TargetAdder) attach to what is new in it, and a probe
// bound to the image that found nothing in the targets so far is tried on
// it. s.mu must be held.
func (s *Session) notify(t *Target) {
	if s.detached {
		return
	}
	for _, p := range s.probes {
		if a, ok := p.(TargetAdder); ok {
			if err := a.AddTarget(t); err != nil {
				s.warnings = append(s.warnings, fmt.Sprintf("probe %s: pid %d (%s): %v", p.Name(), t.PID, t.Comm, err))
			}
		}
	}
	for _, k := range slices.Clone(s.skipped) {
		if k.kernel || !ImageBound(k.name) {
			continue
		}
		p, err := New(k.name)
		if err != nil {
			continue
		}
		if err := p.Attach(t, s.opts); err != nil {
			p.Close()
			continue // still nothing to attach to: the first reason stands
		}
		if !s.start.IsZero() {
			if err := p.Begin(MonotonicNs()); err != nil {
				p.Close()
				s.warnings = append(s.warnings, fmt.Sprintf("starting probe %s for pid %d: %v", k.name, t.PID, err))
				continue
			}
		}
		if pp, ok := p.(Path); ok {
			s.paths[k.name] = pp.Path()
		}
		s.skipped = slices.DeleteFunc(s.skipped, func(o skipped) bool { return o.name == k.name })
		s.probes = append(s.probes, p)
	}
}

// WasSkipped reports whether probe name did not apply when attached.
func (s *Session) WasSkipped(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.skipped, func(k skipped) bool { return k.name == name })
}

// ImageBound reports whether probe name attaches to the target's
// executable image (uprobes), so that it must attach after an exec.
func ImageBound(name string) bool {
	p, err := New(name)
	if err != nil {
		return false
	}
	b, ok := p.(interface{ ImageBound() bool })
	return ok && b.ImageBound()
}

// Skipped lists the probes that did not apply to this target or that
// this kernel cannot load, and why, one line each.
func (s *Session) Skipped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skippedLocked()
}

func (s *Session) skippedLocked() []string {
	out := make([]string, len(s.skipped))
	for i, k := range s.skipped {
		out[i] = k.String()
		if k.kernel {
			out[i] += "; capturing with " + strings.Join(s.attachedLocked(), ", ")
		}
	}
	return out
}

// Paths says, per attached probe, which way it chose on this kernel.
func (s *Session) Paths() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.paths)
}

// Attached lists the probes that are attached.
func (s *Session) Attached() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachedLocked()
}

func (s *Session) attachedLocked() []string {
	var out []string
	for _, p := range s.probes {
		out = append(out, p.Name())
	}
	return out
}

// AttachDuration is how long Start took.
func (s *Session) AttachDuration() time.Duration { return s.attach }

// StartTime is when the capture window began.
func (s *Session) StartTime() time.Time { return s.start }

// Progress sums the live progress of every probe.
func (s *Session) Progress() map[string]Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Progress{}
	for _, p := range s.probes {
		out[p.Name()] = p.Progress()
	}
	return out
}

// AddTarget makes process pid a target from now on, while the probes stay
// attached: its events count from this moment (a thread already off the
// CPU is accounted from now, not from the window start). A pid that is a
// target already is left as it is. With Config.Children its future child
// processes are followed too.
func (s *Session) AddTarget(pid int) error {
	t, err := OpenTarget(pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live[pid] != nil {
		t.Close()
		return nil
	}
	var startNs uint64
	if !s.start.IsZero() {
		startNs = MonotonicNs()
	}
	if err := s.put(t, startNs); err != nil {
		t.Close()
		return err
	}
	s.members[len(s.members)-1].own = true
	s.notify(t)
	return nil
}

// RemoveTarget stops profiling process pid; what was recorded of it stays
// in the capture. Its children already followed stay targets. The uprobes
// of its files stay too while the session runs (other targets may run the
// same files); they record nothing for it.
func (s *Session) RemoveTarget(pid int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.live[pid]
	if m == nil {
		return fmt.Errorf("pid %d is not a target of this session", pid)
	}
	if err := s.targetMap.Delete(uint32(pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing pid %d from the targets: %w", pid, err)
	}
	m.removed = time.Now()
	delete(s.live, pid)
	return nil
}

// Targets lists every process the session has profiled, in the order they
// became targets, with when they joined and when they exited or were
// removed.
func (s *Session) Targets() []profile.Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]profile.Target, len(s.members))
	for i, m := range s.members {
		out[i] = m.info()
	}
	return out
}

// Changes are what Poll found since its last call, pids in increasing
// order.
type Changes struct {
	// Added are child processes the kernel made targets at fork
	// (Config.Children): snapshot their mappings now for symbolization.
	// One that exited already is in Exited too; one that never exec'd
	// maps the same files as its parent (Target.Parent).
	Added []int
	// Execed are targets that ran a new program: their mappings changed.
	Execed []int
	// Exited are targets whose last thread exited; they are no longer
	// targets (their pids may be reused).
	Exited []int
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Execed)+len(c.Exited) == 0 }

// exitGrace is how long a target's entry stays in the map after its last
// thread exited: that thread still switches out once, and the sched probe
// accounts that.
const exitGrace = 50 * time.Millisecond

// Poll reads what the kernel noted in the target map since the last call:
// children that became targets at fork, targets that exec'd and targets
// that exited. Call it every 100 ms to 1 s while the capture runs, and
// snapshot the mappings of what it returns; the probes that attach per
// target (TLS uprobes) attach to new files from here. Collect polls a last
// time itself.
func (s *Session) Poll() (Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll()
}

func (s *Session) poll() (Changes, error) {
	var ch Changes
	now := MonotonicNs()
	entries := map[int]targetEntry{}
	var (
		k uint32
		e targetEntry
	)
	it := s.targetMap.Iterate()
	for it.Next(&k, &e) {
		entries[int(k)] = e
	}
	if err := it.Err(); err != nil {
		return ch, fmt.Errorf("reading the target map: %w", err)
	}
	for _, pid := range slices.Sorted(maps.Keys(entries)) {
		e := entries[pid]
		if at, ok := s.exited[pid]; ok { // reported already; the entry goes after the grace
			if now-at >= uint64(exitGrace) {
				_ = s.targetMap.Delete(uint32(pid))
				delete(s.exited, pid)
			}
			continue
		}
		m := s.live[pid]
		switch {
		case m == nil && e.Flags&targetForked != 0:
			m = s.adopt(pid, e)
			ch.Added = append(ch.Added, pid)
			if e.ExitNs == 0 {
				s.notify(m.t)
			}
		case m == nil:
			continue // removed meanwhile
		case e.Execs != m.execs:
			m.execs = e.Execs
			m.t.Refresh()
			m.t.ImagePath = ""
			ch.Execed = append(ch.Execed, pid)
			if e.ExitNs == 0 {
				s.notify(m.t)
			}
		}
		if e.ExitNs != 0 {
			if comm := CommString(e.Comm); comm != "" {
				m.t.Comm = comm
			}
			m.exited = monoTime(e.ExitNs)
			delete(s.live, pid)
			s.exited[pid] = e.ExitNs
			ch.Exited = append(ch.Exited, pid)
		}
	}
	if s.follow == nil { // no exit program: ask /proc
		for _, pid := range slices.Sorted(maps.Keys(s.live)) {
			if m := s.live[pid]; !m.t.Alive() {
				m.exited = time.Now()
				delete(s.live, pid)
				_ = s.targetMap.Delete(uint32(pid))
				ch.Exited = append(ch.Exited, pid)
			}
		}
	}
	slices.Sort(ch.Exited)
	return ch, nil
}

// adopt records child pid, which the kernel made a target at fork.
func (s *Session) adopt(pid int, e targetEntry) *member {
	var t *Target
	if e.ExitNs == 0 {
		t, _ = OpenTarget(pid) // gone meanwhile: what the entry says is all there is
	}
	if t == nil {
		t = &Target{PID: pid, Comm: CommString(e.Comm), pidfd: -1}
	}
	t.Parent = int(e.Parent)
	m := &member{t: t, added: monoTime(e.StartNs), execs: e.Execs, own: true}
	s.members = append(s.members, m)
	s.live[pid] = m
	return m
}

// monoTime converts a time on the clock of bpf_ktime_get_ns to wall-clock
// time.
func monoTime(ns uint64) time.Time {
	return time.Now().Add(-time.Duration(MonotonicNs() - ns))
}

// Stop ends the window, detaches every probe, collects what they
// aggregated and closes them. cause says why the capture ended. A probe
// that fails to collect adds a warning; the rest is still returned.
func (s *Session) Stop(cause string) *profile.Capture {
	c := s.Collect(cause)
	s.Close()
	return c
}

// Collect ends the window, detaches every probe and collects what they
// aggregated, leaving the kernel objects open: the caller writes its
// outputs first and then calls Close, which may wait for the kernel
// (per-syscall tracepoints take seconds to unlink). It polls the target
// map a last time, so Capture.Targets holds every process profiled.
func (s *Session) Collect(cause string) *profile.Capture {
	endNs := MonotonicNs()
	end := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.probes {
		p.Detach()
	}
	s.detached = true
	if s.follow != nil {
		s.follow.detach()
	}
	if _, err := s.poll(); err != nil {
		s.warnings = append(s.warnings, err.Error())
	}
	c := s.newCapture(end, cause)
	for _, p := range s.probes {
		s.addProbe(c, p)
		if err := p.Collect(c, endNs); err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("probe %s: collecting: %v", p.Name(), err))
		}
	}
	c.SelfCost = s.selfCost()
	return c
}

// ErrNotDrainable is returned by Drain when a probe of the session cannot
// drain (every probe of this module can).
var ErrNotDrainable = errors.New("probe cannot hand over its figures while attached")

// Drain ends the current window and begins the next while the probes stay
// attached, for rolling windows: it returns what they aggregated since the
// window began (Start, or the last Drain); no event is lost or counted in
// two windows. It polls the targets first, as Collect does. Every probe
// must implement Drainer, or Drain fails with ErrNotDrainable and changes
// nothing.
//
// What spans the boundary: a thread's time (on CPU, blocked, in the run
// queue) is split at it, each window getting its part, so per-thread time
// adds up to each window's length; an event with a duration (a TLS
// handshake, an I/O syscall, a block request, an off-CPU interval in the
// histograms) counts whole in the window where it ends. Self-cost and
// targets_children cover the session so far, not the window; drops are
// counted in the window that read them, so one that happened at a switch
// may land in the next. Stack ids stay valid across windows: the stack
// maps are not cleared, so once one is full, new stacks are dropped
// (counted in drops.*_user_stack and *_kernel_stack) for the rest of the
// session.
func (s *Session) Drain() (*profile.Capture, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.probes {
		if _, ok := p.(Drainer); !ok {
			return nil, fmt.Errorf("draining probe %s: %w", p.Name(), ErrNotDrainable)
		}
	}
	if s.detached {
		return nil, errors.New("draining: the session is collected already")
	}
	if _, err := s.poll(); err != nil {
		s.warnings = append(s.warnings, err.Error())
	}
	endNs, end := MonotonicNs(), time.Now()
	c := s.newCapture(end, "drain")
	// A switch waits for the programs still running on the old window
	// (milliseconds): every probe switches at once, in its own goroutine,
	// so that all their windows end within about a millisecond of endNs;
	// each hands over into a part of its own, merged here in probe order.
	parts, errs := make([]*profile.Capture, len(s.probes)), make([]error, len(s.probes))
	var wg sync.WaitGroup
	for i, p := range s.probes {
		parts[i] = part(c)
		wg.Go(func() { errs[i] = p.(Drainer).Drain(parts[i], endNs) })
	}
	wg.Wait()
	for i, p := range s.probes {
		s.addProbe(c, p)
		merge(c, parts[i])
		if errs[i] != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("probe %s: draining: %v", p.Name(), errs[i]))
		}
	}
	c.SelfCost = s.selfCost()
	s.window = end
	s.forgetLocked(c.Start)
	return c, nil
}

// forgetLocked drops the targets that exited or were removed before
// since: the window that saw them go listed them already, so a session
// drained for days keeps only the targets it still profiles (and closes
// the ones it opened). s.mu must be held.
func (s *Session) forgetLocked(since time.Time) {
	s.members = slices.DeleteFunc(s.members, func(m *member) bool {
		gone := m.exited
		if gone.IsZero() {
			gone = m.removed
		}
		if gone.IsZero() || !gone.Before(since) {
			return false
		}
		if m.own {
			m.t.Close()
		}
		return true
	})
}

// addProbe lists probe p and its sample types in c.
func (s *Session) addProbe(c *profile.Capture, p Probe) {
	c.Probes = append(c.Probes, p.Name())
	if d, ok := Describe(p.Name()); ok {
		for _, t := range d.SampleTypes {
			c.SampleTypes = append(c.SampleTypes, t.Name)
		}
	}
}

// part is an empty capture of c's window for one probe to fill.
func part(c *profile.Capture) *profile.Capture {
	return &profile.Capture{
		Target: c.Target, Targets: c.Targets, Start: c.Start, End: c.End, Hz: c.Hz,
		Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{},
		Drops: map[string]uint64{}, Threads: map[uint32]*profile.Thread{},
	}
}

// merge adds what one probe put in part to c.
func merge(c, part *profile.Capture) {
	c.Stacks = append(c.Stacks, part.Stacks...)
	maps.Copy(c.Histograms, part.Histograms)
	for pid, hs := range part.TargetHistograms {
		for name, h := range hs {
			AddTargetHist(c, pid, name, h)
		}
	}
	for k, v := range part.Counts {
		c.Counts[k] += v
	}
	for k, v := range part.Drops {
		c.Drops[k] += v
	}
	for tid, t := range part.Threads {
		th := Thread(c, t.PID, tid, t.Name)
		th.OnCPUNs += t.OnCPUNs
		th.BlockedNs += t.BlockedNs
		th.RunqueueNs += t.RunqueueNs
		th.UninterruptibleNs += t.UninterruptibleNs
		th.Samples += t.Samples
	}
	c.Warnings = append(c.Warnings, part.Warnings...)
}

// newCapture starts the capture of the current window, ending at end.
// s.mu must be held.
func (s *Session) newCapture(end time.Time, cause string) *profile.Capture {
	c := &profile.Capture{
		Start:      s.window,
		End:        end,
		Hz:         s.cfg.Hz,
		EndCause:   cause,
		Histograms: map[string]*profile.Histogram{},
		Counts:     map[string]uint64{},
		Drops:      map[string]uint64{},
		Threads:    map[uint32]*profile.Thread{},
		Warnings:   append(s.skippedLocked(), s.warnings...),
		Kernel:     profile.Kernel{Release: kernelRelease(), Paths: maps.Clone(s.paths)},
	}
	if s.cfg.TargetHistograms {
		c.TargetHistograms = map[int]map[string]*profile.Histogram{}
	}
	for _, m := range s.members {
		c.Targets = append(c.Targets, m.info())
	}
	if len(c.Targets) > 0 {
		c.Target = c.Targets[0]
	}
	if s.follow != nil && s.follow.children {
		c.Counts["targets_children"], c.Drops["targets_full"] = s.follow.counts()
	}
	return c
}

func (s *Session) selfCost() profile.SelfCost {
	sc := profile.SelfCost{BPFPrograms: map[string]uint64{}, AttachSeconds: s.attach.Seconds()}
	add := func(owner string, progs map[string]*ebpf.Program) {
		for name, prog := range progs {
			st, err := prog.Stats()
			if err != nil {
				continue
			}
			sc.BPFPrograms[owner+"/"+name] = uint64(st.Runtime)
			sc.BPFRunNs += uint64(st.Runtime)
			sc.BPFRunCount += st.RunCount
			sc.BPFMissedRuns += st.RecursionMisses
		}
	}
	for _, p := range s.probes {
		add(p.Name(), p.Programs())
	}
	if s.follow != nil {
		add("targets", s.follow.progs)
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		sc.UserCPUNs = uint64(ru.Utime.Nano())
		sc.SystemCPUNs = uint64(ru.Stime.Nano())
		sc.PeakRSSBytes = uint64(ru.Maxrss) * 1024
	}
	return sc
}

// Close detaches and frees everything; safe to call more than once. The
// targets given to the session stay open (their owner closes them); those
// the session opened itself are closed.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Every probe stops first: a probe whose unlinking takes seconds
	// (iostall's per-syscall tracepoints) must not keep the others running.
	for _, p := range s.probes {
		p.Detach()
	}
	for _, p := range slices.Backward(s.probes) {
		p.Close()
	}
	s.probes = nil
	if s.follow != nil {
		s.follow.close()
		s.follow = nil
	}
	if s.targetMap != nil {
		s.targetMap.Close()
		s.targetMap = nil
	}
	if s.stats != nil {
		s.stats.Close()
		s.stats = nil
	}
	for _, m := range s.members {
		if m.own {
			m.t.Close()
		}
	}
}

func kernelRelease() string {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	return unix.ByteSliceToString(uts.Release[:])
}
