package gate

import (
	"strings"
	"testing"
)

func TestSimpleJSON(t *testing.T) {
	s := mustParse(t, "r.json", `{"perfprobe_results": 1, "results": [
		{"name": "checkout p99", "unit": "s", "kind": "latency", "samples": [0.012, 0.013]},
		{"name": "orders", "unit": "req/s", "kind": "throughput", "samples": [100]},
		{"name": "queue depth", "samples": [3, 4, 5]},
		{"name": "score", "unit": "pts", "higher_is_better": true, "samples": [7]},
		{"name": "errors", "unit": "count", "kind": "throughput", "higher_is_better": false, "samples": [1]}]}`)
	wantSamples(t, metric(t, s, "checkout p99", "s"), KindLatency, false, 0.012, 0.013)
	wantSamples(t, metric(t, s, "orders", "req/s"), KindThroughput, true, 100)
	wantSamples(t, metric(t, s, "queue depth", ""), KindOther, false, 3, 4, 5)
	wantSamples(t, metric(t, s, "score", "pts"), KindOther, true, 7)
	wantSamples(t, metric(t, s, "errors", "count"), KindThroughput, false, 1)
}

func TestSimpleJSONErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"perfprobe_results": 2, "results": []}`:                                               "version 2",
		`{"perfprobe_results": 1, "results": []}`:                                               "no results",
		`{"perfprobe_results": 1, "results": [{"name": "", "samples": [1]}]}`:                   "no name",
		`{"perfprobe_results": 1, "results": [{"name": "a", "kind": "speed", "samples": [1]}]}`: `unknown kind "speed"`,
		`{"perfprobe_results": 1, "results": [{"name": "a", "samples": []}]}`:                   "no samples",
		`{"perfprobe_results": 1, "results": [{"name": "a", "samples": ["1"]}]}`:                "does not match",
		`{"perfprobe_results": "one", "results": []}`:                                           "does not match",
		`{"perfprobe_results": 1, "results": [{"name": "a", "samples": [1e999]}]}`:              "does not match",
	} {
		s := NewSet()
		ok, err := ParseData("r.json", []byte(in), s)
		if ok || err == nil || !strings.Contains(err.Error(), want) || s.Len() != 0 {
			t.Errorf("ParseData(%s) = %v, %v, %d metrics; want an error with %q", in, ok, err, s.Len(), want)
		}
	}
}
