package probes_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/probes"
)

// The probes' feature checks read tracepoints and struct members from the
// kernel's BTF; a hand-made BTF file stands for a kernel that has exactly
// what it declares. No root needed.
func TestKernelFromBTF(t *testing.T) {
	path := bpftest.FakeBTF(t,
		map[string]int{"sched_switch": 4, "block_rq_complete": 3, "sys_enter": 2},
		map[string][]string{"task_struct": {"pid", "tgid", "__state"}})
	t.Setenv("PERFPROBE_BTF_PATH", path)
	k, err := probes.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := probes.ReadKernel(); err != nil || again != k {
		t.Errorf("second ReadKernel = %p, %v; want the same %p, read once per BTF path", again, err, k)
	}
	if k.Release == "" {
		t.Error("no kernel release")
	}
	for _, c := range []struct {
		name string
		args int
		want bool
	}{
		{"sched_switch", 4, true},
		{"sched_switch", 3, false}, // an older layout: the program is written for another one
		{"block_rq_complete", 3, true},
		{"sys_enter", 2, true},
		{"block_io_start", 1, false}, // not declared: Linux before 6.5
		{"sched_wakeup", 1, false},
	} {
		if got := k.Tracepoint(c.name, c.args); got != c.want {
			t.Errorf("Tracepoint(%q, %d) = %v, want %v", c.name, c.args, got, c.want)
		}
	}
	for _, c := range []struct {
		st, field string
		want      bool
	}{
		{"task_struct", "__state", true},
		{"task_struct", "pid", true},
		{"task_struct", "state", false}, // renamed to __state in 5.14
		{"mm_struct", "pgd", false},
	} {
		if got := k.HasField(c.st, c.field); got != c.want {
			t.Errorf("HasField(%q, %q) = %v, want %v", c.st, c.field, got, c.want)
		}
	}

	// Another BTF path is another kernel.
	t.Setenv("PERFPROBE_BTF_PATH", bpftest.FakeBTF(t, map[string]int{"sched_switch": 3}, nil))
	k2, err := probes.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k2 == k || k2.Tracepoint("sched_switch", 4) || !k2.Tracepoint("sched_switch", 3) {
		t.Errorf("a second BTF file was not read on its own: same kernel %v, sched_switch(4) %v, sched_switch(3) %v",
			k2 == k, k2.Tracepoint("sched_switch", 4), k2.Tracepoint("sched_switch", 3))
	}
}

// Without BTF (no file, or not BTF) every way in says ErrNoBTF and how to
// provide it.
func TestNoBTF(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "not-btf")
	if err := os.WriteFile(garbage, []byte("this is not BTF"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/nonexistent/vmlinux", "CONFIG_DEBUG_INFO_BTF"},
		{garbage, "parsing " + garbage},
	} {
		t.Setenv("PERFPROBE_BTF_PATH", c.path)
		if _, err := probes.LoadOptions(); !errors.Is(err, probes.ErrNoBTF) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadOptions with %s: %v; want ErrNoBTF saying %q", c.path, err, c.want)
		}
		if _, err := probes.ReadKernel(); !errors.Is(err, probes.ErrNoBTF) {
			t.Errorf("ReadKernel with %s: %v; want ErrNoBTF", c.path, err)
		}
	}
}
