package probes

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/profile"
)

// Options are the knobs every probe receives before load.
type Options struct {
	Hz            int                     // on-CPU sampling frequency per CPU
	StackInterval time.Duration           // sched: walk a thread's stacks at most this often
	IOThreshold   time.Duration           // iostall: syscalls slower than this get a stack (0: all)
	Load          *ebpf.CollectionOptions // kernel BTF and load options
	// Targets is the session's map of target processes (`targets` in
	// bpf/common.h), one for every probe of the session: a probe loads
	// with it in place of its own (Collection does that). Nil when a
	// probe is attached alone (doctor): its own map then holds the one
	// target it is attached to (FillTargets).
	Targets *ebpf.Map
	// TargetHistograms: the probes that keep histograms per target
	// process (pid_hists) record and read them (Config.TargetHistograms).
	TargetHistograms bool
}

// Collection returns the options a probe loads its collection with: Load,
// with the session's target map in place of the probe's own.
func (o Options) Collection() *ebpf.CollectionOptions {
	var opts ebpf.CollectionOptions
	if o.Load != nil {
		opts = *o.Load
	}
	if o.Targets != nil {
		opts.MapReplacements = maps.Clone(opts.MapReplacements)
		if opts.MapReplacements == nil {
			opts.MapReplacements = map[string]*ebpf.Map{}
		}
		opts.MapReplacements[targetMapName] = o.Targets
	}
	return &opts
}

// FillTargets puts t in own, the target map a probe loaded, unless it is
// the session's (o.Targets is set): a probe attached alone profiles the
// target it is attached to.
func (o Options) FillTargets(own *ebpf.Map, t *Target) error {
	if o.Targets != nil || t == nil {
		return nil
	}
	if err := putTarget(own, t.PID, targetEntry{}); err != nil {
		return fmt.Errorf("adding pid %d to the target map: %w", t.PID, err)
	}
	return nil
}

// Progress is a live view of a running probe, for the progress line.
type Progress struct {
	Events uint64 // samples or events seen so far
	Drops  uint64 // everything lost so far
}

// Probe is one eBPF probe. Attach loads and attaches it: its programs
// record the processes in Options.Targets (t alone when that is nil); t is
// the session's first target, nil when a session starts without one.
// Begin opens the capture window once every probe is attached (events
// before it are ignored); Collect is called once after Detach and adds what
// the probe aggregated to the capture; Close releases every kernel object
// and may be called at any time, more than once.
type Probe interface {
	Name() string
	Attach(t *Target, o Options) error
	Begin(windowStartNs uint64) error
	Progress() Progress
	Detach()
	Collect(c *profile.Capture, endNs uint64) error
	Programs() map[string]*ebpf.Program
	Close() error
}

// Drainer is implemented by probes that can hand over what they
// aggregated while they stay attached, for rolling windows: Drain adds to
// c what the probe aggregated since Begin or its last Drain and starts the
// next window at once, so that every event lands in exactly one window;
// Collect then covers the window since the last Drain. Stacks stay in the
// probe's stack map across windows (ids stay valid; a full map drops new
// stacks, counted).
type Drainer interface {
	Drain(c *profile.Capture, endNs uint64) error
}

// TargetAdder is implemented by probes that attach to something of each
// target beyond the shared target map: the TLS probe puts uprobes on its
// executable and libraries. The session calls AddTarget for each target
// after the one given to Attach (more given at the start, added with
// Session.AddTarget, children Session.Poll found) and for each target that
// exec'd; the probe attaches once per file, whichever targets share it.
type TargetAdder interface {
	AddTarget(t *Target) error
}

// Skipped is returned by Attach when a probe does not apply to this target
// (e.g. no TLS code in it): the session notes the reason and goes on.
type Skipped struct{ Reason string }

func (s *Skipped) Error() string { return s.Reason }

// Errors callers branch on.
var (
	ErrNoSuchProcess = errors.New("no such process")
	ErrNotPermitted  = errors.New("not permitted")
	ErrNoBTF         = errors.New("kernel BTF not available")
)
