package blockedio_test

import (
	"math"
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

// A Go server whose handler appends a record and fsyncs it, 1,800 times
// in 6 s: the goroutines move between five threads, so no thread waits
// more than 3% of the window, but main.persistRecord spends 1.6 s of its
// 2.0 s of go_wall in the write and the fsync: a warning (critical would
// need 20% of one thread's window, 1.2 s of fsync; it has 1.0 s). The
// process's 20,000 write calls are mostly its sockets', so the counts do
// not show fsync on every write; the function that both writes and fsyncs
// does.
func TestGoFsyncPerRequest(t *testing.T) {
	const stack = "main.persistRecord;main.handleWrite;net/http.HandlerFunc.ServeHTTP;net/http.(*conn).serve;runtime.goexit"
	c := plugintest.Capture(6*time.Second, "sched", "iostall")
	c.Counts["syscall_fsync_calls"], c.Counts["syscall_write_calls"] = 1800, 20000
	c.Histograms["syscall_fsync"] = plugintest.Hist(1800, 800e3)
	c.Histograms["block_254_0_target"] = plugintest.Hist(3600, 200e3)
	ss := []plugintest.S{
		{Type: profile.TypeGoWall, Stack: "syscall.Syscall;syscall.Fsync;internal/poll.(*FD).Fsync;os.(*File).Sync;" + stack, Value: 1500e6},
		{Type: profile.TypeGoWall, Stack: "syscall.Syscall;syscall.write;internal/poll.(*FD).Write;os.(*File).Write;" + stack, Value: 100e6},
		{Type: profile.TypeGoWall, Stack: "runtime.gopark;runtime.semacquire1;sync.(*Mutex).Lock;" + stack, Value: 400e6},
		{Type: profile.TypeGoWall, Stack: "runtime.gopark;internal/poll.runtime_pollWait;net/http.(*connReader).Read;net/http.(*conn).serve;runtime.goexit", Value: 30e9},
	}
	for tid := int64(11); tid <= 15; tid++ {
		c.Threads[uint32(tid)] = &profile.Thread{TID: uint32(tid), Name: "server", UninterruptibleNs: 60e6}
		ss = append(ss,
			plugintest.S{Type: profile.TypeIOWait, Stack: "internal/runtime/syscall/linux.Syscall6;syscall.Syscall;syscall.Fsync;internal/poll.(*FD).Fsync;os.(*File).Sync;" + stack, Value: 200e6, TID: tid,
				Labels: map[string]string{"syscall": "fsync", "thread": "server"}},
			plugintest.S{Type: profile.TypeIOWait, Stack: "internal/runtime/syscall/linux.Syscall6;syscall.Syscall;syscall.write;internal/poll.(*FD).Write;os.(*File).Write;" + stack, Value: 10e6, TID: tid,
				Labels: map[string]string{"syscall": "write", "thread": "server"}},
			plugintest.S{Type: profile.TypeOffCPUUninterruptible, Stack: "folio_wait_writeback_[k];file_write_and_wait_range_[k];ext4_sync_file_[k];do_fsync_[k];internal/runtime/syscall/linux.Syscall6;syscall.Syscall;syscall.Fsync;internal/poll.(*FD).Fsync;os.(*File).Sync;" + stack, Value: 60e6, TID: tid})
	}
	p := plugintest.Profile(append(types, profile.TypeGoWall), ss...)
	f := plugintest.One(t, "blocked-io", &plugins.Evidence{Capture: c, Profile: p})
	if f == nil {
		t.Fatal("no finding")
	}
	// 1.6 s in syscalls of 2.0 s through it.
	if f.Severity != plugins.Warning || math.Abs(f.Share-0.8) > 1e-9 || f.Key[0] != "main.persistRecord" {
		t.Errorf("severity %s (score %d) share %v key %v, want warning 0.8 main.persistRecord", f.Severity, f.Score, f.Share, f.Key)
	}
	if want := "fsync on every write: main.persistRecord waits for the disk 80% of its time (1800 fsyncs)"; f.Title != want {
		t.Errorf("title %q, want %q", f.Title, want)
	}
	if got := plugintest.Figure(t, *f, "thread_share"); math.Abs(got-100*0.2/6) > 1e-9 {
		t.Errorf("thread share %v%%, want 3.3%%", got)
	}
	if !strings.Contains(f.Advice, "fsync once") || len(f.Stacks) == 0 || f.Confidence.Level != "high" {
		t.Errorf("advice %q stacks %v confidence %+v", f.Advice, f.Stacks, f.Confidence)
	}

	// The same function waiting 250 ms in 6 s (4% of one thread): kept
	// at info.
	c.Threads = map[uint32]*profile.Thread{}
	small := plugintest.Profile(append(types, profile.TypeGoWall),
		plugintest.S{Type: profile.TypeGoWall, Stack: "syscall.Syscall;syscall.Fsync;os.(*File).Sync;" + stack, Value: 250e6},
		plugintest.S{Type: profile.TypeIOWait, Stack: "syscall.Syscall;syscall.Fsync;os.(*File).Sync;" + stack, Value: 125e6, TID: 11, Labels: map[string]string{"syscall": "fsync"}},
		plugintest.S{Type: profile.TypeIOWait, Stack: "syscall.Syscall;syscall.Fsync;os.(*File).Sync;" + stack, Value: 125e6, TID: 12, Labels: map[string]string{"syscall": "fsync"}})
	if f := plugintest.One(t, "blocked-io", &plugins.Evidence{Capture: c, Profile: small}); f != nil && f.Severity > plugins.Info {
		t.Errorf("250 ms of fsync in 6 s: [%s] %s", f.Severity, f.Title)
	}
}
