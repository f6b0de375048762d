// Package fetch gets a Go target's own runtime profiles over HTTP while
// perfprobe's eBPF probes capture it. Discover finds the target's
// net/http/pprof endpoint by itself: it reads the target's listening TCP
// sockets from /proc (in the target's network namespace, entering it when
// the target lives in another one), probes each port for a pprof index over
// plain HTTP and then TLS, and notes whether fgprof is served. Fetch then
// collects, over the capture window, the CPU profile, fgprof's wall-clock
// profile, mutex and block delta profiles, a closing goroutine snapshot
// and, when asked, the heap profile of the window (from godeltaprof's
// delta handlers when the caller prefers them and the target serves them),
// in chunks so that an interrupted capture keeps what was complete. Every
// problem with the target's answers (refused connections, timeouts, TLS,
// redirects, HTTP errors, garbage, a target that exits) becomes one line in
// Result.Skipped rather than an error: the Go profiles are an addition to
// the eBPF capture, never a reason to lose it.
package fetch
