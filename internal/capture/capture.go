package capture

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Session is one capture in progress: the probes attached to the targets,
// their mappings snapshotted for symbolization as they appear, and the Go
// profiles being fetched beside it.
type Session struct {
	opts    Options
	sel     Selector // matched again while the capture runs (Comm, Cgroup)
	first   *probes.Target
	owned   []*probes.Target // opened here, closed by Close
	probes  *probes.Session
	syms    *symbolize.Symbolizer
	goFetch *GoFetch
	meta    *metas     // each target's metadata and cgroup counters (meta.go)
	scan    *scanCache // what the last rematch learnt of each process
	scanMu  sync.Mutex // rematches run one at a time (Poll may be called from several goroutines)

	mu      sync.Mutex
	procs   map[int]*symbolize.Process
	exited  map[int]bool
	changes probes.Changes // everything polled, merged
	pending []string       // warnings to keep in capture.json

	ownConns atomic.Uint64 // connections made to the targets by the Go fetch or the agent (OwnConn)
}

// ownConner is what the tls probe offers to leave perfprobe's own
// connections out of the target's handshakes.
type ownConner interface {
	OwnConn(netns uint64, port uint16) (release func())
}

// OwnConn is a fetch.ConnHook: the Go fetch's (and the agent's scrapes')
// connections to the targets. It counts the connection and tells the tls
// probe, when attached (also one attached late, by run), so that the
// handshakes it makes in the target count apart (tls_own_probes).
func (s *Session) OwnConn(netns uint64, port uint16) func() {
	s.ownConns.Add(1)
	if p, ok := s.probes.Probe("tls").(ownConner); ok {
		return p.OwnConn(netns, port)
	}
	return func() {}
}

// shared is the symbolizer of every capture of this process: binaries and
// the kernel's symbols (~0.3 s to load) are parsed once.
var shared = symbolize.New()

// Start attaches the probes to t, snapshots its mappings and starts
// fetching its Go profiles. On error nothing stays attached.
func Start(t *probes.Target, o Options) (*Session, error) {
	return start([]*probes.Target{t}, Selector{}, o)
}

// StartTargets captures the processes ts (none: targets come later with
// AddTarget, or as children). The caller keeps ownership of ts.
func StartTargets(ts []*probes.Target, o Options) (*Session, error) {
	return start(ts, Selector{}, o)
}

// StartSelected captures every process sel matches now and, for a comm
// pattern or a cgroup, every process that comes to match while it runs;
// with Options.Children, their children too. The Go runtime's profiles
// are fetched when the capture starts with one process.
func StartSelected(sel Selector, o Options) (*Session, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	pids, err := sel.Match()
	if err != nil {
		return nil, err
	}
	var ts []*probes.Target
	closeAll := func() {
		for _, t := range ts {
			t.Close()
		}
	}
	for _, pid := range pids {
		t, err := probes.OpenTarget(pid)
		if errors.Is(err, probes.ErrNoSuchProcess) && (sel.Comm != nil || sel.Cgroup != "") {
			continue // exited since it matched
		}
		if err != nil {
			closeAll()
			return nil, err
		}
		ts = append(ts, t)
	}
	for _, pid := range sel.PIDs {
		if !slices.Contains(pids, pid) {
			closeAll()
			_, err := probes.OpenTarget(pid) // says why, in the words attach uses
			if err == nil {
				err = fmt.Errorf("pid %d cannot be profiled", pid)
			}
			return nil, err
		}
	}
	if len(ts) == 0 && sel.PIDs == nil && o.Duration == 0 {
		return nil, fmt.Errorf("no process matches %s yet, and with no duration the capture would wait forever: give a duration", sel)
	}
	s, err := start(ts, sel, o)
	if err != nil {
		closeAll()
		return nil, err
	}
	s.owned = ts
	return s, nil
}

func start(ts []*probes.Target, sel Selector, o Options) (*Session, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Session{opts: o, sel: sel, syms: shared, procs: map[int]*symbolize.Process{}, exited: map[int]bool{}, meta: newMetas("/"), scan: newScanCache()}
	if len(ts) > 0 {
		s.first = ts[0]
	}
	ps, err := probes.StartTargets(ts, o.config())
	if err != nil {
		return nil, err
	}
	s.probes = ps
	s.snapshot()
	if len(ts) == 1 {
		g := o.Go
		g.ownConn = s.OwnConn
		s.goFetch = StartGoFetch(ts[0].PID, o.Duration, g)
	}
	return s, nil
}

// GoFetchEnded is closed once the Go profiles' fetch is over (no endpoint
// found, or the window fetched); nil when the session fetches none.
func (s *Session) GoFetchEnded() <-chan struct{} { return s.goFetch.Ended() }

// Probes is the probe session underneath: what attached, what was
// skipped and why, which path each probe chose, the targets.
func (s *Session) Probes() *probes.Session { return s.probes }

// Target is the first process captured (nil when the capture started
// with none).
func (s *Session) Target() *probes.Target { return s.first }

// AddTarget makes pid a target from now on and snapshots its mappings at
// once (it may exit before the next poll).
func (s *Session) AddTarget(pid int) error {
	if err := s.probes.AddTarget(pid); err != nil {
		return err
	}
	s.snapshot()
	return nil
}

// Changes returns everything the session's polls found since it started
// or, for a drained session, since the last Drain: children adopted,
// execs, exits.
func (s *Session) Changes() probes.Changes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return probes.Changes{
		Added:  slices.Clone(s.changes.Added),
		Execed: slices.Clone(s.changes.Execed),
		Exited: slices.Clone(s.changes.Exited),
	}
}

// Poll takes in what changed among the targets: children the kernel
// adopted, execs and exits (probes.Session.Poll), and processes that came
// to match the selector; it snapshots the mappings of new targets and
// re-reads those of targets that exec'd. Wait calls it; a caller driving
// the session itself calls it every 100 ms to 1 s.
func (s *Session) Poll() {
	ch, err := s.probes.Poll()
	if err != nil {
		s.warn("polling the targets: " + err.Error())
	}
	s.mu.Lock()
	s.changes.Added = append(s.changes.Added, ch.Added...)
	s.changes.Execed = append(s.changes.Execed, ch.Execed...)
	s.changes.Exited = append(s.changes.Exited, ch.Exited...)
	for _, pid := range ch.Execed {
		if p := s.procs[pid]; p != nil {
			if err := p.Refresh(); err != nil {
				s.pending = append(s.pending, fmt.Sprintf("re-reading the mappings of pid %d after its exec: %v", pid, err))
			}
		}
	}
	for _, pid := range ch.Exited {
		s.exited[pid] = true
	}
	s.mu.Unlock()
	if s.sel.Comm != nil || s.sel.Cgroup != "" {
		s.rematch()
	}
	s.snapshot()
}

// rematch adds the processes that came to match the selector.
func (s *Session) rematch() {
	s.scanMu.Lock()
	pids, err := s.sel.match(s.scan)
	s.scanMu.Unlock()
	if err != nil {
		s.warn("matching new processes: " + err.Error())
		return
	}
	known := map[int]bool{}
	for _, t := range s.probes.Targets() {
		if t.Exited.IsZero() && t.Removed.IsZero() {
			known[t.PID] = true
		}
	}
	for _, pid := range pids {
		if !known[pid] {
			_ = s.probes.AddTarget(pid) // gone meanwhile, or a kernel thread: nothing to profile
		}
	}
}

// snapshot opens the mappings of every live target not snapshotted yet.
func (s *Session) snapshot() {
	for _, t := range s.probes.Targets() {
		if t.Exited.IsZero() {
			s.meta.track(t.PID)
		}
		s.mu.Lock()
		_, ok := s.procs[t.PID]
		s.mu.Unlock()
		if ok || !t.Exited.IsZero() {
			continue
		}
		p, err := s.syms.Process(t.PID)
		if err != nil {
			if t.Parent == 0 { // a child that exits at once maps its parent's files
				s.warn(fmt.Sprintf("reading the mappings of pid %d: %v; its user frames stay as addresses", t.PID, err))
			}
			continue
		}
		s.mu.Lock()
		if s.procs[t.PID] == nil {
			s.procs[t.PID] = p
		} else {
			p.Close() // snapshotted meanwhile by a concurrent poll
		}
		s.mu.Unlock()
	}
}

// Refresh re-reads the mappings of every live target (a library loaded,
// an exec), so that symbols survive their exit.
func (s *Session) Refresh() {
	one := len(s.probes.Targets()) == 1 // a refresh error is news for one target, noise among many
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range s.procs {
		if s.exited[pid] {
			continue
		}
		if err := p.Refresh(); err != nil && one {
			s.pending = append(s.pending, "refreshing mappings: "+err.Error())
		}
	}
}

func (s *Session) warn(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.pending, line) {
		s.pending = append(s.pending, line)
	}
}

// allExited reports whether every target of a fixed set of pids has
// exited: nothing more can come.
func (s *Session) allExited() bool {
	if s.sel.Comm != nil || s.sel.Cgroup != "" {
		return false
	}
	ts := s.probes.Targets()
	for _, t := range ts {
		if t.Exited.IsZero() && t.Removed.IsZero() {
			return false
		}
	}
	return len(ts) > 0
}

// Wait runs the capture window until the duration ends (EndDuration), ctx
// is cancelled (EndSignal), done is closed (doneCause), or, when done is
// nil, every target of a fixed set of pids has exited (EndTargetExited),
// polling the targets,
// refreshing their mappings and reporting progress, and returns why it
// ended.
func (s *Session) Wait(ctx context.Context, done <-chan struct{}, doneCause string) string {
	var timeout <-chan time.Time
	if s.opts.Duration > 0 {
		timer := time.NewTimer(s.opts.Duration)
		defer timer.Stop()
		timeout = timer.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	every := s.opts.RefreshEvery
	if every == 0 {
		every = time.Second
		if s.opts.Children || s.sel.Comm != nil || s.sel.Cgroup != "" || len(s.probes.Targets()) > 1 {
			every = 250 * time.Millisecond // new processes come and go
		}
	}
	rt := time.NewTicker(min(every, time.Second))
	defer rt.Stop()
	for {
		select {
		case <-timeout:
			return EndDuration
		case <-ctx.Done():
			return EndSignal
		case <-done:
			return doneCause
		case note := <-s.goFetch.Found():
			s.notify(note)
		case <-rt.C:
			s.Poll()
			if done == nil && s.allExited() { // a caller's done says it first, with its own cause
				return EndTargetExited
			}
		case <-tick.C:
			s.Refresh()
			if s.opts.Progress != nil {
				s.opts.Progress(s.progress())
			}
		}
	}
}

func (s *Session) notify(line string) {
	if s.opts.Notify != nil {
		s.opts.Notify(line)
	}
}

func (s *Session) progress() Progress {
	p := Progress{Elapsed: time.Since(s.probes.StartTime()), Duration: s.opts.Duration}
	live := s.probes.Progress()
	for _, name := range s.probes.Attached() {
		unit := "events"
		if d, ok := probes.Describe(name); ok && d.EventUnit != "" {
			unit = d.EventUnit
		}
		p.Probes = append(p.Probes, ProbeProgress{Name: name, Events: live[name].Events, Unit: unit})
		p.Drops += live[name].Drops
	}
	return p
}

// Stop ends the window and builds the result: the probes detach and hand
// over what they aggregated, the Go fetch ends, the stacks are symbolized
// and merged with the Go profiles, and the plugins diagnose them. What was
// collected is kept whatever goes wrong with the rest (a warning says
// what). The kernel objects stay open until Close.
func (s *Session) Stop(cause string) *Result {
	s.Poll()
	c := s.probes.Collect(cause)
	s.meta.fill(c)
	goRes := s.goFetch.Wait(cause)
	if n := s.ownConns.Swap(0); s.goFetch != nil || n > 0 {
		c.Counts["own_connections"] = n // since Start or the last Drain
	}
	r := s.result(c, goRes)
	if r.Go != nil {
		for _, line := range r.Go.Report.Skipped {
			// Mutex and block profiling being off is the target's normal
			// state, not a failure: capture.json keeps the line.
			if !isProfilingOff(line) {
				s.notify(line)
			}
		}
	}
	return r
}

// Drain ends the current window and starts the next while the probes stay
// attached, for rolling windows (an agent that hands over a profile every
// interval): it polls the targets, takes what the probes aggregated since
// Start or the last Drain (probes.Session.Drain: no event lost or counted
// in two windows) and returns it symbolized, merged and diagnosed, as Stop
// does; Stop then returns the window since the last Drain. The Go
// runtime's profiles are fetched over one window only, so a session that
// fetches them cannot drain (start it with Options.Go.Skip). The mappings
// of processes that exited are released once the window that saw them
// exit is built.
func (s *Session) Drain() (*Result, error) {
	if s.goFetch != nil {
		return nil, errors.New("draining: the session fetches the Go runtime's profiles over one window; start it with Go.Skip to drain it")
	}
	s.Poll()
	c, err := s.probes.Drain()
	if err != nil {
		return nil, err
	}
	if n := s.ownConns.Swap(0); n > 0 {
		c.Counts["own_connections"] = n
	}
	s.meta.fill(c)
	r := s.result(c, nil)
	s.release()
	s.forget(c.Targets)
	return r, nil
}

// forget drops what the session keeps of processes that are no longer
// targets (listed), so that a session drained for days holds only its
// live targets: their metadata, their exits and the changes polled so far
// (Changes covers the session since the last Drain).
func (s *Session) forget(listed []profile.Target) {
	keep := map[int]bool{}
	for _, t := range s.probes.Targets() {
		keep[t.PID] = true
	}
	for _, t := range listed {
		keep[t.PID] = true
	}
	s.meta.forget(keep)
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.exited {
		if s.procs[pid] == nil {
			delete(s.exited, pid)
		}
	}
	s.changes = probes.Changes{}
}

// result builds the Result of window c with the warnings noted since the
// last one: symbolized in each process's mappings, merged with the Go
// profiles goRes (may be nil), diagnosed.
func (s *Session) result(c *profile.Capture, goRes *fetch.Result) *Result {
	s.mu.Lock()
	c.Warnings = append(append([]string{}, s.pending...), c.Warnings...)
	s.pending = nil
	procs := maps.Clone(s.procs)
	s.mu.Unlock()
	for _, t := range c.Targets { // a child that never exec'd maps its parent's files
		if procs[t.PID] == nil && t.Parent != 0 {
			procs[t.PID] = procs[t.Parent]
		}
	}
	r := &Result{Capture: c, DiagnosisOptions: s.opts.Diagnosis}
	var kern *symbolize.Kernel
	if k, err := s.syms.Kernel(); err == nil {
		kern = k
	} else {
		c.Warnings = append(c.Warnings, "kernel symbols: "+err.Error())
	}
	spliceLeaves(c, procs) // frameless leaves' callers (leaf.go)
	if w := inPhase(c, goRes); w != "" {
		c.Warnings = append(c.Warnings, w)
	}
	r.build(profile.ProcessSymbols{Processes: procs, Kern: kern}, goRes)
	c.Warnings = appendNew(c.Warnings, symbolWarnings(procs)...)
	return r
}

// symbolWarnings says what went wrong reading the symbols of the binaries
// the window's stacks were symbolized in (a debuginfod server down, debug
// info too large), each once, in pid order.
func symbolWarnings(procs map[int]*symbolize.Process) []string {
	var out []string
	seen := map[*symbolize.Process]bool{}
	for _, pid := range slices.Sorted(maps.Keys(procs)) {
		if p := procs[pid]; p != nil && !seen[p] {
			seen[p] = true
			out = appendNew(out, p.Warnings()...)
		}
	}
	return out
}

// appendNew appends the lines not already in list.
func appendNew(list []string, lines ...string) []string {
	for _, l := range lines {
		if !slices.Contains(list, l) {
			list = append(list, l)
		}
	}
	return list
}

// release closes the mappings of targets that exited, unless a live
// target that never exec'd still maps their files.
func (s *Session) release() {
	parents := map[int]bool{}
	for _, t := range s.probes.Targets() {
		if t.Exited.IsZero() && t.Parent != 0 {
			parents[t.Parent] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.exited {
		if p := s.procs[pid]; p != nil && !parents[pid] {
			p.Close()
			delete(s.procs, pid)
		}
	}
}

// Close detaches and frees every kernel object; safe to call more than
// once. Unlinking per-syscall tracepoints may take the kernel seconds, so
// callers write their outputs first.
func (s *Session) Close() {
	s.goFetch.cancel()
	s.probes.Close()
	for _, t := range s.owned {
		t.Close()
	}
	s.owned = nil
	s.mu.Lock()
	for pid, p := range s.procs {
		p.Close()
		delete(s.procs, pid)
	}
	s.mu.Unlock()
}

// goCPUProfileHz is the rate of the Go runtime's CPU profiler
// (runtime/pprof's fixed 100 Hz).
const goCPUProfileHz = 100

// inPhase warns when the on-CPU sampler ran at the rate of a Go profiler
// fetched from the target over the same window (fgprof's ticker, the CPU
// profiler's): the two timers stay in phase, and a light program's on-CPU
// samples came to 0.2-0.45 of its CPU time (PERFORMANCE.md §4).
func inPhase(c *profile.Capture, goRes *fetch.Result) string {
	if goRes == nil || c.Hz != plugins.FgprofHz && c.Hz != goCPUProfileHz || goRes.Wall == nil && goRes.CPU == nil {
		return ""
	}
	return fmt.Sprintf("on-CPU sampling at %d Hz ran in phase with the Go profilers' own %d/%d Hz tickers in the target: a light program's on-CPU shares can be off several times; use another rate (the default %d Hz)",
		c.Hz, plugins.FgprofHz, goCPUProfileHz, probes.DefaultHz)
}
