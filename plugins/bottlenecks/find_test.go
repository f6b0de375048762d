package bottlenecks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	yamlList = "plugins: [from-yaml]\n"
	mdList   = "# Perf\n\n```perfprobe\nplugins: [from-md]\n```\n"
)

// Find: explicit, then perfprobe.yaml, then PERFORMANCE.md's blocks;
// nothing (no error) when there is none.
func TestFindPrecedence(t *testing.T) {
	dir := t.TempDir()
	from := func(explicit string) string {
		t.Helper()
		l, err := Find(explicit, dir)
		if err != nil {
			t.Fatalf("Find(%q): %v", explicit, err)
		}
		if l == nil {
			return "none"
		}
		return l.Plugins[0] + " " + filepath.Base(l.Path)
	}
	if got := from(""); got != "none" {
		t.Errorf("empty dir: %s", got)
	}
	write(t, filepath.Join(dir, MarkdownFile), "# Perf\n\nNo block here.\n\n```yaml\nplugins: [not-ours]\n```\n")
	if got := from(""); got != "none" {
		t.Errorf("PERFORMANCE.md without a perfprobe block: %s", got)
	}
	write(t, filepath.Join(dir, MarkdownFile), mdList)
	if got := from(""); got != "from-md PERFORMANCE.md" {
		t.Errorf("PERFORMANCE.md: %s", got)
	}
	write(t, filepath.Join(dir, YAMLFile), yamlList)
	if got := from(""); got != "from-yaml perfprobe.yaml" {
		t.Errorf("perfprobe.yaml beside PERFORMANCE.md: %s", got)
	}
	other := filepath.Join(t.TempDir(), "slo.yml")
	write(t, other, "plugins: [explicit]\n")
	if got := from(other); got != "explicit slo.yml" {
		t.Errorf("explicit: %s", got)
	}

	// An explicit file that is missing or bad is an error; so is a bad
	// file found in the directory.
	if _, err := Find(filepath.Join(dir, "missing.yaml"), dir); err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file") {
		t.Errorf("missing explicit: %v", err)
	}
	write(t, other, "plugins: [a]\nslo: []\n")
	if _, err := Find(other, dir); err == nil || err.Error() != other+`:2: unknown key "slo" at the top level: did you mean slos?` {
		t.Errorf("bad explicit: %v", err)
	}
	write(t, filepath.Join(dir, YAMLFile), "plugins: a\n")
	if _, err := Find("", dir); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, YAMLFile)+":1: plugins: want a list") {
		t.Errorf("bad perfprobe.yaml: %v", err)
	}
}

// Init writes perfprobe.yaml in a directory without PERFORMANCE.md, and
// appends a block to PERFORMANCE.md when there is one; a second Init is an
// error either way, and what Init wrote is what Find reads.
func TestInit(t *testing.T) {
	dir := t.TempDir()
	path, err := Init(dir)
	if err != nil || path != filepath.Join(dir, YAMLFile) {
		t.Fatalf("Init on an empty dir: %q %v", path, err)
	}
	if b, _ := os.ReadFile(path); string(b) != Starter() {
		t.Errorf("perfprobe.yaml is not the starter:\n%s", b)
	}
	if l, err := Find("", dir); err != nil || l == nil || l.Path != path {
		t.Errorf("Find after Init: %+v %v", l, err)
	}
	if _, err := Init(dir); err == nil || err.Error() != path+" already exists (perfprobe reads it before PERFORMANCE.md)" {
		t.Errorf("second Init: %v", err)
	}

	dir = t.TempDir()
	md := filepath.Join(dir, MarkdownFile)
	const prose = "# Performance\n\n| SLO | target |\n|---|---|\n| p95 | 5 ms |" // no final newline
	write(t, md, prose)
	path, err = Init(dir)
	if err != nil || path != md {
		t.Fatalf("Init with PERFORMANCE.md: %q %v", path, err)
	}
	b, _ := os.ReadFile(md)
	if want := prose + "\n\n```perfprobe\n" + Starter() + "```\n"; string(b) != want {
		t.Errorf("PERFORMANCE.md after Init:\n%s", b)
	}
	if l, err := Find("", dir); err != nil || l == nil || l.Path != md {
		t.Errorf("Find after Init: %+v %v", l, err)
	}
	if _, err := Init(dir); err == nil || err.Error() != md+":7: already has a ```perfprobe block" {
		t.Errorf("second Init: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, YAMLFile)); err == nil {
		t.Error("Init wrote perfprobe.yaml beside PERFORMANCE.md")
	}
}

var errPrefix = regexp.MustCompile(`^PERFORMANCE\.md:[1-9][0-9]*: `)

// FuzzParse: no input panics, and every error starts with the file name and
// a line number.
func FuzzParse(f *testing.F) {
	for _, s := range []string{sampleYAML, sampleMD, Starter(), yamlList, mdList, "", "# nothing\n",
		"slos:\n  - {name: x, metric: 'share(/a,b/, oncpu)', min: 1%}\n",
		"bottlenecks:\n  - &e {name: a, category: gc, status: acceptable}\n  - *e\n",
		"```perfprobe\nslos: [\n```\n", "````\n```perfprobe\n````\n```perfprobe\nplugins: [x]\n",
		"slos:\n  - name: a\n    metric: rate(x)\n    max: 3/s\n---\nplugins: [b]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse("PERFORMANCE.md", data)
		if err != nil {
			if !errPrefix.MatchString(err.Error()) {
				t.Fatalf("error without file:line: %q", err)
			}
			return
		}
		if l == nil || l.Path != "PERFORMANCE.md" {
			t.Fatalf("no list and no error: %+v", l)
		}
	})
}
