package capture

import (
	"context"
	"time"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Session is one capture in progress: the probes attached to a target, its
// mappings snapshotted for symbolization, and the Go profiles being
// fetched beside it.
type Session struct {
	opts    Options
	target  *probes.Target
	probes  *probes.Session
	syms    *symbolize.Symbolizer
	proc    *symbolize.Process
	pending []string // warnings to keep in capture.json
	goFetch *GoFetch
	// ownTarget: the session opened the target (StartRun) and closes it.
	ownTarget bool
}

// shared is the symbolizer of every capture of this process that gives
// none: binaries and the kernel's symbols (~0.3 s to load) are parsed once.
var shared = symbolize.New()

// Start attaches the probes to t, snapshots its mappings and starts
// fetching its Go profiles. On error nothing stays attached.
func Start(t *probes.Target, o Options) (*Session, error) {
	return start(t, o, shared)
}

func start(t *probes.Target, o Options, syms *symbolize.Symbolizer) (*Session, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Session{opts: o, target: t, syms: syms}
	ps, err := probes.Start(t, o.config())
	if err != nil {
		return nil, err
	}
	s.probes = ps
	s.Refresh()
	s.goFetch = StartGoFetch(t.PID, o.Duration, o.Go)
	return s, nil
}

// Probes is the probe session underneath: what attached, what was
// skipped and why, which path each probe chose.
func (s *Session) Probes() *probes.Session { return s.probes }

// Target is the process being captured.
func (s *Session) Target() *probes.Target { return s.target }

// Refresh re-reads the target's mappings (a library loaded, an exec), so
// that symbols survive its exit.
func (s *Session) Refresh() {
	if s.proc != nil {
		if err := s.proc.Refresh(); err != nil {
			s.pending = append(s.pending, "refreshing mappings: "+err.Error())
		}
		return
	}
	p, err := s.syms.Process(s.target.PID)
	if err != nil {
		s.pending = append(s.pending, "reading the target's mappings: "+err.Error()+"; user frames stay as addresses")
		return
	}
	s.proc = p
}

// Wait runs the capture window until the duration ends (EndDuration), ctx
// is cancelled (EndSignal) or done is closed (doneCause), refreshing the
// target's mappings and reporting progress, and returns why it ended.
func (s *Session) Wait(ctx context.Context, done <-chan struct{}, doneCause string) string {
	var timeout <-chan time.Time
	if s.opts.Duration > 0 {
		timer := time.NewTimer(s.opts.Duration)
		defer timer.Stop()
		timeout = timer.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var refresh <-chan time.Time
	if s.opts.RefreshEvery > 0 && s.opts.RefreshEvery < time.Second {
		rt := time.NewTicker(s.opts.RefreshEvery)
		defer rt.Stop()
		refresh = rt.C
	}
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
		case <-refresh:
			s.Refresh()
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
	c := s.probes.Collect(cause)
	goRes := s.goFetch.Wait(cause)
	c.Warnings = append(append([]string{}, s.pending...), c.Warnings...)
	r := &Result{Capture: c}
	var kern *symbolize.Kernel
	if k, err := s.syms.Kernel(); err == nil {
		kern = k
	} else {
		c.Warnings = append(c.Warnings, "kernel symbols: "+err.Error())
	}
	r.build(symbolsOf(s.proc, kern), goRes)
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

// Close detaches and frees every kernel object; safe to call more than
// once. Unlinking per-syscall tracepoints may take the kernel seconds, so
// callers write their outputs first.
func (s *Session) Close() {
	s.goFetch.cancel()
	s.probes.Close()
	if s.ownTarget {
		s.target.Close()
	}
}
