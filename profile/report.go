package profile

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/google/pprof/profile"
)

// ReportSchema is the version of capture.json; it changes only when a
// field changes meaning or goes away (new fields may appear).
const ReportSchema = 1

// Report is capture.json: what was captured, when, and the figures a
// reader needs without opening the profile. See docs/capture-json.md.
type Report struct {
	Schema     int                        `json:"schema"`
	Target     Target                     `json:"target"`
	Targets    []Target                   `json:"targets"`
	Window     Window                     `json:"window"`
	Probes     []string                   `json:"probes"`
	Kernel     Kernel                     `json:"kernel"`
	Hz         int                        `json:"hz"`
	Histograms map[string]HistogramReport `json:"histograms"`
	Counts     map[string]uint64          `json:"counts"`
	Drops      map[string]uint64          `json:"drops"`
	Totals     map[string]int64           `json:"totals_ns"`
	Top        map[string][]FuncShare     `json:"top_functions"`
	Threads    []ThreadReport             `json:"threads"`
	SelfCost   SelfCost                   `json:"self_cost"`
	Warnings   []string                   `json:"warnings"`
	Files      map[string]string          `json:"files"`
	// Go is present when the Go runtime's own profiles were fetched (or
	// tried) for the window.
	Go *GoReport `json:"go,omitempty"`
}

// GoReport says what the Go runtime's profiles added to the capture.
type GoReport struct {
	Endpoint       string   `json:"endpoint,omitempty"`
	CoveredSeconds float64  `json:"covered_seconds"` // of the window, by the CPU and wall profiles
	Types          []string `json:"types"`           // the go_* sample types merged into the profile
	Skipped        []string `json:"skipped"`         // one line each: what could not be fetched, and why
	// Consistency compares the eBPF and Go CPU views of the window.
	Consistency *Consistency `json:"consistency,omitempty"`
	// WallByGoroutine explains fgprof's wall time per goroutine entry
	// function with what the kernel saw.
	WallByGoroutine []GoroutineWall `json:"wall_by_goroutine,omitempty"`
}

// Window is the capture's time window.
type Window struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	DurationSeconds float64   `json:"duration_seconds"`
	EndCause        string    `json:"end_cause"`
}

// HistogramReport summarizes one histogram.
type HistogramReport struct {
	Unit    string   `json:"unit"`
	Count   uint64   `json:"count"`
	P50Ns   uint64   `json:"p50_ns"`
	P95Ns   uint64   `json:"p95_ns"`
	P99Ns   uint64   `json:"p99_ns"`
	MaxNs   uint64   `json:"max_ns"`
	MeanNs  uint64   `json:"mean_ns"`
	Buckets []Bucket `json:"buckets"`
}

// ThreadReport is one thread's time over the window: the "wall explained"
// view, where on-CPU + blocked + run-queue should add up to the window.
type ThreadReport struct {
	Thread
	ExplainedPct float64 `json:"explained_pct"`
	// IOWaitNs is the thread's time inside slow I/O syscalls; it
	// overlaps on-CPU and blocked time rather than adding to them.
	IOWaitNs int64 `json:"iowait_ns"`
}

// Summarize builds the histogram report of h.
func Summarize(h *Histogram) HistogramReport {
	b := h.Buckets()
	if b == nil {
		b = []Bucket{}
	}
	return HistogramReport{
		Unit: "nanoseconds", Count: h.Count,
		P50Ns: h.Percentile(0.50), P95Ns: h.Percentile(0.95), P99Ns: h.Percentile(0.99),
		MaxNs: h.MaxNs, MeanNs: h.MeanNs(), Buckets: b,
	}
}

// Report assembles capture.json from the capture and its profile.
func (c *Capture) Report(p *profile.Profile, files map[string]string) *Report {
	r := &Report{
		Schema: ReportSchema,
		Target: c.Target, Targets: c.Targets,
		Window: Window{Start: c.Start, End: c.End, DurationSeconds: c.End.Sub(c.Start).Seconds(), EndCause: c.EndCause},
		Probes: c.Probes, Kernel: c.Kernel, Hz: c.Hz,
		Histograms: map[string]HistogramReport{},
		Counts:     c.Counts, Drops: c.Drops,
		Totals:   map[string]int64{},
		Top:      map[string][]FuncShare{},
		SelfCost: c.SelfCost,
		Warnings: c.Warnings,
		Files:    files,
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	if r.Targets == nil {
		r.Targets = []Target{c.Target}
	}
	for name, h := range c.Histograms {
		r.Histograms[name] = Summarize(h)
	}
	if p != nil {
		for _, st := range p.SampleType {
			if st.Unit == "nanoseconds" {
				r.Totals[st.Type] = Total(p, st.Type)
				r.Top[st.Type] = TopFunctions(p, st.Type, 20)
			}
		}
	}
	iowait := map[uint32]int64{}
	for _, s := range c.Stacks {
		if s.Type == TypeIOWait {
			iowait[s.TID] += s.Value
		}
	}
	window := uint64(c.End.Sub(c.Start))
	for _, t := range c.Threads {
		tr := ThreadReport{Thread: *t, IOWaitNs: iowait[t.TID]}
		if window > 0 {
			tr.ExplainedPct = 100 * float64(t.OnCPUNs+t.BlockedNs+t.RunqueueNs) / float64(window)
		}
		r.Threads = append(r.Threads, tr)
	}
	sort.Slice(r.Threads, func(a, b int) bool { return r.Threads[a].TID < r.Threads[b].TID })
	return r
}

// WriteJSON writes the report to path, indented.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReport reads a capture.json.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a capture.json: %w", path, err)
	}
	if r.Schema == 0 || r.Schema > ReportSchema {
		return nil, fmt.Errorf("%s: capture.json schema %d, this perfprobe reads schema %d", path, r.Schema, ReportSchema)
	}
	return &r, nil
}

// Capture rebuilds the capture a report was written from, without its raw
// stacks (those are in the profile): targets, window, histograms (from
// their buckets), counts, drops, threads, self-cost and warnings.
func (r *Report) Capture() *Capture {
	c := &Capture{
		Target: r.Target, Targets: r.Targets,
		Start: r.Window.Start, End: r.Window.End, EndCause: r.Window.EndCause,
		Probes: r.Probes, Kernel: r.Kernel, Hz: r.Hz,
		Histograms: map[string]*Histogram{},
		Counts:     r.Counts, Drops: r.Drops,
		Threads:  map[uint32]*Thread{},
		SelfCost: r.SelfCost, Warnings: r.Warnings,
	}
	if c.Counts == nil {
		c.Counts = map[string]uint64{}
	}
	if c.Drops == nil {
		c.Drops = map[string]uint64{}
	}
	for name, hr := range r.Histograms {
		c.Histograms[name] = HistogramFromReport(hr)
	}
	for _, t := range r.Threads {
		th := t.Thread
		c.Threads[th.TID] = &th
	}
	return c
}

// HistogramFromReport rebuilds a histogram from its report's buckets: the
// slots are exact, the sum is the mean times the count.
func HistogramFromReport(hr HistogramReport) *Histogram {
	h := &Histogram{Count: hr.Count, MaxNs: hr.MaxNs, SumNs: hr.MeanNs * hr.Count}
	for _, b := range hr.Buckets {
		h.Slots[SlotOf(b.LowNs)] += b.Count
	}
	return h
}
