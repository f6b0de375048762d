package external

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// Protocol is the version of the request and response; docs/plugins.md
// describes it. Within a version fields keep their names and meanings; new
// fields may appear, and a plugin ignores those it does not know.
const Protocol = 1

// Limits on a response.
const (
	MaxFindings = 100
	topN        = 20  // functions per sample type in a summary
	maxTitle    = 300 // runes of a finding's title, made one line
)

// Request is what a plugin reads on stdin.
type Request struct {
	Protocol int    `json:"protocol"`
	Source   string `json:"source"`
	// Profile is the absolute path of the merged pprof file, "" when none
	// was written.
	Profile  string  `json:"profile"`
	Evidence Summary `json:"evidence"`
}

// Summary is the evidence a request carries: what capture.json says plus
// the shares perfprobe's own plugins work from, and their findings.
type Summary struct {
	WindowSeconds float64              `json:"window_seconds"`
	Targets       []Target             `json:"targets"`
	Probes        []string             `json:"probes"`
	Hz            int                  `json:"hz"`
	Histograms    map[string]Histogram `json:"histograms"`
	Counts        map[string]uint64    `json:"counts"`
	Drops         map[string]uint64    `json:"drops"`
	// Types has every sample type of the profile: its unit, total and top
	// functions by flat value.
	Types map[string]Type `json:"types"`
	// CPUType is the sample type that says where CPU time went ("oncpu",
	// else "go_cpu", else "" without CPU samples).
	CPUType string `json:"cpu_type"`
	// CategoryShares is, for every frame category, the share (0..1) of
	// CPUType on stacks with a frame in it (inclusive, like pprof -focus).
	CategoryShares map[string]float64 `json:"category_shares"`
	Go             *profile.GoReport  `json:"go,omitempty"`
	// Findings are the built-in plugins' findings so far.
	Findings []plugins.Finding `json:"findings"`
}

// Target is one profiled process.
type Target struct {
	PID  int                 `json:"pid"`
	Comm string              `json:"comm"`
	Exe  string              `json:"exe"`
	Meta *profile.TargetMeta `json:"meta,omitempty"`
}

// Histogram is a latency histogram's figures, in nanoseconds.
type Histogram struct {
	Count  uint64 `json:"count"`
	P50Ns  uint64 `json:"p50_ns"`
	P95Ns  uint64 `json:"p95_ns"`
	P99Ns  uint64 `json:"p99_ns"`
	MaxNs  uint64 `json:"max_ns"`
	MeanNs uint64 `json:"mean_ns"`
}

// Type is one sample type of the profile.
type Type struct {
	Unit  string              `json:"unit"`
	Total int64               `json:"total"`
	Top   []profile.FuncShare `json:"top"`
}

// Summarize builds the evidence summary a request carries.
func Summarize(ev *plugins.Evidence, rep *plugins.Report) Summary {
	s := Summary{
		WindowSeconds:  ev.Window().Seconds(),
		Targets:        []Target{},
		Probes:         []string{},
		Histograms:     map[string]Histogram{},
		Counts:         map[string]uint64{},
		Drops:          map[string]uint64{},
		Types:          map[string]Type{},
		CPUType:        ev.CPUType(),
		CategoryShares: map[string]float64{},
		Go:             ev.Go,
		Findings:       []plugins.Finding{},
	}
	if c := ev.Capture; c != nil {
		targets := c.Targets
		if len(targets) == 0 && c.Target.PID != 0 {
			targets = []profile.Target{c.Target}
		}
		for _, t := range targets {
			s.Targets = append(s.Targets, Target{PID: t.PID, Comm: t.Comm, Exe: t.Exe, Meta: t.Meta})
		}
		s.Probes = append(s.Probes, c.Probes...)
		s.Hz = c.Hz
		for name, h := range c.Histograms {
			if h != nil {
				s.Histograms[name] = Histogram{Count: h.Count, P50Ns: h.Percentile(0.50), P95Ns: h.Percentile(0.95), P99Ns: h.Percentile(0.99), MaxNs: h.MaxNs, MeanNs: h.MeanNs()}
			}
		}
		for k, v := range c.Counts {
			s.Counts[k] = v
		}
		for k, v := range c.Drops {
			s.Drops[k] = v
		}
	}
	if p := ev.Profile; p != nil {
		for _, st := range p.SampleType {
			top := profile.TopFunctions(p, st.Type, topN)
			if top == nil {
				top = []profile.FuncShare{}
			}
			s.Types[st.Type] = Type{Unit: st.Unit, Total: ev.Total(st.Type), Top: top}
		}
	}
	if s.CPUType != "" {
		for _, cat := range plugins.FrameCategories() {
			s.CategoryShares[string(cat)] = ev.InCategory(s.CPUType, cat).Share
		}
	}
	if rep != nil && rep.Findings != nil {
		s.Findings = rep.Findings
	}
	return s
}

// wireFinding is a finding as a plugin writes it: the fields of
// plugins.Finding a plugin may set. Id, plugin, status and confidence are
// perfprobe's to fill.
type wireFinding struct {
	Title    string           `json:"title"`
	Category string           `json:"category"`
	Severity string           `json:"severity"`
	Score    int              `json:"score"`
	Detail   string           `json:"detail"`
	Share    float64          `json:"share"`
	Figures  []plugins.Figure `json:"figures"`
	Stacks   [][]string       `json:"stacks"`
	Query    string           `json:"query"`
	Advice   string           `json:"advice"`
	// Key names the problem for the finding's id (frames, names); without
	// it the id comes from the first stack, else the title.
	Key []string `json:"key"`
}

type wireResponse struct {
	Findings []json.RawMessage `json:"findings"`
	Error    *string           `json:"error"`
}

// analysisError is a response's "error": the plugin ran and could not
// analyse the evidence.
type analysisError struct{ msg string }

func (e *analysisError) Error() string { return e.msg }

// notProtocol prefixes every reason a response is refused.
const notProtocol = "printed something that is not the protocol's JSON: "

// decodeResponse reads a plugin's stdout: its findings, or an
// *analysisError for the response's "error", or an error saying why the
// output is not a valid response. Findings are not yet finished
// (plugins.Finish).
func decodeResponse(out []byte) ([]plugins.Finding, error) {
	switch trimmed := bytes.TrimSpace(out); {
	case len(trimmed) == 0:
		return nil, errors.New("printed nothing: want the protocol's JSON response on stdout")
	case string(trimmed) == "null":
		return nil, errors.New(notProtocol + "the response is null, want an object")
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var r wireResponse
	if err := dec.Decode(&r); err != nil {
		return nil, errors.New(notProtocol + jsonError("the response", err) + excerpt(out))
	}
	rest := out[dec.InputOffset():]
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New(notProtocol + "more after the response object" + excerpt(rest))
	}
	if r.Error != nil && strings.TrimSpace(*r.Error) != "" {
		return nil, &analysisError{oneLine(*r.Error, 300)}
	}
	if len(r.Findings) > MaxFindings {
		return nil, fmt.Errorf("%s%d findings, at most %d", notProtocol, len(r.Findings), MaxFindings)
	}
	fs := make([]plugins.Finding, 0, len(r.Findings))
	for i, raw := range r.Findings {
		where := fmt.Sprintf("finding %d", i+1)
		var w wireFinding
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, errors.New(notProtocol + jsonError(where, err))
		}
		f, err := w.finding()
		if err != nil {
			return nil, fmt.Errorf("%s%s: %v", notProtocol, where, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func (w *wireFinding) finding() (plugins.Finding, error) {
	f := plugins.Finding{
		Category: w.Category, Title: oneLine(w.Title, maxTitle), Score: w.Score,
		Detail: w.Detail, Share: w.Share, Figures: w.Figures, Stacks: w.Stacks,
		Query: w.Query, Advice: w.Advice, Key: w.Key,
	}
	switch {
	case f.Title == "":
		return f, errors.New("no title")
	case w.Score < 0 || w.Score > 100:
		return f, fmt.Errorf("score %d is not in 0..100", w.Score)
	case !(w.Share >= 0 && w.Share <= 1):
		return f, fmt.Errorf("share %g is not in 0..1", w.Share)
	}
	if w.Severity != "" {
		sev, err := plugins.ParseSeverity(w.Severity)
		if err != nil {
			return f, err
		}
		f.Severity = sev
	}
	for i, g := range f.Figures {
		if strings.TrimSpace(g.Name) == "" {
			return f, fmt.Errorf("figure %d has no name", i+1)
		}
	}
	return f, nil
}

// jsonError says in one line what is wrong with a JSON value.
func jsonError(what string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = what
		} else {
			field = what + ": " + field
		}
		return fmt.Sprintf("%s is a JSON %s, want %s", field, te.Value, goType(te.Type.String()))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return what + " ends early"
	}
	return what + ": " + strings.TrimPrefix(err.Error(), "json: ")
}

// goType names a Go type in the protocol's words.
func goType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map[") || strings.Contains(t, "."):
		return "an object"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return t
}

// excerpt quotes the start of out for a reason.
func excerpt(out []byte) string {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s)", quote(out, 40))
}

// quote quotes at most n bytes of b.
func quote(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

// oneLine makes s a status reason: valid UTF-8, one line, at most n runes.
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' }), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "..."
	}
	return s
}
