// Package plugins turns evidence into findings in plain words. A plugin is
// a Go type implementing Plugin, registered in init() and compiled in; the
// binary composes them with blank imports in one place. Diagnose runs them
// all over one capture's Evidence and ranks what they found.
package plugins

import (
	"fmt"
	"sort"
	"sync"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// Evidence is what plugins read: the capture (histograms, counts, threads)
// and its symbolized profile.
type Evidence struct {
	Capture *profile.Capture
	Profile *pprof.Profile
}

// Severity ranks findings.
type Severity int

// Severities, least to most urgent.
const (
	Info Severity = iota
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Critical:
		return "critical"
	case Warning:
		return "warning"
	}
	return "info"
}

// MarshalText writes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one thing a plugin found, with the figures and stacks that
// prove it and what to try.
type Finding struct {
	Plugin   string             `json:"plugin"`
	Title    string             `json:"title"`
	Severity Severity           `json:"severity"`
	Detail   string             `json:"detail"`  // plain words, with the numbers
	Share    float64            `json:"share"`   // of the relevant time, 0..1
	Figures  map[string]float64 `json:"figures"` // named numbers behind Detail
	Stacks   [][]string         `json:"stacks"`  // leaf first
	Advice   string             `json:"advice"`
}

// Plugin is one diagnosis.
type Plugin interface {
	Name() string
	Diagnose(ev *Evidence) []Finding
}

var (
	mu       sync.Mutex
	registry = map[string]Plugin{}
)

// Register adds a plugin; plugins call it from init.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[p.Name()]; dup {
		panic(fmt.Sprintf("plugins: %q registered twice", p.Name()))
	}
	registry[p.Name()] = p
}

// Diagnose runs every registered plugin and returns the findings, most
// severe and largest share first.
func Diagnose(ev *Evidence) []Finding {
	mu.Lock()
	ps := make([]Plugin, 0, len(registry))
	for _, p := range registry {
		ps = append(ps, p)
	}
	mu.Unlock()
	var out []Finding
	for _, p := range ps {
		for _, f := range p.Diagnose(ev) {
			f.Plugin = p.Name()
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Severity != out[b].Severity {
			return out[a].Severity > out[b].Severity
		}
		if out[a].Share != out[b].Share {
			return out[a].Share > out[b].Share
		}
		return out[a].Title < out[b].Title
	})
	return out
}
