// Package capture is perfprobe's capture pipeline, shared by every command
// that captures (attach, run) and by the probe tests: attach the probes to
// a target, run the window, fetch the Go runtime's profiles beside it,
// symbolize, merge, diagnose, and write the outputs and the summary.
//
//	s, err := capture.Start(target, opts)  // probes attached, Go fetch started
//	cause := s.Wait(ctx, target.Exited(), capture.EndTargetExited)
//	res := s.Stop(cause)                     // collected, symbolized, merged, diagnosed
//	files, err := res.WriteDir(dir)
//	res.WriteSummary(os.Stdout)
//	s.Close()                                // after the outputs: detaching may take seconds
//
// For rolling windows (the agent), Drain returns each window's Result while
// the probes stay attached, and Stop the last one.
//
// The package names no command-line flag: option errors say which Options
// field is wrong (OptionError), and the caller names its own flag.
package capture

import (
	"fmt"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/internal/diagnosis"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// Why a capture window ended (profile.Capture.EndCause).
const (
	EndDuration      = "duration"
	EndSignal        = "signal"
	EndTargetExited  = "target-exited"
	EndCommandExited = "command-exited"
)

// Options say what one capture does.
type Options struct {
	// Duration bounds the window; 0 runs it until the target exits or the
	// context given to Wait is cancelled.
	Duration time.Duration
	// Probes names the probes to attach. With Named each must attach;
	// otherwise a probe this kernel cannot load is skipped with one line.
	// Empty means probes.Defaults().
	Probes []string
	Named  bool
	// Hz is the on-CPU sampling frequency per CPU (1..10000).
	Hz int
	// StackInterval bounds how often the sched probe walks one thread's
	// stacks (0: every switch-out).
	StackInterval time.Duration
	// IOThreshold: I/O syscalls slower than this are attributed to their
	// stack (0: all of them).
	IOThreshold time.Duration
	// RefreshEvery is how often the target's mappings are re-read (0: every
	// second). A command just started maps its libraries in its first
	// milliseconds: run uses 100 ms.
	RefreshEvery time.Duration
	// Children follows the targets' new processes (fork, then exec or
	// not) from their first instruction: they become targets too.
	Children bool
	// TargetHistograms keeps histograms per target process too
	// (probes.Config.TargetHistograms, Capture.TargetHistograms): for the
	// continuous agent; ~60 ns of BPF time per recorded value.
	TargetHistograms bool
	// Go says whether and how the Go runtime's own profiles are fetched.
	Go GoOptions
	// Diagnosis says what the diagnosis at the end runs besides the
	// built-in plugins (the bottleneck list, external plugins).
	Diagnosis diagnosis.Options

	// Progress, when set, is called about once a second while Wait runs.
	Progress func(Progress)
	// Notify, when set, gets the lines meant for the user while the
	// capture runs or ends (the Go endpoint found, a Go profile skipped).
	Notify func(line string)
}

// GoOptions say how the Go runtime's profiles are fetched beside the eBPF
// capture.
type GoOptions struct {
	Skip     bool     // fetch nothing
	URL      string   // the target's pprof base URL; empty: discover it (Discover) or fetch nothing
	Insecure bool     // do not verify URL's TLS certificate
	Kinds    []string // a subset of fetch.AllKinds; attach's default is fetch.KindNames
	// Delta prefers godeltaprof's delta handlers for the heap, mutex and
	// block profiles (fetch.Options.Delta): for the continuous agent.
	Delta bool
	// Discover looks for the endpoint among the target's listening
	// sockets when URL is empty (attach). A command just started has no
	// endpoint yet (run): then only URL is fetched from, retried for a
	// while as the command comes up.
	Discover bool

	ownConn fetch.ConnHook // told of each connection made to the target (Session.OwnConn)
}

// DefaultOptions are the options a user gets without flags.
func DefaultOptions() Options {
	return Options{
		Duration:      10 * time.Second,
		Hz:            probes.DefaultHz,
		StackInterval: probes.DefaultStackInterval,
		IOThreshold:   probes.DefaultIOThreshold,
		Go:            GoOptions{Kinds: append([]string{}, fetch.KindNames...), Discover: true},
	}
}

// FromConfig is the capture of a probe session configured as cfg (its
// zero and negative values mean what they mean to probes.Start), without
// Go profiles: what the probe tests run.
func FromConfig(cfg probes.Config) Options {
	o := DefaultOptions()
	o.Duration = 0
	o.Go = GoOptions{Skip: true}
	o.Probes, o.Named = cfg.Probes, len(cfg.Probes) > 0
	o.Children = cfg.Children
	if cfg.Hz != 0 {
		o.Hz = cfg.Hz
	}
	if cfg.StackInterval >= 0 {
		o.StackInterval = cfg.StackInterval
	}
	if cfg.IOThreshold >= 0 {
		o.IOThreshold = cfg.IOThreshold
	}
	return o
}

// OptionError says which option is wrong and what would work. Field is the
// Options field ("Hz", "Go.Kinds"); the caller maps it to its own flag.
type OptionError struct {
	Field string
	Msg   string
}

func (e *OptionError) Error() string { return e.Msg }

// Validate rejects values that cannot work, before anything attaches.
func (o *Options) Validate() error {
	if o.Hz < 1 || o.Hz > 10000 {
		return &OptionError{"Hz", fmt.Sprintf("sampling frequency %d Hz out of range: use 1..10000 (%d is the default)", o.Hz, probes.DefaultHz)}
	}
	if o.IOThreshold < 0 {
		return &OptionError{"IOThreshold", fmt.Sprintf("I/O threshold %s is negative: give a latency like 1ms, or 0 for every call", o.IOThreshold)}
	}
	if o.StackInterval < 0 {
		return &OptionError{"StackInterval", fmt.Sprintf("off-CPU stack interval %s is negative: give 0 to walk on every switch, or a period like 10ms", o.StackInterval)}
	}
	if o.Duration < 0 {
		return &OptionError{"Duration", fmt.Sprintf("duration %s is negative: give a length like 30s, or 0 for no limit", o.Duration)}
	}
	if o.RefreshEvery < 0 {
		return &OptionError{"RefreshEvery", fmt.Sprintf("refresh period %s is negative", o.RefreshEvery)}
	}
	if err := fetch.CheckKinds(o.Go.Kinds); err != nil {
		return &OptionError{"Go.Kinds", err.Error()}
	}
	if o.Named && len(o.Probes) == 0 {
		return &OptionError{"Probes", "no probe named: name at least one of " + strings.Join(probes.Names(), ",")}
	}
	for _, name := range o.Probes {
		if _, err := probes.New(name); err != nil {
			return &OptionError{"Probes", err.Error()}
		}
	}
	return nil
}

// config is the probe session's share of the options.
func (o *Options) config() probes.Config {
	cfg := probes.Config{Hz: o.Hz, StackInterval: o.StackInterval, IOThreshold: o.IOThreshold, Children: o.Children,
		TargetHistograms: o.TargetHistograms}
	if o.Named {
		cfg.Probes = o.Probes
	}
	return cfg
}

// Progress is a live view of a running capture.
type Progress struct {
	Elapsed  time.Duration
	Duration time.Duration // the planned window; 0: open-ended
	Probes   []ProbeProgress
	Drops    uint64 // everything lost so far, all probes
}

// ProbeProgress is one probe's share of Progress.
type ProbeProgress struct {
	Name   string
	Events uint64
	Unit   string // what Events counts: "samples", "switches", "events"
}

// String is the one-line progress the commands print.
func (p Progress) String() string {
	var parts []string
	if p.Duration > 0 {
		parts = append(parts, fmt.Sprintf("%s/%s", p.Elapsed.Round(time.Second), p.Duration))
	} else {
		parts = append(parts, p.Elapsed.Round(time.Second).String())
	}
	for _, pp := range p.Probes {
		parts = append(parts, fmt.Sprintf("%s %d %s", pp.Name, pp.Events, pp.Unit))
	}
	parts = append(parts, fmt.Sprintf("drops %d", p.Drops))
	return strings.Join(parts, ", ")
}
