package blockedio_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/blockedio"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

var types = []string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeOffCPUUninterruptible, profile.TypeIOWait}

// A thread that writes 64 bytes and fsyncs, 700 times in 3 s, waiting
// 1.45 s inside fsync: "fsync on every write", a warning at 48%, from
// the function that calls fsync.
func TestFsyncEveryWrite(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "sched", "iostall")
	c.Threads[5] = &profile.Thread{TID: 5, Name: "fsyncer", UninterruptibleNs: 1300e6, BlockedNs: 1400e6}
	c.Threads[6] = &profile.Thread{TID: 6, Name: "other", BlockedNs: 3000e6}
	c.Counts["syscall_fsync_calls"], c.Counts["syscall_pwrite64_calls"] = 700, 700
	c.Histograms["syscall_fsync"] = plugintest.Hist(700, 2e6)
	c.Histograms["syscall_pwrite64"] = plugintest.Hist(700, 3e3)
	c.Histograms["block_254_0_target"] = plugintest.Hist(1400, 500e3)
	p := plugintest.Profile(types,
		plugintest.S{Type: profile.TypeIOWait, Stack: "syscall.Syscall;syscall.Fsync;main.doFsync;main.fsyncs;main.main", Value: 1450e6, TID: 5,
			Labels: map[string]string{"syscall": "fsync", "thread": "fsyncer"}},
		plugintest.S{Type: profile.TypeOffCPUUninterruptible, Stack: "schedule_[k];jbd2_log_wait_commit_[k];ext4_sync_file_[k];syscall.Syscall;syscall.Fsync;main.doFsync", Value: 1300e6, TID: 5},
	)
	st, fs := plugintest.Run(t, "blocked-io", &plugins.Evidence{Capture: c, Profile: p})
	if len(fs) != 1 {
		t.Fatalf("findings %+v (%+v)", fs, st)
	}
	f := fs[0]
	if f.Severity != plugins.Warning || f.Share < 0.483 || f.Share > 0.484 {
		t.Errorf("severity %s share %v, want warning 1.45/3", f.Severity, f.Share)
	}
	if !strings.HasPrefix(f.Title, "fsync on every write: thread fsyncer (tid 5) waits for the disk 48% of the time (700 fsyncs for 700 writes)") || f.Key[0] != "main.doFsync" {
		t.Errorf("title %q key %v", f.Title, f.Key)
	}
	for name, want := range map[string]float64{"dstate_ns": 1300e6, "file_syscalls_ns": 1450e6, "syscall_fsync_ns": 1400e6, "fsyncs_per_write": 1} {
		if got := plugintest.Figure(t, f, name); got != want {
			t.Errorf("figure %s = %v, want %v", name, got, want)
		}
	}
	if !strings.Contains(f.Advice, "fsync once") || f.Confidence.Level != "high" || len(f.Stacks) != 1 {
		t.Errorf("advice %q confidence %s stacks %v", f.Advice, f.Confidence.Level, f.Stacks)
	}
}

// D state without the iostall probe: the D-state stacks prove it.
func TestDState(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "sched")
	c.Threads[9] = &profile.Thread{TID: 9, Name: "reader", UninterruptibleNs: 1800e6}
	p := plugintest.Profile(types,
		plugintest.S{Type: profile.TypeOffCPUUninterruptible, Stack: "io_schedule_[k];folio_wait_bit_[k];filemap_read_[k];read;load_index;main", Value: 1800e6, TID: 9})
	_, fs := plugintest.Run(t, "blocked-io", &plugins.Evidence{Capture: c, Profile: p})
	if len(fs) != 1 || fs[0].Severity != plugins.Critical || fs[0].Key[0] != "load_index" || !strings.HasSuffix(fs[0].Title, "(D state) from load_index") {
		t.Fatalf("findings %+v", fs)
	}
}

// A thread blocked in read(2) on a pipe waits for its peer, not for the
// disk: no finding.
func TestPipeReadIsNotIO(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "sched", "iostall")
	c.Threads[3] = &profile.Thread{TID: 3, Name: "sh", BlockedNs: 2900e6}
	c.Counts["syscall_read_calls"] = 3
	p := plugintest.Profile(types,
		plugintest.S{Type: profile.TypeIOWait, Stack: "read;readline;main", Value: 2900e6, TID: 3, Labels: map[string]string{"syscall": "read"}})
	if st, fs := plugintest.Run(t, "blocked-io", &plugins.Evidence{Capture: c, Profile: p}); len(fs) != 0 || st.Status != plugins.StatusOK {
		t.Errorf("pipe read: %+v %+v", fs, st)
	}
}
