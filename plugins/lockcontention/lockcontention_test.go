package lockcontention_test

import (
	"math"
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
// profile names the holder. The worker's locked thread waits for it: as an
// idle Go thread, or (the sched probe's attribution from g.sched) under
// the goroutine's own parked stack, a little longer than fgprof counted:
// either way the finding is the goroutines'.
func TestGoMutex(t *testing.T) {
	for name, thread := range map[string]plugintest.S{
		"idle thread":              {Type: profile.TypeOffCPUBlocked, Stack: "futex_wait_[k];runtime.futex;runtime.futexsleep;runtime.notesleep;runtime.stoplockedm;runtime.park_m", Value: 1500e6, TID: 11},
		"locked goroutine's stack": {Type: profile.TypeOffCPUBlocked, Stack: goLock, Value: 1520e6, TID: 11},
	} {
		t.Run(name, func(t *testing.T) { testGoMutex(t, thread) })
	}
}

func testGoMutex(t *testing.T, thread plugintest.S) {
	c := plugintest.Capture(3*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeGoWall, profile.TypeGoMutexDelay},
		plugintest.S{Type: profile.TypeGoWall, Stack: goLock, Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "main.spin;main.worker;runtime.goexit", Value: 1500e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;time.Sleep;main.holder;runtime.goexit", Value: 3000e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;runtime.semacquire1;sync.runtime_SemacquireWaitGroup;sync.(*WaitGroup).Wait;main.main;runtime.main", Value: 3000e6},
		plugintest.S{Type: profile.TypeGoMutexDelay, Stack: "sync.(*Mutex).Unlock;main.holder;runtime.goexit", Value: 1400e6},
		thread,
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

// A handler's lock in a server: net/http.(*conn).serve runs every
// handler, so main.lockedWork's 400 ms of waiting is 1% of the group's
// wall time, but 25% of main.lockedWork's own (1.6 s through it): a
// warning that names main.lockedWork, with the group's share beside it.
// main.persistRecord waits 300 ms in go_wall and 450 ms in the block
// profile (which records every wait): the larger counts, 450 ms of its
// 2.15 s, its own warning. main.flush waits 100% of its time, but only
// 50 ms: nothing.
func TestHandlerLock(t *testing.T) {
	const serve = ";main.main.func1;net/http.HandlerFunc.ServeHTTP;net/http.(*ServeMux).ServeHTTP;net/http.serverHandler.ServeHTTP;net/http.(*conn).serve;runtime.goexit"
	const lock = "runtime.gopark;runtime.goparkunlock;runtime.semacquire1;internal/sync.runtime_SemacquireMutex;internal/sync.(*Mutex).lockSlow;internal/sync.(*Mutex).Lock;sync.(*Mutex).Lock;"
	c := plugintest.Capture(6*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeOnCPU, profile.TypeGoWall, profile.TypeGoMutexDelay, profile.TypeGoBlockDelay},
		plugintest.S{Type: profile.TypeGoWall, Stack: lock + "main.lockedWork;main.handleLock" + serve, Value: 400e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "main.lockedWork;main.handleLock" + serve, Value: 1200e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: lock + "main.persistRecord;main.handleWrite" + serve, Value: 300e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "syscall.Syscall;syscall.Fsync;os.(*File).Sync;main.persistRecord;main.handleWrite" + serve, Value: 1700e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: lock + "main.flush;main.handleFlush" + serve, Value: 50e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;internal/poll.runtime_pollWait;net/http.(*connReader).Read;bufio.(*Reader).fill" + serve[strings.Index(serve, ";net/http.(*conn).serve"):], Value: 30e9},
		plugintest.S{Type: profile.TypeGoBlockDelay, Stack: "sync.(*Mutex).Lock;main.lockedWork;main.handleLock" + serve, Value: 250e6},
		plugintest.S{Type: profile.TypeGoBlockDelay, Stack: "sync.(*Mutex).Lock;main.persistRecord;main.handleWrite" + serve, Value: 450e6},
		plugintest.S{Type: profile.TypeGoMutexDelay, Stack: "sync.(*Mutex).Unlock;main.lockedWork;main.handleLock" + serve, Value: 300e6},
		plugintest.S{Type: profile.TypeGoMutexDelay, Stack: "sync.(*Mutex).Unlock;main.persistRecord;main.handleWrite" + serve, Value: 500e6},
	)
	st, fs := plugintest.Run(t, "lock-contention", &plugins.Evidence{Capture: c, Profile: p, Go: &profile.GoReport{}})
	if len(fs) != 2 {
		t.Fatalf("findings %+v (%+v)", fs, st)
	}
	byKey := map[string]plugins.Finding{}
	for _, f := range fs {
		byKey[f.Key[0]] = f
	}
	f, ok := byKey["main.lockedWork"]
	if !ok {
		t.Fatalf("no finding keyed main.lockedWork: %+v", fs)
	}
	if f.Severity != plugins.Warning || f.Share != 0.25 {
		t.Errorf("severity %s share %v, want warning 0.25 (400 ms of 1.6 s)", f.Severity, f.Share)
	}
	if f.Title != "main.lockedWork waits for a lock 25% of its time (goroutines net/http.(*conn).serve: 2% of theirs)" {
		t.Errorf("title %q", f.Title)
	}
	if got := plugintest.Figure(t, f, "caller_mutex_delay_ns"); got != 300e6 {
		t.Errorf("mutex delay at main.lockedWork's unlocks %v, want 300 ms", got)
	}
	if !strings.Contains(f.Detail, "sampled") || !strings.Contains(f.Detail, "most by main.lockedWork, which held the lock") || f.Confidence.Level != "high" {
		t.Errorf("detail %q confidence %+v", f.Detail, f.Confidence)
	}
	g := byKey["main.persistRecord"]
	// 450 ms of waiting (the block profile's) over 2.0 s - 300 ms + 450 ms.
	if want := 450.0 / 2150; g.Severity != plugins.Warning || math.Abs(g.Share-want) > 1e-9 {
		t.Errorf("main.persistRecord: severity %s share %v, want warning %v", g.Severity, g.Share, want)
	}
	if fs[0].Score < fs[1].Score {
		t.Errorf("findings not ranked: %d before %d", fs[0].Score, fs[1].Score)
	}
}

// A function that does nothing but lock waits all its time: 300 ms of it
// in 6 s (5% of the window) is a warning, not critical, which needs 20%
// of the window.
func TestLockWrapper(t *testing.T) {
	c := plugintest.Capture(6*time.Second, "cpu", "sched")
	p := plugintest.Profile([]string{profile.TypeGoWall},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;runtime.semacquire1;sync.(*Mutex).Lock;main.lockCache;main.serve;runtime.goexit", Value: 300e6},
		plugintest.S{Type: profile.TypeGoWall, Stack: "runtime.gopark;internal/poll.runtime_pollWait;main.serve;runtime.goexit", Value: 20e9})
	f := plugintest.One(t, "lock-contention", &plugins.Evidence{Capture: c, Profile: p})
	if f == nil || f.Severity != plugins.Warning || f.Score != plugins.ScoreCritical-1 || f.Share != 1 || f.Key[0] != "main.lockCache" {
		t.Fatalf("finding %+v, want a warning at 79 for main.lockCache's 100%%", f)
	}
}
