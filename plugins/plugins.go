// Package plugins turns evidence into findings in plain words.
//
// A built-in plugin is a Go type implementing Plugin, in its own folder,
// registered from init(); plugins/builtin imports them all. Run runs every
// registered plugin over one capture's Evidence: a plugin whose Needs are
// not met answers not_applicable with what to enable, one that fails or
// panics is reported as failed, and the others still run. Findings get a
// stable id, a severity from their score, and are ranked.
//
// External plugins (plugins/external), the user's bottleneck list and SLOs
// (plugins/bottlenecks) and the report files (report.md, report.json,
// SARIF) build on the Report this package returns.
package plugins

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

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

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity reads "info", "warning" or "critical".
func ParseSeverity(name string) (Severity, error) {
	switch strings.ToLower(name) {
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "critical":
		return Critical, nil
	}
	return Info, fmt.Errorf("unknown severity %q: use info, warning or critical", name)
}

// Score bands: a finding's severity follows from its 0..100 score. Below
// ScoreInfo a plugin reports nothing (its status says what it checked).
const (
	ScoreInfo     = 25
	ScoreWarning  = 50
	ScoreCritical = 80
)

// SeverityOf maps a score to its severity band.
func SeverityOf(score int) Severity {
	switch {
	case score >= ScoreCritical:
		return Critical
	case score >= ScoreWarning:
		return Warning
	}
	return Info
}

// Statuses of a finding against the user's bottleneck list.
const (
	StatusNew        = "new"         // in no entry of the list
	StatusAcceptable = "acceptable"  // listed as acceptable, within its budget
	StatusMustFix    = "must-fix"    // listed as must-fix
	StatusOverBudget = "over-budget" // listed as acceptable, above its budget
	StatusExpired    = "expired"     // listed as acceptable, the acceptance expired
)

// Finding is one thing a plugin found, with the figures and stacks that
// prove it and what to try. See docs/diagnosis.md for the JSON schema.
type Finding struct {
	// ID is a fingerprint of plugin, category and Key (or the top frames
	// of the first stack): the same problem keeps its id across captures.
	ID       string   `json:"id"`
	Plugin   string   `json:"plugin"`
	Category string   `json:"category"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Score is 0..100; Run sets Severity from it (SeverityOf) unless the
	// plugin left Score at 0 and set Severity itself.
	Score      int        `json:"score"`
	Confidence Confidence `json:"confidence"`
	Detail     string     `json:"detail"` // plain words, with the numbers
	Share      float64    `json:"share"`  // of the relevant time, 0..1
	Figures    []Figure   `json:"figures"`
	Stacks     [][]string `json:"stacks"` // up to 3 proving stacks, leaf first
	// Query reproduces the figure: a go tool pprof command line where
	// profile.pb.gz stands for the profile.
	Query  string `json:"query,omitempty"`
	Advice string `json:"advice"`
	// Status and Bottleneck say how the user's bottleneck list sees it.
	Status     string `json:"status"`
	Bottleneck string `json:"bottleneck,omitempty"`
	// Explains lists the ids of the findings that explain this one (an
	// SLO breach names the hot spots behind it).
	Explains []string `json:"explains,omitempty"`
	// Key identifies the problem for the fingerprint: the frames or names
	// that make it this problem and not another (e.g. the entry function
	// that calls the hashing). Not written out.
	Key []string `json:"-"`
}

// Figure is one number behind a finding, with its unit and, for shares
// and rates, what it is a share or rate of.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`         // "ns", "%", "count", "/s", "bytes", "cpus", ...
	Of    string  `json:"of,omitempty"` // the denominator: "oncpu total 2.1 s", ...
}

// Fig builds a Figure.
func Fig(name string, value float64, unit, of string) Figure {
	return Figure{Name: name, Value: value, Unit: unit, Of: of}
}

// Figure returns the named figure's value and whether it is there.
func (f *Finding) Figure(name string) (float64, bool) {
	for _, g := range f.Figures {
		if g.Name == name {
			return g.Value, true
		}
	}
	return 0, false
}

// Plugin is one diagnosis.
type Plugin interface {
	// Name is the plugin's stable name, e.g. "tls-handshake".
	Name() string
	// Doc says in one line what the plugin looks for.
	Doc() string
	// Needs lists the evidence the plugin cannot work without; when one is
	// missing Run answers not_applicable with its Enable hint and does not
	// call Diagnose.
	Needs() []Need
	// Diagnose returns what it found: nil findings and nil error when the
	// evidence is there and shows no problem. It may return a
	// *NotApplicableError for evidence it finds missing only on a closer
	// look.
	Diagnose(ev *Evidence) ([]Finding, error)
}

// Need is one piece of evidence a plugin requires: any one of Any
// satisfies it. Entries are "type:NAME" (the profile has that sample type),
// "probe:NAME" (the capture ran that probe), "histogram:NAME" (the capture
// has that histogram), "capture" (a capture, not a bare profile file) and
// "cgroup" (the target's cgroup CPU accounting was read).
type Need struct {
	Any []string
	// What names the missing evidence in the not-applicable reason:
	// "TLS handshake events".
	What string
	// Enable says what gives it: "run with --probes tls".
	Enable string
}

// NotApplicableError is what a plugin returns when the evidence it needs
// is missing.
type NotApplicableError struct {
	Reason string // what is missing
	Enable string // what gives it
}

func (e *NotApplicableError) Error() string {
	if e.Enable == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Enable
}

// NotApplicable builds a *NotApplicableError.
func NotApplicable(reason, enable string) error {
	return &NotApplicableError{Reason: reason, Enable: enable}
}

// Plugin statuses in a report.
const (
	StatusOK            = "ok"
	StatusNotApplicable = "not_applicable"
	StatusFailed        = "failed"
)

// PluginStatus says what one plugin did with the evidence.
type PluginStatus struct {
	Name     string  `json:"name"`
	Status   string  `json:"status"` // ok | not_applicable | failed
	Reason   string  `json:"reason,omitempty"`
	Enable   string  `json:"enable,omitempty"`
	Findings int     `json:"findings"`
	External bool    `json:"external,omitempty"`
	Seconds  float64 `json:"seconds"`
}

// SLOResult is one SLO checked against the capture.
type SLOResult struct {
	Name   string  `json:"name"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit"` // "ns", "%", "count", "/s"
	// Bound is "max" or "min": the limit is an upper or a lower bound.
	Bound string `json:"bound"`
	OK    bool   `json:"ok"`
	// Error says why the metric could not be computed (then OK is false
	// and Value is 0).
	Error string `json:"error,omitempty"`
	// Finding is the id of the breach's finding.
	Finding string `json:"finding,omitempty"`
}

// ReportSchema versions report.json.
const ReportSchema = 1

// Report is a diagnosis: the findings, the SLOs and what every plugin did.
type Report struct {
	Schema int `json:"schema"`
	// Source is what was diagnosed: a capture directory or profile files.
	Source        string         `json:"source"`
	WindowSeconds float64        `json:"window_seconds"`
	Findings      []Finding      `json:"findings"`
	SLOs          []SLOResult    `json:"slos"`
	Plugins       []PluginStatus `json:"plugins"`
	// Bottlenecks is the file the bottleneck list and SLOs came from, if
	// any.
	Bottlenecks string `json:"bottlenecks,omitempty"`
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

// Registered lists the registered plugins by name.
func Registered() []Plugin {
	mu.Lock()
	ps := make([]Plugin, 0, len(registry))
	for _, p := range registry {
		ps = append(ps, p)
	}
	mu.Unlock()
	sort.Slice(ps, func(a, b int) bool { return ps[a].Name() < ps[b].Name() })
	return ps
}

// Run runs every registered plugin over ev and returns the report, findings
// ranked (see Rank). It never fails: a plugin's failure is its status.
func Run(ev *Evidence) *Report {
	return RunPlugins(ev, Registered())
}

// RunPlugins is Run over the given plugins.
func RunPlugins(ev *Evidence, ps []Plugin) *Report {
	rep := &Report{Schema: ReportSchema, Source: ev.Source, WindowSeconds: ev.Window().Seconds(), Findings: []Finding{}, SLOs: []SLOResult{}}
	for _, p := range ps {
		start := time.Now()
		fs, st := runOne(ev, p)
		st.Seconds = time.Since(start).Seconds()
		rep.Plugins = append(rep.Plugins, st)
		rep.Findings = append(rep.Findings, fs...)
	}
	Rank(rep.Findings)
	return rep
}

func runOne(ev *Evidence, p Plugin) (fs []Finding, st PluginStatus) {
	st = PluginStatus{Name: p.Name(), Status: StatusOK}
	for _, n := range p.Needs() {
		if !ev.Satisfies(n) {
			st.Status, st.Reason, st.Enable = StatusNotApplicable, "no "+n.What+" in this capture", n.Enable
			return nil, st
		}
	}
	defer func() {
		if r := recover(); r != nil {
			fs = nil
			st.Status = StatusFailed
			st.Reason = fmt.Sprintf("panic: %v (%s)", r, panicSite(debug.Stack()))
		}
	}()
	found, err := p.Diagnose(ev)
	var na *NotApplicableError
	switch {
	case errors.As(err, &na):
		st.Status, st.Reason, st.Enable = StatusNotApplicable, na.Reason, na.Enable
		return nil, st
	case err != nil:
		st.Status, st.Reason = StatusFailed, err.Error()
		return nil, st
	}
	for i := range found {
		Finish(&found[i], p.Name())
	}
	st.Findings = len(found)
	if len(found) == 0 {
		st.Reason = "nothing found"
	}
	return found, st
}

// Finish fills what Run derives for a plugin's finding: plugin name,
// severity from the score, status "new", non-nil slices, and the id.
func Finish(f *Finding, plugin string) {
	if f.Plugin == "" {
		f.Plugin = plugin
	}
	if f.Category == "" {
		f.Category = f.Plugin
	}
	if f.Score > 100 {
		f.Score = 100
	}
	if f.Score > 0 {
		f.Severity = SeverityOf(f.Score)
	}
	if f.Status == "" {
		f.Status = StatusNew
	}
	if f.Figures == nil {
		f.Figures = []Figure{}
	}
	if f.Stacks == nil {
		f.Stacks = [][]string{}
	}
	if len(f.Stacks) > 3 {
		f.Stacks = f.Stacks[:3]
	}
	if f.Confidence.Level == "" {
		f.Confidence = Agreement()
	}
	if f.ID == "" {
		f.ID = Fingerprint(f.Plugin, f.Category, f.fingerprintKey())
	}
}

// panicSite picks the first frame below the panic from a debug.Stack dump.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+3 < len(lines) {
			return strings.TrimSpace(lines[i+2]) + " " + strings.TrimSpace(lines[i+3])
		}
	}
	return "no stack"
}

// Rank sorts findings most severe first, then by score, share and title.
func Rank(fs []Finding) {
	sort.SliceStable(fs, func(a, b int) bool {
		if fs[a].Severity != fs[b].Severity {
			return fs[a].Severity > fs[b].Severity
		}
		if fs[a].Score != fs[b].Score {
			return fs[a].Score > fs[b].Score
		}
		if fs[a].Share != fs[b].Share {
			return fs[a].Share > fs[b].Share
		}
		return fs[a].Title < fs[b].Title
	})
}

// Worst is the highest severity among fs, and whether there is any.
func Worst(fs []Finding) (Severity, bool) {
	w, any := Info, false
	for _, f := range fs {
		if !any || f.Severity > w {
			w, any = f.Severity, true
		}
	}
	return w, any
}
