package gate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"meta.json":            `{"machine": "ci-1", "cpus": 4}`,
		"bench/run1.txt":       "BenchmarkA-4 10 100 ns/op\n",
		"bench/run2.txt":       "BenchmarkA-4 10 120 ns/op\n",
		"wrk.out":              wrkPlainText,
		"notes.md":             "# nothing to see\n",
		"core":                 "\x7fELF\x00\x00binary",
		".git/x.txt":           "BenchmarkHidden 10 1 ns/op\n",
		"sub/.hidden.txt":      "BenchmarkHidden 10 1 ns/op\n",
		"sub/deep/meta.json":   `{"machine": "not the top"}`,
		"sub/deep/simple.json": `{"perfprobe_results": 1, "results": [{"name": "x", "samples": [1]}]}`,
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta == nil || s.Meta.Machine != "ci-1" || s.Meta.CPUs != 4 {
		t.Errorf("meta %+v, want ci-1 with 4 CPUs", s.Meta)
	}
	wantFiles := []string{"bench/run1.txt", "bench/run2.txt", "sub/deep/simple.json", "wrk.out"}
	wantSkipped := []string{"core: binary", "notes.md: not a result file", "sub/deep/meta.json: not a result file"}
	if !slices.Equal(s.Files, wantFiles) || !slices.Equal(s.Skipped, wantSkipped) {
		t.Errorf("files %q skipped %q; want %q and %q", s.Files, s.Skipped, wantFiles, wantSkipped)
	}
	wantSamples(t, metric(t, s, "BenchmarkA", "sec/op"), KindTime, false, 100e-9, 120e-9)
	wantSamples(t, metric(t, s, "x", ""), KindOther, false, 1)
	metric(t, s, "wrk /", "req/s")
	if m := s.Metrics["BenchmarkHidden sec/op"]; m != nil {
		t.Errorf("a hidden file was read: %v", m.Sources)
	}
	if src := metric(t, s, "BenchmarkA", "sec/op").Sources; !slices.Equal(src, []string{"bench/run1.txt", "bench/run2.txt"}) {
		t.Errorf("sources %q", src)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"b.txt": "BenchmarkA 10 100 ns/op\n", "n.txt": "hello\n"})
	s, err := Load(filepath.Join(dir, "b.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantSamples(t, metric(t, s, "BenchmarkA", "sec/op"), KindTime, false, 100e-9)
	if len(s.Files) != 1 {
		t.Errorf("files %q", s.Files)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"empty/notes.md": "hello\n",
		"n.txt":          "hello\n",
		"bad/r.json":     `{"perfprobe_results": 3}`,
		"big/x.txt":      "BenchmarkA 10 100 ns/op\n",
	})
	if err := os.Truncate(filepath.Join(dir, "big/x.txt"), maxFile+1); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"missing":    "no such file",
		"empty":      "has no result file (gate reads Go benchmark text",
		"n.txt":      "not a result file; gate reads Go benchmark text",
		"bad":        "perfprobe_results version 3",
		"big":        "has no result file",
		"big/x.txt":  "larger than 64 MiB",
		"bad/r.json": "reading " + filepath.Join(dir, "bad/r.json"),
	} {
		_, err := Load(filepath.Join(dir, path))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%s) = %v; want one line with %q", path, err, want)
		}
	}
}

func TestIsBinary(t *testing.T) {
	long := strings.Repeat("é", 8192) // 2 bytes a rune: 8 KiB ends inside one or not
	for in, want := range map[string]bool{
		"text\n": false, "a\x00b": true, "\xff\xfe": true, long: false, long[:8193]: false,
	} {
		if got := isBinary([]byte(in)); got != want {
			t.Errorf("isBinary(%.10q...) = %v, want %v", in, got, want)
		}
	}
}
