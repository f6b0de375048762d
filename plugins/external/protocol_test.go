package external

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// The summary carries the capture's figures, every sample type's total and
// top functions, and the share of each frame category of the CPU type.
func TestSummarize(t *testing.T) {
	ev := spinEvidence(t, "")
	hashing := plugins.CPUHotSpot{PluginName: "hashing", Category: plugins.CatHashing, What: "hashing"}
	rep := plugins.RunPlugins(ev, []plugins.Plugin{hashing})
	s := Summarize(ev, rep)

	if s.WindowSeconds != 2 || s.Hz != 99 || strings.Join(s.Probes, ",") != "cpu,sched" || s.CPUType != profile.TypeOnCPU {
		t.Errorf("window %g hz %d probes %v cpu type %q", s.WindowSeconds, s.Hz, s.Probes, s.CPUType)
	}
	if len(s.Targets) != 1 || s.Targets[0].PID != 4711 || s.Targets[0].Exe != "/usr/local/bin/spinner" || s.Targets[0].Meta.GOMAXPROCS != 2 {
		t.Errorf("targets %+v", s.Targets)
	}
	// 99 waits of 1 ms and one of 50 ms: p50 within the 25% slot of 1 ms,
	// p99 still 1 ms, max and mean exact.
	h := s.Histograms["runqueue"]
	if h.Count != 100 || h.MaxNs != 50e6 || h.MeanNs != (99*1e6+50e6)/100 || math.Abs(float64(h.P50Ns)-1e6) > 0.25e6 || h.P99Ns > 1.25e6 {
		t.Errorf("runqueue histogram %+v", h)
	}
	if s.Counts["wakeups"] != 3000 || s.Drops["cpu_user_stack"] != 2 {
		t.Errorf("counts %v drops %v", s.Counts, s.Drops)
	}
	cpu := s.Types[profile.TypeOnCPU]
	if cpu.Unit != "nanoseconds" || cpu.Total != 1e9 || len(cpu.Top) == 0 || cpu.Top[0].Function != "main.spin" || cpu.Top[0].Flat != 600e6 || cpu.Top[0].FlatPct != 60 {
		t.Errorf("oncpu %+v", cpu)
	}
	if n := s.Types["samples"].Total; n != 100 {
		t.Errorf("samples total %d, want 100", n)
	}
	if len(s.CategoryShares) != len(plugins.FrameCategories()) {
		t.Errorf("%d category shares, want one per frame category (%d)", len(s.CategoryShares), len(plugins.FrameCategories()))
	}
	for cat, want := range map[plugins.Category]float64{plugins.CatHashing: 0.25, plugins.CatAllocation: 0.15, plugins.CatGC: 0, plugins.CatLock: 0} {
		if got, ok := s.CategoryShares[string(cat)]; !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("share of %s %g (%v), want %g", cat, got, ok, want)
		}
	}
	if len(s.Findings) != 1 || s.Findings[0].Plugin != "hashing" || s.Findings[0].Share != 0.25 {
		t.Errorf("built-in findings %+v", s.Findings)
	}

	// A bare profile: no capture, no CPU type without CPU samples, and
	// empty (not null) collections.
	bare := Summarize(&plugins.Evidence{}, nil)
	b, err := json.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"window_seconds":0,"targets":[],"probes":[],"hz":0,"histograms":{},"counts":{},"drops":{},"types":{},"cpu_type":"","category_shares":{},"findings":[]}`; string(b) != want {
		t.Errorf("empty summary\n got %s\nwant %s", b, want)
	}
}

// docJSON returns the first ```json block of docs/plugins.md after marker.
func docJSON(t *testing.T, marker string) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)" + regexp.QuoteMeta(marker) + ".*?```json\n(.*?)\n```")
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/plugins.md has no json block after %q", marker)
	}
	return m[1]
}

// The documentation's example request has only fields a request has, and
// its example response decodes.
func TestDocExamples(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(docJSON(t, "<!-- example request -->")))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("example request: %v", err)
	}
	if req.Protocol != Protocol || req.Evidence.CPUType == "" || len(req.Evidence.Findings) == 0 {
		t.Errorf("example request %+v", req)
	}
	fs, err := decodeResponse(docJSON(t, "<!-- example response -->"))
	if err != nil || len(fs) == 0 {
		t.Errorf("example response: %v, %d findings", err, len(fs))
	}
	if _, err := decodeResponse(docJSON(t, "<!-- example error -->")); err == nil || err.Error() != "no GC cycles in the window: capture longer, or with GODEBUG=gctrace=1" {
		t.Errorf("example error: %v", err)
	}
}

// responseSeeds are the fuzzer's seeds: valid responses and the ways a
// response goes wrong.
var responseSeeds = []string{
	`{"findings": []}`,
	`{"findings": [{"title": "a", "score": 60, "share": 0.4, "figures": [{"name": "n", "value": 1, "unit": "%"}], "stacks": [["f", "g"]], "key": ["f"]}]}`,
	`{"findings": [{"title": "b", "severity": "critical", "category": "hashing", "unknown": {"nested": [1, 2]}}]}`,
	`{"error": "no data"}`,
	`{"error": "", "findings": null}`,
	`{"findings": [{"title": ""}]}`,
	`{"findings": [{"title": "x", "score": -1}]}`,
	`{"findings": [{"title": "x", "share": 1.5}]}`,
	`{"findings": [{"title": "x", "severity": 3}]}`,
	`{"findings": [{"title": "x", "figures": [{"value": 1}]}]}`,
	`{"findings": {}}`,
	`{"findings": [1]}`,
	`[]`,
	`null`,
	`{"findings": [null]}`,
	`{"findings": [{"title": "two\nlines\u0000"}]}`,
	`{"findings": []} trailing`,
	`{"findings": [`,
	"\xff\xfe",
	``,
}

// FuzzDecodeResponse: the decoder never panics; it returns findings that
// pass the protocol's checks, an analysis error, or a one-line reason.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		fs, err := decodeResponse(out)
		var ae *analysisError
		switch {
		case errors.As(err, &ae):
			if ae.msg == "" || strings.ContainsAny(ae.msg, "\n\r") {
				t.Errorf("analysis error %q is not one line", ae.msg)
			}
			return
		case err != nil:
			if fs != nil || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q with %d findings", err, len(fs))
			}
			return
		}
		if len(fs) > MaxFindings {
			t.Errorf("%d findings", len(fs))
		}
		for i := range fs {
			f := &fs[i]
			if strings.TrimSpace(f.Title) == "" || strings.ContainsAny(f.Title, "\n\r\x00") || f.Score < 0 || f.Score > 100 || f.Share < 0 || f.Share > 1 {
				t.Errorf("finding %+v passed the checks", f)
			}
			plugins.Finish(f, "fuzz")
			if len(f.ID) != 16 || f.Plugin != "fuzz" || len(f.Stacks) > 3 {
				t.Errorf("finished finding %+v", f)
			}
		}
	})
}
