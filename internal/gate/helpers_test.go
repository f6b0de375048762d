package gate

import (
	"math"
	"os"
	"os/exec"
	"testing"
)

// mustParse parses data that must be recognised.
func mustParse(t *testing.T, name, data string) *Set {
	t.Helper()
	s := NewSet()
	ok, err := ParseData(name, []byte(data), s)
	if err != nil || !ok {
		t.Fatalf("ParseData(%s) = %v, %v; want recognised", name, ok, err)
	}
	return s
}

// metric returns the metric name/unit of s, failing the test without it.
func metric(t *testing.T, s *Set, name, unit string) *Metric {
	t.Helper()
	m := s.Metrics[name+" "+unit]
	if m == nil {
		t.Fatalf("no metric %q [%s]; have:\n%s", name, unit, s)
	}
	return m
}

// wantSamples checks a metric's kind, direction and samples (relative
// tolerance 1e-9).
func wantSamples(t *testing.T, m *Metric, kind Kind, higher bool, want ...float64) {
	t.Helper()
	if m.Kind != kind || m.HigherIsBetter != higher {
		t.Errorf("%s: kind %s higher %v, want %s %v", m.Key(), m.Kind, m.HigherIsBetter, kind, higher)
	}
	if len(m.Samples) != len(want) {
		t.Fatalf("%s: samples %v, want %v", m.Key(), m.Samples, want)
	}
	for i, v := range want {
		if !near(m.Samples[i], v, 1e-9) {
			t.Errorf("%s: sample %d = %v, want %v", m.Key(), i, m.Samples[i], v)
		}
	}
}

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}

// needTool returns the tool's path, skipping the test when it is missing
// unless PERFPROBE_REQUIRE_TOOLS=1.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed and PERFPROBE_REQUIRE_TOOLS=1 (apt-get install %s)", name, name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return p
}
