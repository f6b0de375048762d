package gate

import (
	"math"
	"testing"
)

// FuzzParseData: any input is recognised or not, or a clear error, never a
// panic; what is recognised has finite samples.
func FuzzParseData(f *testing.F) {
	for _, seed := range []string{
		benchText, wrkLatencyText, wrkPlainText, hyperfineJSON,
		`{"perfprobe_results": 1, "results": [{"name": "a", "samples": [1]}]}`,
		`{"schema": 1, "window": {}, "probes": [], "histograms": {"x": {"count": 1, "buckets": [{"low_ns": 5, "high_ns": 6, "count": 1}]}}}`,
		"Running 1s test @ http://h/\n  Latency Distribution\n     50%  1.0us\nRequests/sec: 1\n",
		"", "{", "BenchmarkX-2 1 1 ns/op",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSet()
		ok, err := ParseData("fuzz", data, s)
		if !ok && s.Len() != 0 {
			t.Fatalf("not recognised (err %v) but %d metrics added", err, s.Len())
		}
		for _, m := range s.List() {
			for _, v := range m.Samples {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s: sample %v", m.Key(), v)
				}
			}
		}
	})
}
