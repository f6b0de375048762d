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
var goIdleFrames = map[string]bool{
	"runtime.findRunnable":   true,
	"runtime.stopm":          true,
	"runtime.sysmon":         true,
	"runtime.templateThread": true,
	"runtime.stoplockedm":    true,
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
