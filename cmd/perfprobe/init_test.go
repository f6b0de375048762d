package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/plugins/bottlenecks"
)

// perfprobe init: writes perfprobe.yaml, says so, and refuses a second
// time with one clear line; appends to PERFORMANCE.md when there is one.
func TestInitCommand(t *testing.T) {
	dir := t.TempDir()
	r := perfprobe(t, nil, "init", "--dir", dir)
	path := filepath.Join(dir, "perfprobe.yaml")
	if r.code != 0 || r.stdout != "wrote "+path+": uncomment and edit the examples; perfprobe checks every capture against them\n" {
		t.Fatalf("init: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != bottlenecks.Starter() {
		t.Errorf("perfprobe.yaml: %v\n%s", err, b)
	}
	r = perfprobe(t, nil, "init", "--dir", dir)
	if r.code != 1 || r.stderr != "perfprobe: "+path+" already exists (perfprobe reads it before PERFORMANCE.md)\n" {
		t.Errorf("second init: %d %q", r.code, r.stderr)
	}

	dir = t.TempDir()
	md := filepath.Join(dir, "PERFORMANCE.md")
	if err := os.WriteFile(md, []byte("# Performance\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = perfprobe(t, func(c *exec.Cmd) { c.Dir = dir }, "init")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "appended a ```perfprobe block to PERFORMANCE.md:") {
		t.Errorf("init beside PERFORMANCE.md: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if l, err := bottlenecks.Load(md); err != nil || l.Path != md {
		t.Errorf("PERFORMANCE.md after init: %v", err)
	}
	if r := perfprobe(t, nil, "init", "--help"); r.code != 0 || !strings.Contains(r.stdout, "perfprobe init --dir services/upload") {
		t.Errorf("init --help: %q", r.stdout)
	}
}
