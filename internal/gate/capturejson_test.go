package gate

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// writeCapture writes a capture directory: capture.json with a runqueue
// histogram and an empty blocked one, and (with oncpu) profile.pb.gz where
// 30% of the on-CPU time is in SHA-256 and the rest in main.work.
func writeCapture(t *testing.T, dir string, oncpu bool) *profile.Report {
	t.Helper()
	h := &profile.Histogram{}
	for i := range 1000 {
		h.Record(uint64(1000 + 100*i)) // 1 µs to 101 µs
	}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &profile.Capture{
		Start: start, End: start.Add(10 * time.Second), Probes: []string{"cpu", "sched"}, Hz: 99,
		Histograms: map[string]*profile.Histogram{"runqueue": h, "blocked": {}},
	}
	var p *pprof.Profile
	files := map[string]string{"flame": "flame.html"}
	if oncpu {
		p = &pprof.Profile{
			SampleType:    []*pprof.ValueType{{Type: "samples", Unit: "count"}, {Type: profile.TypeOnCPU, Unit: "nanoseconds"}},
			DurationNanos: int64(10 * time.Second),
		}
		for i, fn := range []string{"crypto/sha256.block", "main.work"} {
			f := &pprof.Function{ID: uint64(i + 1), Name: fn, SystemName: fn}
			l := &pprof.Location{ID: uint64(i + 1), Line: []pprof.Line{{Function: f}}}
			p.Function, p.Location = append(p.Function, f), append(p.Location, l)
			v := int64(30 + 40*i) // 30 and 70
			p.Sample = append(p.Sample, &pprof.Sample{Location: []*pprof.Location{l}, Value: []int64{v, v * 1e7}})
		}
		var b bytes.Buffer
		if err := p.Write(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, profile.CaptureProfile), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files["profile"] = profile.CaptureProfile
	}
	rep := c.Report(p, files)
	if err := rep.WriteJSON(filepath.Join(dir, "capture.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flame.html"), []byte("<html></html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestCaptureJSON(t *testing.T) {
	dir := t.TempDir()
	rep := writeCapture(t, dir, true)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	hr := rep.Histograms["runqueue"]
	wantSamples(t, metric(t, s, "runqueue.p50", "s"), KindLatency, false, float64(hr.P50Ns)/1e9)
	wantSamples(t, metric(t, s, "runqueue.p95", "s"), KindLatency, false, float64(hr.P95Ns)/1e9)
	wantSamples(t, metric(t, s, "runqueue.p99", "s"), KindLatency, false, float64(hr.P99Ns)/1e9)
	if p50 := metric(t, s, "runqueue.p50", "s").Samples[0]; p50 < 40e-6 || p50 > 65e-6 {
		t.Errorf("runqueue.p50 = %v s, want about 51 µs (within the 25%% slot)", p50)
	}
	if m := s.Metrics["blocked.p50 s"]; m != nil {
		t.Errorf("an empty histogram gave %v", m.Samples)
	}
	wantSamples(t, metric(t, s, "share(hashing, oncpu)", "%"), KindShare, false, 30)
	cats := plugins.FrameCategories()
	for _, cat := range cats {
		m := metric(t, s, "share("+string(cat)+", oncpu)", "%")
		if cat != plugins.CatHashing && m.Samples[0] != 0 {
			t.Errorf("share(%s, oncpu) = %v, want 0", cat, m.Samples[0])
		}
	}
	if want := 3 + len(cats); s.Len() != want {
		t.Errorf("%d metrics, want %d:\n%s", s.Len(), want, s)
	}
	if !slices.Equal(s.Files, []string{"capture.json"}) || len(s.Skipped) != 0 {
		t.Errorf("files %q, skipped %q; want capture.json alone, the capture's own files not skipped", s.Files, s.Skipped)
	}
}

// Without a profile (or from the data alone) a capture gives its
// histograms and no shares.
func TestCaptureJSONNoProfile(t *testing.T) {
	dir := t.TempDir()
	writeCapture(t, dir, false)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	alone := mustParse(t, "capture.json", string(data))
	for _, set := range []*Set{s, alone} {
		if set.Len() != 3 {
			t.Errorf("%d metrics, want the 3 runqueue percentiles:\n%s", set.Len(), set)
		}
	}
}

func TestCaptureJSONSchema(t *testing.T) {
	s := NewSet()
	ok, err := ParseData("capture.json", []byte(`{"schema": 9, "window": {}, "probes": []}`), s)
	if ok || err == nil || s.Len() != 0 {
		t.Errorf("schema 9: %v, %v; want an error", ok, err)
	}
	ok, err = ParseData("capture.json", []byte(`{"schema": 1, "window": {"start": 3}, "probes": []}`), s)
	if ok || err == nil || s.Len() != 0 {
		t.Errorf("bad window: %v, %v; want an error", ok, err)
	}
}

// The policy's shares: are measured in every capture with a profile: a
// function regexp's share, as the SLOs write it.
func TestCaptureJSONPolicyShares(t *testing.T) {
	dir := t.TempDir()
	writeCapture(t, dir, true)
	s, err := LoadShares(dir, []string{`share(/^main\.work$/, oncpu)`})
	if err != nil {
		t.Fatal(err)
	}
	wantSamples(t, metric(t, s, `share(/^main\.work$/, oncpu)`, "%"), KindShare, false, 70)
	if _, err := LoadShares(dir, []string{"runqueue.p95"}); err == nil || !strings.Contains(err.Error(), "runqueue.p95 is in ns: the policy's shares: takes share(...) metrics") {
		t.Errorf("a non-share metric: %v", err)
	}
}
