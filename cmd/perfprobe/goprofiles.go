package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	pp "github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// goOptions are the flags for fetching the Go runtime's own profiles.
type goOptions struct {
	skip     bool
	url      string
	insecure bool
	kinds    []string
}

func (o *goOptions) bind(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&o.skip, "no-go-profiles", false, "do not fetch the Go runtime's profiles (pprof CPU, fgprof wall clock, mutex, block, goroutines)")
	f.StringVar(&o.url, "pprof-url", "", what)
	f.BoolVar(&o.insecure, "pprof-insecure", false, "do not verify the TLS certificate of --pprof-url")
	f.StringSliceVar(&o.kinds, "go-profiles", fetch.KindNames,
		"Go profiles to fetch: cpu (costs the target ~5%), wall (fgprof, ~10%: it samples every goroutine 99 times a second), mutex, block, goroutine")
}

func (o *goOptions) validate() error {
	if err := fetch.CheckKinds(o.kinds); err != nil {
		return fmt.Errorf("--go-profiles: %w", err)
	}
	return nil
}

// goFetch is a fetch of the Go profiles running beside the eBPF capture.
type goFetch struct {
	cancel context.CancelFunc
	done   chan *fetch.Result
	found  chan string // one line for the user once the endpoint is found
}

// isGoBinary reports whether pid runs a Go program (its build information
// is readable, stripped binaries included).
func isGoBinary(pid int) bool {
	_, err := buildinfo.ReadFile(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil
}

// startGoFetch finds the target's pprof endpoint and fetches its profiles
// for window (0: until stopped) in the background. It returns nil when
// there is nothing to fetch.
func startGoFetch(pid int, window time.Duration, o goOptions, discover bool) *goFetch {
	if o.skip || len(o.kinds) == 0 {
		return nil
	}
	if o.url == "" && (!discover || !isGoBinary(pid)) {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &goFetch{cancel: cancel, done: make(chan *fetch.Result, 1), found: make(chan string, 1)}
	cost := ""
	if slices.Contains(o.kinds, "cpu") || slices.Contains(o.kinds, "wall") {
		cost = " (the Go CPU profiler and fgprof slow the target by ~5-15% while they run; --no-go-profiles skips them)"
	}
	go func() {
		opt := fetch.Options{URL: o.url, Insecure: o.insecure, Kinds: o.kinds}
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
				f.found <- fmt.Sprintf("fetching the Go runtime's %s profiles from %s over the window%s", strings.Join(o.kinds, ","), ep.Base, cost)
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

// foundNote delivers the line announcing the endpoint; nil when there is
// no fetch, so a select on it blocks forever.
func (f *goFetch) foundNote() <-chan string {
	if f == nil {
		return nil
	}
	return f.found
}

// wait returns the fetch's result: right away after a cancel (an early
// stop keeps the chunks already fetched), or after a short grace when the
// window ended on time and the last request is just finishing.
func (f *goFetch) wait(cause string) *fetch.Result {
	if f == nil {
		return nil
	}
	grace := 5 * time.Second
	if cause != "duration" {
		grace = 0
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case r := <-f.done:
		f.cancel()
		return r
	case <-timer.C:
	}
	f.cancel()
	return <-f.done
}

// mergeGo merges the eBPF profile with the fetched Go profiles, saves the
// raw Go profiles beside it, and returns the merged profile (p itself when
// nothing was fetched) and the Go section of capture.json.
func mergeGo(p *profile.Profile, res *fetch.Result, dir string, files map[string]string) (*profile.Profile, *pp.GoReport) {
	if res == nil {
		return p, nil
	}
	gr := &pp.GoReport{Endpoint: res.Endpoint, CoveredSeconds: res.Covered.Seconds(), Skipped: append([]string{}, res.Skipped...), Types: []string{}}
	parts := []pp.Part{}
	if p != nil {
		parts = append(parts, pp.Part{Profile: p, Source: pp.SourceEBPF})
	}
	for _, g := range []struct {
		kind string
		prof *profile.Profile
	}{{"cpu", res.CPU}, {"wall", res.Wall}, {"mutex", res.Mutex}, {"block", res.Block}, {"goroutine", res.Goroutine}} {
		if g.prof == nil || len(g.prof.Sample) == 0 {
			continue // nothing happened of that kind: no type to add
		}
		name := "go-" + g.kind + ".pb.gz"
		if err := writeFile(filepath.Join(dir, name), g.prof.Write); err != nil {
			gr.Skipped = append(gr.Skipped, err.Error())
		} else {
			files["go_"+g.kind] = name
		}
		part, err := pp.GoPart(g.kind, g.prof)
		if err != nil {
			gr.Skipped = append(gr.Skipped, err.Error())
			continue
		}
		parts = append(parts, part)
		for _, t := range part.Types {
			gr.Types = append(gr.Types, t)
		}
	}
	if len(gr.Types) == 0 {
		return p, gr
	}
	merged, err := pp.Merge(parts...)
	if err != nil {
		gr.Skipped = append(gr.Skipped, "merging the Go profiles: "+err.Error())
		return p, gr
	}
	gr.Consistency = pp.CheckConsistency(merged, 10)
	gr.WallByGoroutine = pp.WallByGoroutine(merged, 20)
	return merged, gr
}
