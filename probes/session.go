package probes

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	Hz     int // on-CPU sampling frequency; 0 means 99
	// StackInterval bounds how often the sched probe walks one thread's
	// stacks; switch-outs in between reuse its last stacks (the time stays
	// exact, only its attribution is sampled). 0 walks on every
	// switch-out; negative means DefaultStackInterval.
	StackInterval time.Duration
	// IOThreshold: I/O syscalls slower than this are attributed to their
	// stack (0: all of them; negative means DefaultIOThreshold).
	IOThreshold time.Duration
}

// DefaultIOThreshold is the latency above which an I/O syscall counts as a
// stall and gets its stack.
const DefaultIOThreshold = 100 * time.Microsecond

// DefaultStackInterval is how often, at most, the sched probe walks one
// thread's stacks. Walking a user and a kernel stack costs ~3µs inside the
// scheduler; at 10ms a thread switching 100k times a second keeps its
// overhead within noise (PERFORMANCE.md).
const DefaultStackInterval = 10 * time.Millisecond

// Session is one capture: probes attached to one target.
type Session struct {
	target  *Target
	cfg     Config
	probes  []Probe
	stats   io.Closer
	start   time.Time
	startNs uint64
	attach  time.Duration
	opts    Options   // what every probe is attached with
	skipped []skipped // probes that did not apply, and why
	named   bool      // the probes were named: each must attach
	paths   map[string]string
}

type skipped struct {
	name, reason string
	kernel       bool // this kernel cannot load it (not: nothing in the target to attach to)
}

func (k skipped) String() string { return fmt.Sprintf("probe %s skipped: %s", k.name, k.reason) }

// Start checks privileges and BTF, then loads and attaches every probe.
// On error nothing stays attached.
func Start(t *Target, cfg Config) (*Session, error) {
	began := time.Now()
	named := len(cfg.Probes) > 0
	if !named {
		cfg.Probes = Defaults()
	}
	if cfg.Hz == 0 {
		cfg.Hz = 99
	}
	if cfg.Hz < 1 || cfg.Hz > 10000 {
		return nil, fmt.Errorf("sampling frequency %d Hz out of range: use 1..10000 (99 is the usual)", cfg.Hz)
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	load, err := LoadOptions()
	if err != nil {
		return nil, err
	}
	_ = rlimit.RemoveMemlock() // older kernels charge BPF maps to RLIMIT_MEMLOCK
	s := &Session{target: t, cfg: cfg, named: named, paths: map[string]string{}}
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		s.stats = st
	}
	if cfg.StackInterval < 0 {
		cfg.StackInterval = DefaultStackInterval
	}
	if cfg.IOThreshold < 0 {
		cfg.IOThreshold = DefaultIOThreshold
	}
	s.opts = Options{Hz: cfg.Hz, StackInterval: cfg.StackInterval, IOThreshold: cfg.IOThreshold, Load: load}
	for _, name := range cfg.Probes {
		p, err := s.attachProbe(name)
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
	s.start = time.Now()
	s.startNs = MonotonicNs()
	for _, p := range s.probes {
		if err := p.Begin(s.startNs); err != nil {
			s.Close()
			return nil, fmt.Errorf("starting probe %s: %w", p.Name(), err)
		}
	}
	s.attach = time.Since(began)
	return s, nil
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

// attachProbe loads and attaches one probe. A probe that does not apply
// to the target is recorded as skipped and returned as nil.
func (s *Session) attachProbe(name string) (Probe, error) {
	p, err := New(name)
	if err != nil {
		return nil, err
	}
	if err := p.Attach(s.target, s.opts); err != nil {
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
	s.skipped = slices.DeleteFunc(s.skipped, func(k skipped) bool { return k.name == name })
	p, err := s.attachProbe(name)
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

// WasSkipped reports whether probe name did not apply when attached.
func (s *Session) WasSkipped(name string) bool {
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
	out := make([]string, len(s.skipped))
	for i, k := range s.skipped {
		out[i] = k.String()
		if k.kernel {
			out[i] += "; capturing with " + strings.Join(s.Attached(), ", ")
		}
	}
	return out
}

// Paths says, per attached probe, which way it chose on this kernel.
func (s *Session) Paths() map[string]string { return s.paths }

// Attached lists the probes that are attached.
func (s *Session) Attached() []string {
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
	out := map[string]Progress{}
	for _, p := range s.probes {
		out[p.Name()] = p.Progress()
	}
	return out
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
// (per-syscall tracepoints take seconds to unlink).
func (s *Session) Collect(cause string) *profile.Capture {
	endNs := MonotonicNs()
	end := time.Now()
	for _, p := range s.probes {
		p.Detach()
	}
	c := &profile.Capture{
		Target:     s.target.Info(),
		Start:      s.start,
		End:        end,
		Hz:         s.cfg.Hz,
		EndCause:   cause,
		Histograms: map[string]*profile.Histogram{},
		Counts:     map[string]uint64{},
		Drops:      map[string]uint64{},
		Threads:    map[uint32]*profile.Thread{},
		Warnings:   s.Skipped(),
		Kernel:     profile.Kernel{Release: kernelRelease(), Paths: s.paths},
	}
	for _, p := range s.probes {
		c.Probes = append(c.Probes, p.Name())
		if d, ok := Describe(p.Name()); ok {
			for _, t := range d.SampleTypes {
				c.SampleTypes = append(c.SampleTypes, t.Name)
			}
		}
		if err := p.Collect(c, endNs); err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("probe %s: collecting: %v", p.Name(), err))
		}
	}
	c.SelfCost = s.selfCost()
	return c
}

func (s *Session) selfCost() profile.SelfCost {
	sc := profile.SelfCost{BPFPrograms: map[string]uint64{}, AttachSeconds: s.attach.Seconds()}
	for _, p := range s.probes {
		for name, prog := range p.Programs() {
			st, err := prog.Stats()
			if err != nil {
				continue
			}
			sc.BPFPrograms[p.Name()+"/"+name] = uint64(st.Runtime)
			sc.BPFRunNs += uint64(st.Runtime)
			sc.BPFRunCount += st.RunCount
			sc.BPFMissedRuns += st.RecursionMisses
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		sc.UserCPUNs = uint64(ru.Utime.Nano())
		sc.SystemCPUNs = uint64(ru.Stime.Nano())
		sc.PeakRSSBytes = uint64(ru.Maxrss) * 1024
	}
	return sc
}

// Close detaches and frees everything; safe to call more than once.
func (s *Session) Close() {
	for _, p := range slices.Backward(s.probes) {
		p.Close()
	}
	if s.stats != nil {
		s.stats.Close()
		s.stats = nil
	}
}

func kernelRelease() string {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	return unix.ByteSliceToString(uts.Release[:])
}
