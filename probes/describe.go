package probes

import (
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"sync"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// Description is everything the rest of perfprobe knows about a probe,
// declared in the probe's own folder and registered with one Register
// call: adding a probe touches its folder and the line that imports it.
type Description struct {
	Name    string
	Doc     string // one line: what it measures
	Default bool   // runs when the user names no probe
	// Rank orders the probes' sections in the summary (lower first).
	Rank int
	New  func() Probe
	// SampleTypes are the pprof types its stacks carry.
	SampleTypes []profile.SampleType
	// EventUnit is what its Progress().Events counts ("samples").
	EventUnit string
	// Counts, Histograms and Drops name what it adds to the capture's
	// maps of the same names (capture.json); a name ending in "*" stands
	// for a family ("syscall_*").
	Counts, Histograms, Drops []Fact
	// Summary writes its section of the terminal summary; p may be nil
	// when the capture could not be symbolized.
	Summary func(w io.Writer, c *profile.Capture, p *pprof.Profile)
}

// Fact is one named figure a probe reports, with what it means.
type Fact struct {
	Name string
	Desc string
}

// Declares reports whether name is one of facts (a "*" pattern matches a
// family).
func Declares(facts []Fact, name string) bool {
	return slices.ContainsFunc(facts, func(f Fact) bool {
		ok, _ := path.Match(f.Name, name)
		return ok
	})
}

// SessionFacts are what the session itself adds to a capture, whichever
// probes run: the children it followed, the connections it made to them.
var SessionFacts = Description{
	Name: "session",
	Counts: []Fact{
		{Name: "targets_children", Desc: "child processes that became targets at fork (children followed)"},
		{Name: "own_connections", Desc: "TCP connections perfprobe made to the targets to find and fetch their Go profiles"},
	},
	Drops: []Fact{{Name: "targets_full", Desc: "children not followed: the map of targets was full"}},
}

var (
	registryMu sync.Mutex
	registry   = map[string]Description{}
)

// Register makes a probe available by its description; probes register in
// init. It panics on a description that cannot work, at start-up.
func Register(d Description) {
	if d.Name == "" || d.New == nil {
		panic(fmt.Sprintf("probes.Register: description %q has no name or no New", d.Name))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[d.Name]; ok {
		panic("probes.Register: probe " + d.Name + " registered twice")
	}
	registry[d.Name] = d
	for _, t := range d.SampleTypes {
		profile.RegisterSampleType(t)
	}
}

// Describe returns a registered probe's description.
func Describe(name string) (Description, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	d, ok := registry[name]
	return d, ok
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
	var out []string
	for n, d := range registry {
		if d.Default {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Described lists the descriptions of the named probes, in summary order;
// unknown names are left out.
func Described(names []string) []Description {
	var out []Description
	for _, n := range names {
		if d, ok := Describe(n); ok {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Rank < out[b].Rank })
	return out
}

// New returns a fresh probe by name.
func New(name string) (Probe, error) {
	d, ok := Describe(name)
	if !ok {
		return nil, fmt.Errorf("unknown probe %q (available: %v)", name, Names())
	}
	return d.New(), nil
}
