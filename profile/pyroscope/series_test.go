package pyroscope

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	pp "github.com/perfprobe/perfprobe/profile"
)

// mergedWindow builds a merged profile as perfprobe's merge makes one: "samples",
// the eBPF types and go_cpu, samples labelled with pid, tid, thread, comm
// and source, and a syscall label on the I/O samples. hot and cold are the
// on-CPU nanoseconds of main.hot and main.cold.
func mergedWindow(hot, cold int64) *profile.Profile {
	types := []string{"samples", pp.TypeOnCPU, pp.TypeOffCPUBlocked, pp.TypeOffCPURunqueue, pp.TypeIOWait, pp.TypeTLSHandshake, pp.TypeGoCPU, pp.TypeOffCPUUninterruptible}
	p := &profile.Profile{
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        int64(1e9) / 19,
		TimeNanos:     1_800_000_000_000_000_000,
		DurationNanos: 15e9,
	}
	for _, t := range types {
		unit := "nanoseconds"
		if t == "samples" {
			unit = "count"
		}
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: t, Unit: unit})
	}
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x800000, File: "/usr/bin/demo", HasFunctions: true}
	p.Mapping = []*profile.Mapping{m}
	loc := func(name string) *profile.Location {
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name, Filename: "demo.go"}
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: m, Address: 0x400000 + uint64(len(p.Location))*16, Line: []profile.Line{{Function: f, Line: 10}}}
		p.Location = append(p.Location, l)
		return l
	}
	mainL, hotL, coldL, readL, tlsL, unusedL := loc("main.main"), loc("main.hot"), loc("main.cold"), loc("syscall.read"), loc("crypto/tls.(*Conn).Handshake"), loc("main.unused")
	_ = unusedL
	sample := func(typ string, v int64, tid int64, extra map[string]string, stack ...*profile.Location) {
		vals := make([]int64, len(types))
		vals[slices.Index(types, typ)] = v
		if typ == pp.TypeOnCPU {
			vals[0] = v / p.Period
		}
		lab := map[string][]string{"thread": {"demo"}, "comm": {"demo"}, pp.SourceLabel: {pp.SourceEBPF}}
		if typ == pp.TypeGoCPU {
			lab[pp.SourceLabel] = []string{pp.SourceGoPprof}
		}
		for k, v := range extra {
			lab[k] = []string{v}
		}
		p.Sample = append(p.Sample, &profile.Sample{Value: vals, Location: stack, Label: lab, NumLabel: map[string][]int64{"pid": {1234}, "tid": {tid}}})
	}
	// The hot and cold on-CPU time split over two threads each: the
	// pushed profile folds them.
	sample(pp.TypeOnCPU, hot/2, 1, nil, hotL, mainL)
	sample(pp.TypeOnCPU, hot-hot/2, 2, nil, hotL, mainL)
	sample(pp.TypeOnCPU, cold, 1, nil, coldL, mainL)
	sample(pp.TypeOffCPUBlocked, 7_000_000, 1, nil, readL, mainL)
	sample(pp.TypeOffCPURunqueue, 3_000_000, 2, nil, hotL, mainL)
	sample(pp.TypeIOWait, 5_000_000, 1, map[string]string{"syscall": "read"}, readL, mainL)
	sample(pp.TypeIOWait, 1_000_000, 1, map[string]string{"syscall": "fsync"}, readL, mainL)
	sample(pp.TypeTLSHandshake, 2_000_000, 2, map[string]string{"tls": "client"}, tlsL, mainL)
	sample(pp.TypeGoCPU, 9_000_000, 1, nil, hotL, mainL)
	// offcpu_uninterruptible has no data: no series.
	return p
}

var testLabels = map[string]string{"service_name": "demo", "pid": "1234", "comm": "demo", "hostname": "node1", "env": "test", "empty": ""}

func parseRaw(t testing.TB, raw []byte) *profile.Profile {
	t.Helper()
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Fatalf("raw profile is not gzipped")
	}
	p, err := profile.ParseData(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func total(p *profile.Profile, i int) int64 {
	var n int64
	for _, s := range p.Sample {
		n += s.Value[i]
	}
	return n
}

func TestSeries(t *testing.T) {
	in := mergedWindow(3_000_000_000, 1_000_000_000)
	series, err := Series(testLabels, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // type id -> perfprobe type
		"process_cpu:cpu:nanoseconds:cpu:nanoseconds":                                 pp.TypeOnCPU,
		"off_cpu:off_cpu:nanoseconds:off_cpu:nanoseconds":                             pp.TypeOffCPUBlocked,
		"perfprobe_runqueue:runqueue:nanoseconds:runqueue:nanoseconds":                pp.TypeOffCPURunqueue,
		"perfprobe_iowait:iowait:nanoseconds:iowait:nanoseconds":                      pp.TypeIOWait,
		"perfprobe_tls_handshake:tls_handshake:nanoseconds:tls_handshake:nanoseconds": pp.TypeTLSHandshake,
	}
	got := map[string]bool{}
	for _, s := range series {
		var names []string
		labels := map[string]string{}
		for _, l := range s.Labels {
			if !ValidLabelName(l.Name) {
				t.Errorf("invalid label name %q", l.Name)
			}
			names = append(names, l.Name)
			labels[l.Name] = l.Value
		}
		if !slices.IsSorted(names) {
			t.Errorf("labels not sorted: %v", names)
		}
		if wantNames := []string{"__name__", "comm", "env", "hostname", "pid", "service_name", "source"}; !slices.Equal(names, wantNames) {
			t.Errorf("label names %v, want %v", names, wantNames)
		}
		if labels["source"] != "ebpf" || labels["service_name"] != "demo" {
			t.Errorf("labels %v", labels)
		}
		if len(s.Samples) != 1 || len(s.Samples[0].ID) != 36 {
			t.Fatalf("want one sample with a UUID, got %v", s.Samples)
		}
		p := parseRaw(t, s.Samples[0].RawProfile)
		if len(p.SampleType) != 1 {
			t.Fatalf("%s: %d sample types, want 1", labels["__name__"], len(p.SampleType))
		}
		id := ProfileType{labels["__name__"], p.SampleType[0].Type, p.SampleType[0].Unit, p.PeriodType.Type, p.PeriodType.Unit}.ID()
		typ, ok := want[id]
		if !ok {
			t.Errorf("unexpected type id %s", id)
			continue
		}
		got[id] = true
		if g, w := total(p, 0), total(in, pp.ValueIndex(in, typ)); g != w {
			t.Errorf("%s: total %d, want %d", id, g, w)
		}
		if p.TimeNanos != in.TimeNanos || p.DurationNanos != in.DurationNanos {
			t.Errorf("%s: time %d+%d, want %d+%d", id, p.TimeNanos, p.DurationNanos, in.TimeNanos, in.DurationNanos)
		}
		wantPeriod := int64(0)
		if typ == pp.TypeOnCPU {
			wantPeriod = in.Period
		}
		if p.Period != wantPeriod {
			t.Errorf("%s: period %d, want %d", id, p.Period, wantPeriod)
		}
		for _, smp := range p.Sample {
			for k := range smp.Label {
				if k == "thread" || k == "comm" || k == "source" {
					t.Errorf("%s: sample label %q pushed", id, k)
				}
			}
			if len(smp.NumLabel) != 0 {
				t.Errorf("%s: numeric sample labels %v pushed", id, smp.NumLabel)
			}
		}
		for _, f := range p.Function {
			if f.Name == "main.unused" {
				t.Errorf("%s: carries a function no sample uses", id)
			}
		}
		switch typ {
		case pp.TypeOnCPU: // 3 samples over 2 threads fold into 2 stacks
			if len(p.Sample) != 2 {
				t.Errorf("oncpu: %d samples, want 2 (threads folded)", len(p.Sample))
			}
		case pp.TypeIOWait: // the syscall label keeps read and fsync apart
			if len(p.Sample) != 2 || p.Sample[0].Label["syscall"] == nil {
				t.Errorf("iowait: samples %v, want 2 with a syscall label", p.Sample)
			}
		}
	}
	if len(got) != len(want) || len(series) != len(want) {
		t.Errorf("got %d series with type ids %v, want %v", len(series), got, want)
	}
}

func TestSeriesGoRaw(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "demo30s", "go-cpu.pb.gz"))
	if err != nil {
		t.Fatal(err)
	}
	goCPU, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	series, err := Series(map[string]string{"service_name": "demo"}, nil, map[string]*profile.Profile{"cpu": goCPU})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 {
		t.Fatalf("%d series, want 1", len(series))
	}
	var ls []string
	for _, l := range series[0].Labels {
		ls = append(ls, l.Name+"="+l.Value)
	}
	if got, want := strings.Join(ls, ","), "__name__=process_cpu,service_name=demo,source=go"; got != want {
		t.Errorf("labels %s, want %s", got, want)
	}
	back := parseRaw(t, series[0].Samples[0].RawProfile)
	if len(back.SampleType) != len(goCPU.SampleType) || total(back, 1) != total(goCPU, 1) || len(back.Sample) != len(goCPU.Sample) {
		t.Errorf("the Go profile changed: %d types, total %d, %d samples; want %d, %d, %d", len(back.SampleType), total(back, 1), len(back.Sample), len(goCPU.SampleType), total(goCPU, 1), len(goCPU.Sample))
	}
	if _, err := Series(nil, nil, map[string]*profile.Profile{"allocs": goCPU}); err == nil {
		t.Error("unknown Go kind accepted")
	}
}

func TestSeriesLabels(t *testing.T) {
	for _, name := range []string{"1abc", "a-b", "a.b", "", "é", "__name__", "source"} {
		if _, err := Series(map[string]string{name: "x"}, mergedWindow(1e9, 1e9), nil); err == nil {
			t.Errorf("label %q accepted", name)
		}
	}
	for name, want := range map[string]bool{"a": true, "_a9": true, "A_b_C": true, "9": false, "a b": false, "a:b": false} {
		if ValidLabelName(name) != want {
			t.Errorf("ValidLabelName(%q) = %t, want %t", name, !want, want)
		}
	}
}

// BenchmarkSeries converts the 30 s demo capture (all four probes) into
// its Pyroscope series and reports the gzipped bytes pushed per window.
func BenchmarkSeries(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "demo30s", "ebpf.pb.gz"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		b.Fatal(err)
	}
	labels := map[string]string{"service_name": "demo", "pid": "31724", "comm": "demo", "hostname": "node1"}
	var bytesOut, raw int
	b.ReportAllocs()
	for b.Loop() {
		series, err := Series(labels, p, nil)
		if err != nil {
			b.Fatal(err)
		}
		bytesOut = 0
		for _, s := range series {
			bytesOut += len(s.Samples[0].RawProfile)
		}
	}
	series, _ := Series(labels, p, nil)
	for _, s := range series {
		zr, err := gzip.NewReader(bytes.NewReader(s.Samples[0].RawProfile))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, zr)
		raw += int(n)
	}
	b.ReportMetric(float64(bytesOut), "bytes/window")
	b.ReportMetric(float64(raw), "raw-bytes/window")
	b.ReportMetric(float64(len(series)), "series/window")
}
