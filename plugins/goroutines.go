package plugins

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/profile"
)

// GoroutineShare is the part of one group of goroutines' wall time (Go's
// go_wall, from fgprof) that a set of stacks accounts for: goroutines are
// grouped by the function they started at, as capture.json's
// wall_by_goroutine groups them.
type GoroutineShare struct {
	Entry string // the goroutines' start function, e.g. main.worker
	Value int64  // their wall time in the matched stacks, ns
	Wall  int64  // their whole wall time, ns
	Share float64
	// Stacks are the group's matched stacks with most wall time, leaf
	// first, at most 3.
	Stacks [][]string
}

// FgprofHz is fgprof's sampling rate: go_wall's nanoseconds over the
// window's 1e9/99 are its samples (fgprof's stacks come aggregated, so
// their count says nothing).
const FgprofHz = 99

// WallSamples estimates the fgprof samples behind ns of go_wall time.
func WallSamples(ns int64) int64 { return ns * FgprofHz / int64(time.Second) }

// GoroutineShares splits the go_wall stacks that keep returns true for
// (frames leaf first) by goroutine group, most matched wall first. The
// goroutines serving the profile requests (net/http/pprof, fgprof) are
// left out: they are perfprobe's own doing.
func (ev *Evidence) GoroutineShares(keep func(frames []string) bool) []GoroutineShare {
	ev.index()
	if ev.Profile == nil {
		return nil
	}
	j := profile.ValueIndex(ev.Profile, profile.TypeGoWall)
	if j < 0 {
		return nil
	}
	type group struct {
		GoroutineShare
		stacks map[uint64]int64
		frames map[uint64][]string
	}
	groups := map[string]*group{}
	var rootFirst []string // reused: GoroutineEntry keeps no reference
	for i, s := range ev.Profile.Sample {
		v := s.Value[j]
		if v == 0 {
			continue
		}
		frames := ev.samples[i].frames
		if profile.IsProfilerStack(frames) {
			continue
		}
		rootFirst = rootFirst[:0]
		for x := len(frames) - 1; x >= 0; x-- {
			if !strings.HasSuffix(frames[x], "_[k]") {
				rootFirst = append(rootFirst, frames[x])
			}
		}
		entry := profile.GoroutineEntry(rootFirst)
		if entry == "" {
			continue
		}
		g := groups[entry]
		if g == nil {
			g = &group{GoroutineShare: GoroutineShare{Entry: entry}, stacks: map[uint64]int64{}, frames: map[uint64][]string{}}
			groups[entry] = g
		}
		g.Wall += v
		if keep(frames) {
			g.Value += v
			k := ev.samples[i].stack
			g.stacks[k] += v
			g.frames[k] = frames
		}
	}
	var out []GoroutineShare
	for _, g := range groups {
		if g.Value == 0 {
			continue
		}
		g.Share = float64(g.Value) / float64(g.Wall)
		keys := make([]uint64, 0, len(g.stacks))
		for k := range g.stacks {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, b int) bool {
			if g.stacks[keys[a]] != g.stacks[keys[b]] {
				return g.stacks[keys[a]] > g.stacks[keys[b]]
			}
			return slices.Compare(g.frames[keys[a]], g.frames[keys[b]]) < 0
		})
		for _, k := range keys[:min(3, len(keys))] {
			g.Stacks = append(g.Stacks, g.frames[k])
		}
		out = append(out, g.GoroutineShare)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Value != out[b].Value {
			return out[a].Value > out[b].Value
		}
		return out[a].Entry < out[b].Entry
	})
	return out
}
