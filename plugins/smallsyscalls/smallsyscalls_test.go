package smallsyscalls_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/smallsyscalls"
	"github.com/perfprobe/perfprobe/profile"
)

// capture is 3 s of a C program whose emit_record writes 8 bytes at a
// time: writes calls, 1.2 s of its 2.4 s of CPU inside them.
func capture(writes, bytesEach uint64) *plugins.Evidence {
	c := plugintest.Capture(3*time.Second, "cpu", "iostall")
	c.Counts["syscall_write_calls"], c.Counts["syscall_write_bytes"] = writes, writes*bytesEach
	c.Counts["syscall_read_calls"], c.Counts["syscall_read_bytes"] = 30, 30*8
	c.Histograms["syscall_write"] = plugintest.Hist(int(min(writes, 10000)), 100e3)
	p := plugintest.Profile([]string{profile.TypeOnCPU},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "ext4_buffered_write_iter_[k];vfs_write_[k];ksys_write_[k];x64_sys_call_[k];do_syscall_64_[k];entry_SYSCALL_64_after_hwframe_[k];__GI___libc_write;emit_record;write_phase;main", Value: 1000e6, Count: 100},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "syscall_exit_to_user_mode_[k];do_syscall_64_[k];entry_SYSCALL_64_after_hwframe_[k];__GI___libc_write;emit_record;write_phase;main", Value: 200e6, Count: 20},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "spin;main", Value: 1200e6, Count: 120},
	)
	return &plugins.Evidence{Capture: c, Profile: p}
}

// 300,000 writes of 8 bytes in 3 s, half the CPU in them: critical, from
// emit_record; the 30 reads are too few to matter.
func TestSmallWrites(t *testing.T) {
	st, fs := plugintest.Run(t, "small-syscalls", capture(300000, 8))
	if len(fs) != 1 {
		t.Fatalf("findings %+v (%+v)", fs, st)
	}
	f := fs[0]
	if f.Severity != plugins.Critical || f.Share != 0.5 || f.Title != "8-byte writes, 100,000 a second: 50% of CPU time in them from emit_record" {
		t.Errorf("severity %s share %v title %q", f.Severity, f.Share, f.Title)
	}
	for name, want := range map[string]float64{"calls": 300000, "calls_per_s": 100000, "mean_bytes": 8, "cpu_share": 50} {
		if got := plugintest.Figure(t, f, name); got != want {
			t.Errorf("figure %s = %v, want %v", name, got, want)
		}
	}
	if len(f.Stacks) != 2 || !strings.Contains(f.Advice, "setvbuf") || f.Confidence.Level != "high" {
		t.Errorf("stacks %v advice %q confidence %s", f.Stacks, f.Advice, f.Confidence.Level)
	}
}

// Large writes, or few small ones, are no finding.
func TestNotSmall(t *testing.T) {
	for _, c := range []struct {
		name        string
		calls, each uint64
	}{{"4 KiB writes", 300000, 4096}, {"2,000 small writes in 3 s", 2000, 8}} {
		if st, fs := plugintest.Run(t, "small-syscalls", capture(c.calls, c.each)); len(fs) != 0 || st.Status != plugins.StatusOK {
			t.Errorf("%s: %+v %+v", c.name, fs, st)
		}
	}
}

// The iostall probe's programs run inside every traced call, where
// on-CPU sampling cannot see: their time, shared out by calls, counts
// as time in the calls.
func TestProbeCostCounted(t *testing.T) {
	ev := capture(300000, 8)
	ev.Capture.SelfCost.BPFPrograms = map[string]uint64{"iostall/handle_syscall_enter": 300_030_000, "iostall/handle_syscall_exit": 300_030_000, "cpu/handle_cpu_sample": 5e6}
	_, fs := plugintest.Run(t, "small-syscalls", ev)
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	// 600.06 ms of probe time over 300,030 calls: 600 ms in the writes.
	if got := plugintest.Figure(t, fs[0], "probe_ns"); got != 600e6 {
		t.Errorf("probe time %v ns, want 600 ms", got)
	}
	if fs[0].Share != 0.6 {
		t.Errorf("share %v, want (1.2 s + 0.6 s) / (2.4 s + 0.6 s) = 0.6", fs[0].Share)
	}
}
