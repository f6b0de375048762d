package pyroscope

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	typesv1 "github.com/grafana/pyroscope/api/gen/proto/go/types/v1"

	pp "github.com/perfprobe/perfprobe/profile"
)

// ProfileType is a Pyroscope profile type: the series' __name__ and the
// sample and period types of its pprof.
type ProfileType struct {
	Name, SampleType, SampleUnit, PeriodType, PeriodUnit string
}

// ID is the profile type id Pyroscope queries select by, e.g.
// "process_cpu:cpu:nanoseconds:cpu:nanoseconds".
func (t ProfileType) ID() string {
	return t.Name + ":" + t.SampleType + ":" + t.SampleUnit + ":" + t.PeriodType + ":" + t.PeriodUnit
}

func nsType(name, typ string) ProfileType {
	return ProfileType{Name: name, SampleType: typ, SampleUnit: "nanoseconds", PeriodType: typ, PeriodUnit: "nanoseconds"}
}

// Types maps perfprobe's eBPF sample types to Pyroscope profile types. On-
// and off-CPU use the names Pyroscope's own eBPF collectors use; the
// quantities only perfprobe measures get perfprobe_ names.
var Types = map[string]ProfileType{
	pp.TypeOnCPU:                 {Name: "process_cpu", SampleType: "cpu", SampleUnit: "nanoseconds", PeriodType: "cpu", PeriodUnit: "nanoseconds"},
	pp.TypeOffCPUBlocked:         nsType("off_cpu", "off_cpu"),
	pp.TypeOffCPURunqueue:        nsType("perfprobe_runqueue", "runqueue"),
	pp.TypeOffCPUUninterruptible: nsType("perfprobe_dstate", "uninterruptible"),
	pp.TypeIOWait:                nsType("perfprobe_iowait", "iowait"),
	pp.TypeTLSHandshake:          nsType("perfprobe_tls_handshake", "tls_handshake"),
}

// GoNames maps the Go runtime's profile kinds to the __name__ pyroscope-go
// pushes them under, so that in-process and agent-scraped Go profiles line
// up.
var GoNames = map[string]string{
	"cpu":       "process_cpu",
	"wall":      "wall",
	"heap":      "memory",
	"goroutine": "goroutines",
	"mutex":     "mutex",
	"block":     "block",
}

// Label names and values the series carry besides the caller's.
const (
	LabelName   = "__name__"
	LabelSource = "source"
	SourceEBPF  = "ebpf" // the eBPF probes' profiles
	SourceGo    = "go"   // the Go runtime's own profiles
)

// sampleLabelsDropped are the pprof sample labels Series leaves out of the
// pushed profiles: Pyroscope turns sample labels into series labels, and
// per-thread ones would make a series per thread (pid and comm are series
// labels already; source is the series' own). The local store keeps them.
var sampleLabelsDropped = map[string]bool{"pid": true, "tid": true, "thread": true, "comm": true, pp.SourceLabel: true}

// ValidLabelName reports whether s is a valid Pyroscope (Prometheus) label
// name: [a-zA-Z_][a-zA-Z0-9_]*.
func ValidLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Series builds the Pyroscope series of one window of one target: one
// single-type pprof per eBPF type of p that has data, under the name of
// Types (a type missing from the table goes under "perfprobe_<type>"),
// labelled source="ebpf", and each Go runtime profile of goRaw (keyed by
// the kinds of GoNames) as it is, labelled source="go". The "samples"
// count and the go_* types merged into p are left out: the Go profiles go
// as goRaw. Every series carries labels plus __name__ and source, sorted
// by name; labels with an empty value are left out, and an invalid or
// reserved name (__name__, source) is an error. p may be nil when only Go
// profiles are pushed. Series only reads p; it writes (encodes) the goRaw
// profiles, so they must not be written concurrently elsewhere.
func Series(labels map[string]string, p *profile.Profile, goRaw map[string]*profile.Profile) ([]*pushv1.RawProfileSeries, error) {
	base, err := baseLabels(labels)
	if err != nil {
		return nil, err
	}
	var out []*pushv1.RawProfileSeries
	if p != nil {
		for i, st := range p.SampleType {
			if st.Type == pp.SampleCount.Name || strings.HasPrefix(st.Type, "go_") || !hasData(p, i) {
				continue
			}
			t, ok := Types[st.Type]
			if !ok {
				if !ValidLabelName(st.Type) {
					return nil, fmt.Errorf("building pyroscope series: sample type %q is not a valid profile name", st.Type)
				}
				t = ProfileType{Name: "perfprobe_" + st.Type, SampleType: st.Type, SampleUnit: st.Unit, PeriodType: st.Type, PeriodUnit: st.Unit}
			}
			raw, err := encode(single(p, i, t))
			if err != nil {
				return nil, fmt.Errorf("encoding the %s profile: %w", st.Type, err)
			}
			out = append(out, rawSeries(base, t.Name, SourceEBPF, raw))
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(goRaw)) {
		g := goRaw[kind]
		name, ok := GoNames[kind]
		if !ok {
			return nil, fmt.Errorf("building pyroscope series: unknown Go profile kind %q (want one of cpu, wall, heap, goroutine, mutex, block)", kind)
		}
		if g == nil {
			continue
		}
		var buf bytes.Buffer
		if err := g.Write(&buf); err != nil {
			return nil, fmt.Errorf("encoding the Go %s profile: %w", kind, err)
		}
		out = append(out, rawSeries(base, name, SourceGo, buf.Bytes()))
	}
	return out, nil
}

func baseLabels(labels map[string]string) ([]*typesv1.LabelPair, error) {
	base := make([]*typesv1.LabelPair, 0, len(labels)+2)
	for k, v := range labels {
		switch {
		case k == LabelName || k == LabelSource:
			return nil, fmt.Errorf("building pyroscope series: label %q is set by perfprobe, not by a user label", k)
		case !ValidLabelName(k):
			return nil, fmt.Errorf("building pyroscope series: label name %q is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]*", k)
		case v == "":
			continue
		}
		base = append(base, &typesv1.LabelPair{Name: k, Value: v})
	}
	return base, nil
}

func rawSeries(base []*typesv1.LabelPair, name, source string, raw []byte) *pushv1.RawProfileSeries {
	ls := make([]*typesv1.LabelPair, 0, len(base)+2)
	ls = append(ls, base...)
	ls = append(ls, &typesv1.LabelPair{Name: LabelName, Value: name}, &typesv1.LabelPair{Name: LabelSource, Value: source})
	slices.SortFunc(ls, func(a, b *typesv1.LabelPair) int { return strings.Compare(a.Name, b.Name) })
	return &pushv1.RawProfileSeries{Labels: ls, Samples: []*pushv1.RawSample{{RawProfile: raw, ID: newUUID()}}}
}

func hasData(p *profile.Profile, i int) bool {
	for _, s := range p.Sample {
		if i < len(s.Value) && s.Value[i] != 0 {
			return true
		}
	}
	return false
}

// single builds a fresh profile of p's samples with a value in type i,
// with that one type, the locations, functions and mappings they use
// (copies: p is only read, so another goroutine may encode it meanwhile),
// and the sample labels Pyroscope can take as series labels. Samples that
// become equal once the dropped labels are gone are folded.
func single(p *profile.Profile, i int, t ProfileType) *profile.Profile {
	out := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: t.SampleType, Unit: t.SampleUnit}},
		PeriodType:    &profile.ValueType{Type: t.PeriodType, Unit: t.PeriodUnit},
		TimeNanos:     p.TimeNanos,
		DurationNanos: p.DurationNanos,
	}
	if t.Name == "process_cpu" && p.PeriodType != nil && p.PeriodType.Type == "cpu" {
		out.Period = p.Period
	}
	mappings := map[*profile.Mapping]*profile.Mapping{}
	functions := map[*profile.Function]*profile.Function{}
	locations := map[*profile.Location]*profile.Location{}
	folded := map[string]*profile.Sample{}
	var key []byte
	for _, s := range p.Sample {
		if i >= len(s.Value) || s.Value[i] == 0 {
			continue
		}
		labels := keptLabels(s.Label)
		key = key[:0]
		for _, l := range s.Location {
			key = strconv.AppendUint(key, l.ID, 16)
			key = append(key, ',')
		}
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			key = append(key, 0)
			key = append(key, k...)
			for _, v := range labels[k] {
				key = append(key, 1)
				key = append(key, v...)
			}
		}
		if prev, ok := folded[string(key)]; ok {
			prev.Value[0] += s.Value[i]
			continue
		}
		ns := &profile.Sample{Value: []int64{s.Value[i]}, Label: labels, Location: make([]*profile.Location, len(s.Location))}
		for j, l := range s.Location {
			ns.Location[j] = copyLocation(out, l, locations, functions, mappings)
		}
		folded[string(key)] = ns
		out.Sample = append(out.Sample, ns)
	}
	return out
}

func keptLabels(in map[string][]string) map[string][]string {
	var out map[string][]string
	for k, v := range in {
		if sampleLabelsDropped[k] || !ValidLabelName(k) || len(v) == 0 {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[k] = v
	}
	return out
}

func copyLocation(out *profile.Profile, l *profile.Location, locations map[*profile.Location]*profile.Location, functions map[*profile.Function]*profile.Function, mappings map[*profile.Mapping]*profile.Mapping) *profile.Location {
	if nl, ok := locations[l]; ok {
		return nl
	}
	nl := &profile.Location{ID: uint64(len(out.Location) + 1), Address: l.Address, IsFolded: l.IsFolded}
	if m := l.Mapping; m != nil {
		nm, ok := mappings[m]
		if !ok {
			c := *m
			nm = &c
			nm.ID = uint64(len(out.Mapping) + 1)
			mappings[m] = nm
			out.Mapping = append(out.Mapping, nm)
		}
		nl.Mapping = nm
	}
	nl.Line = make([]profile.Line, len(l.Line))
	for j, ln := range l.Line {
		nl.Line[j] = profile.Line{Line: ln.Line, Column: ln.Column}
		if f := ln.Function; f != nil {
			nf, ok := functions[f]
			if !ok {
				nf = &profile.Function{ID: uint64(len(out.Function) + 1), Name: f.Name, SystemName: f.SystemName, Filename: f.Filename, StartLine: f.StartLine}
				functions[f] = nf
				out.Function = append(out.Function, nf)
			}
			nl.Line[j].Function = nf
		}
	}
	locations[l] = nl
	out.Location = append(out.Location, nl)
	return nl
}

// encode writes p as a gzipped pprof at gzip's fastest level: on the
// demo's 30 s window (BenchmarkSeries) Series took 44 ms and pushed 180 KB
// this way, 111 ms and 162 KB with pprof's Write (gzip's default level).
func encode(p *profile.Profile) ([]byte, error) {
	var raw bytes.Buffer
	if err := p.WriteUncompressed(&raw); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(raw.Len() / 3)
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	// A copy of the exact size: the buffer's spare capacity (up to as much
	// again) would stay queued with the window, outside the queue's cap.
	return bytes.Clone(buf.Bytes()), nil
}

// newUUID is a random (version 4) UUID for RawSample.ID: eight lines
// rather than a module for it.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
