package capture_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// spinJS spins in one JavaScript function, hot enough for V8 to compile
// it (and write it to the perf map) within a fraction of a second.
const spinJS = `function spin(n) { let s = 0; for (let i = 0; i < n; i++) s += Math.sqrt(i) * Math.sin(i); return s; }
let t = 0; for (;;) t += spin(100000);`

// TestNodePerfMap profiles node --perf-basic-prof spinning in spin() with
// the cpu probe: the JavaScript function must be named, through the perf
// map, in at least half of the target's on-CPU time (the rest is V8's
// compiler and GC threads and Math builtins called from spin).
func TestNodePerfMap(t *testing.T) {
	bpftest.Require(t)
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_TOOLS") == "1" {
			t.Fatal("node is not installed and PERFPROBE_REQUIRE_TOOLS=1 (apt-get install nodejs)")
		}
		t.Skip("node is not installed (apt-get install nodejs)")
	}
	cmd := exec.Command(node, "--perf-basic-prof", "-e", spinJS)
	cmd.Dir = t.TempDir() // V8 writes isolate-*-v8.log files there
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	mapPath := fmt.Sprintf("/tmp/perf-%d.map", pid)
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.Remove(mapPath)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(mapPath)
		if strings.Contains(string(b), "spin") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not name spin after 10s (%d bytes)", mapPath, len(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, err := probes.OpenTarget(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	o := capture.FromConfig(probes.Config{Probes: []string{"cpu"}})
	o.Duration = 2 * time.Second
	s, err := capture.Start(target, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := s.Stop(s.Wait(t.Context(), nil, ""))
	p := res.Profile
	i := profile.ValueIndex(p, profile.TypeOnCPU)
	if i < 0 {
		t.Fatal("no oncpu sample type")
	}
	var total, spin, js int64
	name := ""
	for _, smp := range p.Sample {
		v := smp.Value[i]
		total += v
		for _, f := range profile.Frames(smp) {
			if strings.Contains(f, "spin") {
				spin += v
				name = f
				break
			}
		}
		for _, l := range smp.Location {
			if l.Mapping != nil && l.Mapping.File == "[js]" {
				js += v
				break
			}
		}
	}
	if total == 0 {
		t.Fatal("no on-CPU time captured")
	}
	checkV8Names(t, p, node)
	share := float64(spin) / float64(total)
	t.Logf("spin (%q) in %.1f%% of node's on-CPU time, [js] frames in %.1f%% (%s total)", name, 100*share, 100*float64(js)/float64(total), time.Duration(total))
	if share < 0.5 {
		t.Errorf("spin named in %.1f%% of the on-CPU time, want >= 50%%", 100*share)
	}
	if js < spin {
		t.Errorf("[js] mapping on %s of samples, less than spin's %s: JIT frames not labelled", time.Duration(js), time.Duration(spin))
	}
}

// checkV8Names checks that V8's C++ frames are demangled: node's binary
// (Debian's keeps its .symtab; one with .dynsym only exports too few V8
// functions to expect one) names some frame in the V8 namespace, with its
// parameters, and no frame of any mapping is a mangled "_Z" name.
func checkV8Names(t *testing.T, p *pprof.Profile, node string) {
	t.Helper()
	bin, err := filepath.EvalSymlinks(node)
	if err != nil {
		t.Fatal(err)
	}
	var v8, fromNode, mangled []string
	seen := map[string]bool{}
	for _, l := range p.Location {
		for _, ln := range l.Line {
			name := ln.Function.Name
			if seen[name] {
				continue
			}
			seen[name] = true
			if strings.HasPrefix(name, "_Z") {
				mangled = append(mangled, name)
			}
			if l.Mapping == nil || l.Mapping.File != bin {
				continue
			}
			fromNode = append(fromNode, name)
			if strings.HasPrefix(name, "v8::") && strings.Contains(name, "(") && ln.Function.SystemName != name && strings.HasPrefix(ln.Function.SystemName, "_ZN") {
				v8 = append(v8, name)
			}
		}
	}
	if len(fromNode) == 0 {
		t.Fatalf("no frame in node's binary %s", bin)
	}
	t.Logf("%d functions of node's binary named; %d in v8::, e.g. %q", len(fromNode), len(v8), v8[:min(3, len(v8))])
	if len(v8) == 0 && hasSymtab(t, bin) {
		t.Errorf("no demangled v8:: function among node's frames %q", fromNode[:min(20, len(fromNode))])
	}
	if len(mangled) > 0 {
		t.Errorf("mangled names left: %q", mangled[:min(10, len(mangled))])
	}
}

func hasSymtab(t *testing.T, path string) bool {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, _ := ef.Symbols()
	return len(syms) > 0
}
