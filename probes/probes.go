package probes

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
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

var (
	registryMu sync.Mutex
	registry   = map[string]func() Probe{}
	defaults   []string
)

// Register makes a probe available by name; probes register in init.
// Default probes run when the user names none.
func Register(name string, isDefault bool, newProbe func() Probe) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = newProbe
	if isDefault {
		defaults = append(defaults, name)
		sort.Strings(defaults)
	}
}

// Names lists the registered probes.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Defaults lists the probes that run when none are named.
func Defaults() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return slices.Clone(defaults)
}

// New returns a fresh probe by name.
func New(name string) (Probe, error) {
	registryMu.Lock()
	newProbe, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown probe %q (available: %v)", name, Names())
	}
	return newProbe(), nil
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
