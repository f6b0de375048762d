package probes

import (
	"errors"
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
}

// Progress is a live view of a running probe, for the progress line.
type Progress struct {
	Events uint64 // samples or events seen so far
	Drops  uint64 // everything lost so far
}

// Probe is one eBPF probe. Attach loads and attaches it for the target;
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
