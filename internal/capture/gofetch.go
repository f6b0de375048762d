package capture

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/profile/fetch"
)

// GoFetch is a fetch of the Go profiles running beside the eBPF capture:
// started with StartGoFetch, waited on with Wait. A nil *GoFetch fetches
// nothing; its methods work and return nothing.
type GoFetch struct {
	stop  context.CancelFunc
	done  chan *fetch.Result
	found chan string // one line for the user once the endpoint is found
	ended chan struct{}
}

// isGoBinary reports whether pid runs a Go program (its build information
// is readable, stripped binaries included).
func isGoBinary(pid int) bool {
	_, err := buildinfo.ReadFile(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil
}

// StartGoFetch finds the pprof endpoint of pid and fetches its profiles
// for window (0: until stopped) in the background. It returns nil when
// there is nothing to fetch.
func StartGoFetch(pid int, window time.Duration, o GoOptions) *GoFetch {
	if o.Skip || len(o.Kinds) == 0 {
		return nil
	}
	discover := o.Discover
	if o.URL == "" && (!discover || !isGoBinary(pid)) {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &GoFetch{stop: cancel, done: make(chan *fetch.Result, 1), found: make(chan string, 1), ended: make(chan struct{})}
	cost := ""
	if slices.Contains(o.Kinds, "cpu") || slices.Contains(o.Kinds, "wall") {
		cost = " (the Go CPU profiler and fgprof slow the target by ~5-15% while they run)"
	}
	go func() {
		defer close(f.ended)
		opt := fetch.Options{URL: o.URL, Insecure: o.Insecure, Kinds: o.Kinds, Delta: o.Delta, OwnConn: o.ownConn}
		// An open-ended window loses the chunk in flight when it ends:
		// keep chunks short when the end is unknown, shortest for a
		// command that may be brief.
		if window == 0 {
			opt.Chunk = 5 * time.Second
			if !discover {
				opt.Chunk = 2 * time.Second
			}
		}
		// run starts the command with the probes: its endpoint comes up
		// a little later, so keep trying for a while.
		retryUntil := time.Now()
		if !discover {
			retryUntil = retryUntil.Add(10 * time.Second)
		}
		for {
			ep, err := fetch.Discover(ctx, pid, opt)
			if err == nil {
				f.found <- fmt.Sprintf("fetching the Go runtime's %s profiles from %s over the window%s", strings.Join(o.Kinds, ","), ep.Base, cost)
				f.done <- fetch.Fetch(ctx, ep, window, opt)
				return
			}
			if ctx.Err() != nil || time.Now().After(retryUntil) {
				f.done <- &fetch.Result{Skipped: []string{"Go profiles skipped: " + err.Error()}}
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return f
}

// Found delivers the line announcing the endpoint; nil when there is no
// fetch, so a select on it blocks forever.
func (f *GoFetch) Found() <-chan string {
	if f == nil {
		return nil
	}
	return f.found
}

// Ended is closed once the fetch is over: its endpoint not found, or its
// window fetched; nil when there is no fetch.
func (f *GoFetch) Ended() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.ended
}

// Wait returns the fetch's result: right away when the window ended early
// (the chunks already fetched are kept), or after a short grace when it
// ended on time (EndDuration) and the last request is just finishing.
// Called once.
func (f *GoFetch) Wait(cause string) *fetch.Result {
	if f == nil {
		return nil
	}
	grace := 5 * time.Second
	if cause != EndDuration {
		grace = 0
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case r := <-f.done:
		f.stop()
		return r
	case <-timer.C:
	}
	f.stop()
	return <-f.done
}

// cancel stops the fetch without waiting for it.
func (f *GoFetch) cancel() {
	if f != nil {
		f.stop()
	}
}
