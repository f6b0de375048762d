package gate

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

const benchText = `goos: linux
goarch: amd64
pkg: example.com/hash
cpu: Some CPU
BenchmarkSum/size=1k-8         	 1000000	      1200 ns/op	 853.33 MB/s	      16 B/op	       1 allocs/op
BenchmarkSum/size=1k-8         	 1000000	      1300 ns/op	 787.69 MB/s	      16 B/op	       1 allocs/op
BenchmarkSum/size=1k-8         	 1000000	      1250 ns/op	 819.20 MB/s	      16 B/op	       1 allocs/op	 3.5 widgets/op	 7 hits/s
BenchmarkPlain-8               	    5000	    250000 ns/op
some log line the reader ignores
PASS
ok  	example.com/hash	3.1s
`

func TestGoBench(t *testing.T) {
	s := mustParse(t, "bench.txt", benchText)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "sec/op"), KindTime, false, 1200e-9, 1300e-9, 1250e-9)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "B/s"), KindThroughput, true, 853.33e6, 787.69e6, 819.20e6)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "B/op"), KindMemory, false, 16, 16, 16)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "allocs/op"), KindMemory, false, 1, 1, 1)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "widgets/op"), KindOther, false, 3.5)
	wantSamples(t, metric(t, s, "BenchmarkSum/size=1k", "hits/s"), KindThroughput, true, 7)
	wantSamples(t, metric(t, s, "BenchmarkPlain", "sec/op"), KindTime, false, 250000e-9)
	if s.Len() != 7 {
		t.Errorf("%d metrics, want 7:\n%s", s.Len(), s)
	}
}

// Base and head measured with different GOMAXPROCS still match; a file
// that mixes GOMAXPROCS (-cpu 1,2) keeps them apart.
func TestGoBenchProcs(t *testing.T) {
	base := mustParse(t, "base", "BenchmarkA/x-4 10 100 ns/op\nBenchmarkB-4 10 200 ns/op\n")
	head := mustParse(t, "head", "BenchmarkA/x-16 10 110 ns/op\nBenchmarkB-16 10 190 ns/op\n")
	for _, n := range []string{"BenchmarkA/x", "BenchmarkB"} {
		metric(t, base, n, "sec/op")
		metric(t, head, n, "sec/op")
	}
	mixed := mustParse(t, "mixed", "BenchmarkA-1 10 100 ns/op\nBenchmarkA-2 10 60 ns/op\n")
	wantSamples(t, metric(t, mixed, "BenchmarkA-1", "sec/op"), KindTime, false, 100e-9)
	wantSamples(t, metric(t, mixed, "BenchmarkA-2", "sec/op"), KindTime, false, 60e-9)
	// GOMAXPROCS=1 prints no suffix.
	one := mustParse(t, "one", "BenchmarkA 10 100 ns/op\n")
	wantSamples(t, metric(t, one, "BenchmarkA", "sec/op"), KindTime, false, 100e-9)
}

// Two packages with a benchmark of the same name stay apart.
func TestGoBenchPackages(t *testing.T) {
	s := mustParse(t, "all", "pkg: a\nBenchmarkX-2 10 100 ns/op\npkg: b\nBenchmarkX-2 10 300 ns/op\n")
	wantSamples(t, metric(t, s, "a BenchmarkX", "sec/op"), KindTime, false, 100e-9)
	wantSamples(t, metric(t, s, "b BenchmarkX", "sec/op"), KindTime, false, 300e-9)
}

func TestGoBenchNotRecognised(t *testing.T) {
	for _, in := range []string{"", "hello\nworld\n", "BenchmarkX-2 notanumber 100 ns/op\n", "BenchmarkX 10\n", "PASS\nok x 1s\n"} {
		s := NewSet()
		if ok, err := ParseData("x", []byte(in), s); ok || err != nil || s.Len() != 0 {
			t.Errorf("ParseData(%q) = %v, %v, %d metrics; want not recognised", in, ok, err, s.Len())
		}
	}
}

func TestGoBenchNotFinite(t *testing.T) {
	for _, in := range []string{"BenchmarkX 1 NaN ns/op\n", "BenchmarkX 1 +Inf ns/op\n"} {
		s := NewSet()
		if ok, err := ParseData("x", []byte(in), s); ok || err == nil || s.Len() != 0 {
			t.Errorf("ParseData(%q) = %v, %v, %d metrics; want an error", in, ok, err, s.Len())
		}
	}
}

// A real go test -bench run: every printed ns/op is one sample, in seconds.
func TestGoBenchReal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test -bench")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	cmd := exec.Command(goTool, "test", "-bench", ".", "-count", "3", "-run", "^$", "-benchtime", "2000x", "./benchtiny")
	cmd.Dir = "testdata"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -bench: %v\n%s", err, out)
	}
	s := mustParse(t, "bench.txt", string(out))
	lines := regexp.MustCompile(`(?m)^(BenchmarkTiny/n=\d+)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`).FindAllStringSubmatch(string(out), -1)
	if len(lines) != 6 {
		t.Fatalf("%d result lines printed, want 6 (2 sub-benchmarks × 3):\n%s", len(lines), out)
	}
	want := map[string][]float64{}
	for _, l := range lines {
		v, _ := strconv.ParseFloat(l[2], 64)
		want[l[1]] = append(want[l[1]], v*1e-9)
	}
	for name, vs := range want {
		wantSamples(t, metric(t, s, name, "sec/op"), KindTime, false, vs...)
	}
	if s.Len() != 6 {
		t.Errorf("%d metrics, want 6 (sec/op, B/op, allocs/op of 2 sub-benchmarks):\n%s", s.Len(), s)
	}
}
