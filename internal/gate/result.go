// Package gate compares performance results of two sides (a baseline and
// the current build) and decides, metric by metric, whether the current
// side regressed, improved or is unchanged, with the statistics of
// golang.org/x/perf/benchmath and a policy of thresholds and waivers.
//
// Results come from the files the tools write (Go benchmark text, wrk and
// hyperfine output, perfprobe captures, a simple JSON of named samples),
// recognised by content; see Load. Each side is a Set of Metrics matched
// by name and unit.
package gate

import (
	"fmt"
	"slices"
	"strings"
)

// Kind says which threshold of a policy applies to a metric and, with
// HigherIsBetter, which way is worse.
type Kind string

const (
	KindLatency    Kind = "latency"    // a latency percentile; lower is better
	KindThroughput Kind = "throughput" // requests or operations per second; higher is better
	KindCPU        Kind = "cpu"        // CPU time; lower is better
	KindMemory     Kind = "memory"     // bytes, allocations, RSS; lower is better
	KindTime       Kind = "time"       // run time: ns/op, a command's wall time; lower is better
	KindShare      Kind = "share"      // a profile share in percent; its threshold is in points
	KindOther      Kind = "other"      // any other figure (custom benchmark units)
)

// Kinds lists every kind, in the order reports use.
var Kinds = []Kind{KindLatency, KindThroughput, KindTime, KindCPU, KindMemory, KindShare, KindOther}

// Metric is one named figure and its samples on one side: one sample per
// run (a Go benchmark line, a wrk run, a hyperfine timing, a capture).
type Metric struct {
	Name string // "BenchmarkSymbolize/big", "wrk GET /", "tls_handshake.p95"
	// Unit as the samples are stored: "sec/op", "B/op", "s", "req/s",
	// "%", "B"; benchmark units are tidied the way benchstat does
	// (ns/op becomes sec/op).
	Unit           string
	Kind           Kind
	HigherIsBetter bool
	Samples        []float64
	// Sources are the files (or runs) the samples came from, for messages.
	Sources []string
}

// Key matches a metric across the two sides.
func (m *Metric) Key() string { return m.Name + " " + m.Unit }

// Set is the results of one side.
type Set struct {
	Metrics map[string]*Metric // by Key
	order   []string
	// Files are the result files read, and Skipped those that were not
	// understood (with why), for the report.
	Files   []string
	Skipped []string
	// Meta describes the machine and build the results come from, when
	// a meta.json was found (baseline update writes one).
	Meta *Meta

	shares []string // extra share(...) metrics captures are measured in (LoadShares)
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{Metrics: map[string]*Metric{}} }

// Add appends a sample to the metric name/unit, creating it with kind and
// direction on first use.
func (s *Set) Add(name, unit string, kind Kind, higherIsBetter bool, v float64, source string) {
	k := name + " " + unit
	m := s.Metrics[k]
	if m == nil {
		m = &Metric{Name: name, Unit: unit, Kind: kind, HigherIsBetter: higherIsBetter}
		s.Metrics[k] = m
		s.order = append(s.order, k)
	}
	m.Samples = append(m.Samples, v)
	if source != "" && !slices.Contains(m.Sources, source) {
		m.Sources = append(m.Sources, source)
	}
}

// Merge adds every sample of o to s.
func (s *Set) Merge(o *Set) {
	for _, k := range o.order {
		m := o.Metrics[k]
		for i, v := range m.Samples {
			src := ""
			if i < len(m.Sources) {
				src = m.Sources[i]
			}
			s.Add(m.Name, m.Unit, m.Kind, m.HigherIsBetter, v, src)
		}
	}
	s.Files = append(s.Files, o.Files...)
	s.Skipped = append(s.Skipped, o.Skipped...)
	if s.Meta == nil {
		s.Meta = o.Meta
	}
}

// List returns the metrics in the order they were first added.
func (s *Set) List() []*Metric {
	out := make([]*Metric, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.Metrics[k])
	}
	return out
}

// Len is the number of metrics.
func (s *Set) Len() int { return len(s.order) }

func (s *Set) String() string {
	var b strings.Builder
	for _, m := range s.List() {
		fmt.Fprintf(&b, "%s [%s] %v\n", m.Key(), m.Kind, m.Samples)
	}
	return b.String()
}
