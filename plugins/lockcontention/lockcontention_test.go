package lockcontention_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/lockcontention"
	"github.com/perfprobe/perfprobe/profile"
)

const goLock = "runtime.gopark;runtime.goparkunlock;runtime.semacquire1;sync.runtime_SemacquireMutex;internal/sync.(*Mutex).lockSlow;internal/sync.(*Mutex).Lock;sync.(*Mutex).Lock;main.lockPhase;main.worker;runtime.goexit"

// A Go worker that spends half its wall time in sync.(*Mutex).Lock, seen
// only by fgprof (the goroutine parks, no thread blocks); the main
// goroutine waits on a WaitGroup all along, which is no lock; the mutex
// profile names the holder.
func TestGoMutex(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeGoWall, profile.TypeGoMutexDelay},
		plugintest.S{Type: profile.TypeGoWall, Stack: goLock, Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "main.spin;main.worker;runtime.goexit", Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;time.Sleep;main.holder;runtime.goexit", Value: 3000e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;runtime.semacquire1;sync.runtime_SemacquireWaitGroup;sync.(*WaitGroup).Wait;main.main;runtime.main", Value: 3000e6},
		plugintest.S{Type: profile.TypeGoMutexDelay, Stack: "sync.(*Mutex).Unlock;main.holder;runtime.goexit", Value: 1400e6},
		// The worker's locked thread waits for it: an idle Go thread.
		plugintest.S{Type: profile.TypeOffCPUBlocked, Stack: "futex_wait_[k];runtime.futex;runtime.futexsleep;runtime.notesleep;runtime.stoplockedm;runtime.park_m", Value: 1500e6, TID: 11},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "main.spin;main.worker;runtime.goexit", Value: 1500e6, Count: 150},
	)
	st, fs := plugintest.Run(t, "lock-contention", &plugins.Evidence{Capture: c, Profile: p, Go: &profile.GoReport{}})
	if len(fs) != 1 {
		t.Fatalf("findings %+v (%+v)", fs, st)
	}
	f := fs[0]
	if f.Severity != plugins.Critical || f.Share != 0.5 || f.Key[0] != "main.lockPhase" {
		t.Errorf("severity %s share %v key %v, want critical 0.5 main.lockPhase", f.Severity, f.Share, f.Key)
	}
	if f.Title != "goroutines main.worker wait for a lock 50% of their time in main.lockPhase" {
		t.Errorf("title %q", f.Title)
	}
	if got := plugintest.Figure(t, f, "wait_ns"); got != 1500e6 {
		t.Errorf("wait %v", got)
	}
	if got := plugintest.Figure(t, f, "mutex_delay_ns"); got != 1400e6 {
		t.Errorf("mutex delay %v", got)
	}
	if !strings.Contains(f.Detail, "most by main.holder, which held the lock") {
		t.Errorf("detail %q names no holder", f.Detail)
	}
	if len(f.Stacks) != 2 || f.Stacks[0][6] != "sync.(*Mutex).Lock" || f.Stacks[1][1] != "main.holder" {
		t.Errorf("stacks %v, want the waiter's and the holder's", f.Stacks)
	}
	if !strings.HasPrefix(f.Query, "go tool pprof -sample_index=go_wall -focus=") || f.Confidence.Level != "high" {
		t.Errorf("query %q confidence %+v", f.Query, f.Confidence)
	}
}

// A C program: one thread blocked 1.2 s of 3 s in pthread_mutex_lock (a
// warning), another in pthread_cond_wait all along (waiting for work, not
// for a lock); mutex profiling does not apply.
func TestPthreadMutex(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeOffCPUBlocked},
		plugintest.S{Type: profile.TypeOffCPUBlocked, Stack: "schedule_[k];futex_wait_[k];do_futex_[k];__lll_lock_wait;pthread_mutex_lock;update_stats;worker", Value: 1200e6, TID: 7, Labels: map[string]string{"thread": "worker"}},
		plugintest.S{Type: profile.TypeOffCPUBlocked, Stack: "schedule_[k];futex_wait_[k];do_futex_[k];__futex_abstimed_wait_common;pthread_cond_wait;queue_pop;consumer", Value: 3000e6, TID: 8, Labels: map[string]string{"thread": "consumer"}},
		plugintest.S{Type: profile.TypeOnCPU, Stack: "update_stats;worker", Value: 1800e6, Count: 180, TID: 7},
	)
	_, fs := plugintest.Run(t, "lock-contention", &plugins.Evidence{Capture: c, Profile: p})
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Severity != plugins.Warning || f.Share != 0.4 || f.Key[0] != "update_stats" || !strings.HasPrefix(f.Title, "thread worker (tid 7) wait") {
		t.Errorf("severity %s share %v key %v title %q", f.Severity, f.Share, f.Key, f.Title)
	}
	if strings.Contains(f.Detail, "Mutex profiling") {
		t.Errorf("detail %q speaks of Go's mutex profiling for a C program", f.Detail)
	}
}

// Short lock waits, or none: no finding.
func TestNoContention(t *testing.T) {
	c := plugintest.Capture(3*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeGoWall},
		plugintest.S{Type: profile.TypeGoWall, Stack: goLock, Value: 30e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "main.spin;main.worker;runtime.goexit", Value: 2970e6})
	if st, fs := plugintest.Run(t, "lock-contention", &plugins.Evidence{Capture: c, Profile: p}); len(fs) != 0 || st.Status != plugins.StatusOK {
		t.Errorf("1%% of wall in a lock: %+v %+v", fs, st)
	}
}
