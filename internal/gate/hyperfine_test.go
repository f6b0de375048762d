package gate

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// hyperfine 1.15's --export-json, cut down.
const hyperfineJSON = `{
  "results": [
    {"command": "sl", "mean": 0.0129, "stddev": 0.0001, "median": 0.0129,
     "user": 0.00075, "system": 0.00025, "min": 0.0128, "max": 0.0131,
     "times": [0.0129, 0.0131, 0.0128], "exit_codes": [0, 0, 0]},
    {"command": "true", "mean": 0.0002, "user": 0.00004, "system": 0.0,
     "times": [0.0, 0.0006], "memory_usage_byte": [1000, 2000]},
    {"command": "old", "mean": 0.5}
  ]
}`

func TestHyperfine(t *testing.T) {
	s := mustParse(t, "h.json", hyperfineJSON)
	wantSamples(t, metric(t, s, "hyperfine sl", "s"), KindTime, false, 0.0129, 0.0131, 0.0128)
	wantSamples(t, metric(t, s, "hyperfine sl cpu", "s"), KindCPU, false, 0.001)
	wantSamples(t, metric(t, s, "hyperfine true", "s"), KindTime, false, 0, 0.0006)
	wantSamples(t, metric(t, s, "hyperfine true memory", "B"), KindMemory, false, 1000, 2000)
	wantSamples(t, metric(t, s, "hyperfine old", "s"), KindTime, false, 0.5) // no times: the mean
	if s.Len() != 6 {
		t.Errorf("%d metrics, want 6:\n%s", s.Len(), s)
	}
}

func TestHyperfineNotRecognised(t *testing.T) {
	for _, in := range []string{
		`{"results": []}`,
		`{"results": [{"command": "x"}]}`,
		`{"results": [{"command": "x", "times": []}]}`,
		`{"results": [{"times": [1]}]}`,
		`{"results": "no"}`,
		`{"other": 1}`,
		`[1, 2]`,
		`{"results": [{"command": "x", "times": [1]`,
	} {
		s := NewSet()
		if ok, err := ParseData("h", []byte(in), s); ok || err != nil || s.Len() != 0 {
			t.Errorf("ParseData(%s) = %v, %v, %d metrics; want not recognised", in, ok, err, s.Len())
		}
	}
}

// A real hyperfine run: the samples are the JSON's times, and their mean
// is the mean hyperfine reports.
func TestHyperfineReal(t *testing.T) {
	hf := needTool(t, "hyperfine")
	out := filepath.Join(t.TempDir(), "h.json")
	const runs = 5
	cmd := exec.Command(hf, "--runs", "5", "--style", "none", "--export-json", out, "-n", "nap", "sleep 0.01")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hyperfine: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Results []struct {
			Mean, User, System float64
		}
	}
	if err := json.Unmarshal(data, &raw); err != nil || len(raw.Results) != 1 {
		t.Fatalf("hyperfine's JSON: %v\n%s", err, data)
	}
	s := mustParse(t, "h.json", string(data))
	m := metric(t, s, "hyperfine nap", "s")
	if len(m.Samples) != runs {
		t.Fatalf("%d samples, want %d runs", len(m.Samples), runs)
	}
	var sum float64
	for _, v := range m.Samples {
		// hyperfine subtracts the shell's start-up, measured apart: a run
		// may come out a little under the 10 ms slept.
		if v < 0.005 || v > 1 {
			t.Errorf("sample %v s of sleep 0.01 is out of [0.005, 1]", v)
		}
		sum += v
	}
	if mean := sum / runs; !near(mean, raw.Results[0].Mean, 1e-9) {
		t.Errorf("mean of the samples %v, hyperfine says %v", mean, raw.Results[0].Mean)
	}
	wantSamples(t, metric(t, s, "hyperfine nap cpu", "s"), KindCPU, false, raw.Results[0].User+raw.Results[0].System)
}
