package profile

// goIdleFrames are Go runtime functions that, on a blocked thread's stack,
// mean the thread is an idle M: it has no goroutine to run (findRunnable,
// stopm), is the runtime's monitor (sysmon, templateThread), or is a locked
// thread waiting for its goroutine (stoplockedm). Goroutines that block on
// channels, locks or timers do not block threads, so for a Go program this
// time says "nothing to do", not "waiting on something". The sched probe
// files a locked thread's wait under its locked goroutine's own stack
// (where the goroutine waits: program time), so stoplockedm is left only
// where it could not (a Go version whose runtime layout is unknown).
//
// A thread in the scheduler between goroutines (schedule, and the paths
// that hand the current goroutine back first: park_m, goschedImpl,
// goexit0, exitsyscall0) is idle too: whatever it blocks on there (the
// runtime's sched.lock, in lock2) no goroutine of the program waits for.
// Go 1.26's lock2 can leave such a thread asleep for a whole capture
// window in an idle program (seen: 2.98 of 3.01 s, in wakep from
// goschedImpl), which read as a thread waiting for a lock 99% of its time.
var goIdleFrames = map[string]bool{
	"runtime.findRunnable":   true,
	"runtime.stopm":          true,
	"runtime.sysmon":         true,
	"runtime.templateThread": true,
	"runtime.stoplockedm":    true,
	"runtime.schedule":       true,
	"runtime.park_m":         true,
	"runtime.goschedImpl":    true,
	"runtime.goexit0":        true,
	"runtime.exitsyscall0":   true,
}

// GoRuntimeIdle reports whether a stack (as from Frames) is a Go runtime
// thread idling.
func GoRuntimeIdle(frames []string) bool {
	for _, f := range frames {
		if goIdleFrames[f] {
			return true
		}
	}
	return false
}
