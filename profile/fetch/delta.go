package fetch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// deltaPath is the name of godeltaprof's handler for k under the pprof
// directory (github.com/grafana/pyroscope-go/godeltaprof/http/pprof
// mounts them at /debug/pprof/delta_heap, delta_mutex and delta_block).
func deltaPath(k kind) string { return "delta_" + kindPath(k) }

// deltaKinds are the kinds godeltaprof serves.
var deltaKinds = []kind{kMutex, kBlock, kHeap}

// start prepares the window before its first chunk. With Options.Delta it
// reads each wanted delta handler once, so that the next read is the
// window's delta, and records in the Endpoint whether the target serves
// it (a 404 says no; any other failure leaves it unknown and this window
// uses net/http/pprof). It also takes the heap snapshot the window's heap
// profile is diffed against when delta_heap is not used.
func (f *fetcher) start(ctx context.Context, t *tally) {
	timeout := min(f.opt.slack(), 5*time.Second)
	var learnt [nKinds]*bool
	var wg sync.WaitGroup
	for _, k := range deltaKinds {
		if !f.opt.wanted(k) {
			continue
		}
		wg.Go(func() {
			if served, known := f.ep.Delta[AllKinds[k]]; f.opt.Delta && (served || !known) {
				_, fail := f.one(ctx, k, f.ep.Dir+deltaPath(k), timeout)
				switch {
				case fail == nil:
					f.delta[k], learnt[k] = true, new(true)
					return
				case fail.notFound:
					learnt[k] = new(false)
				}
			}
			if k != kHeap {
				return
			}
			p, fail := f.one(ctx, kHeap, f.ep.Dir+kindPath(kHeap), timeout)
			if fail != nil {
				if fail.cancelled {
					fail = &failure{cause: "the window ended before its starting snapshot"}
				}
				f.noteExit(fail, 0)
				t.failed[kHeap] = fail
				return
			}
			f.heapStart = p
		})
	}
	wg.Wait()
	for _, k := range deltaKinds {
		if learnt[k] != nil {
			if f.ep.Delta == nil {
				f.ep.Delta = map[string]bool{}
			}
			f.ep.Delta[AllKinds[k]] = *learnt[k]
		}
	}
}

// chunk fetches one chunk of k over secs seconds: a profile request that
// lasts that long, or, for a delta handler, a wait and then a read. The
// heap is read at the end of the window only: its chunks just wait.
func (f *fetcher) chunk(ctx context.Context, k kind, secs int, timeout time.Duration) (*profile.Profile, *failure) {
	if k != kHeap && !f.delta[k] {
		return f.one(ctx, k, f.url(k, secs), timeout)
	}
	tm := time.NewTimer(time.Duration(secs) * time.Second)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return nil, &failure{cancelled: true}
	case <-tm.C:
	}
	if k == kHeap {
		return nil, nil
	}
	return f.one(ctx, k, f.ep.Dir+deltaPath(k), f.opt.slack())
}

// heapEnd reads the heap at the end of the window: delta_heap's answer is
// the window's profile; net/http/pprof's is diffed against the snapshot
// taken at the start.
func (f *fetcher) heapEnd(ctx context.Context, timeout time.Duration) (*profile.Profile, *failure) {
	if f.delta[kHeap] {
		return f.one(ctx, kHeap, f.ep.Dir+deltaPath(kHeap), timeout)
	}
	end, fail := f.one(ctx, kHeap, f.ep.Dir+kindPath(kHeap), timeout)
	if fail != nil {
		return nil, fail
	}
	p, err := heapDiff(f.heapStart, end)
	if err != nil {
		return nil, &failure{cause: fmt.Sprintf("diffing the heap profiles of the window's start and end: %v", err)}
	}
	return p, nil
}

// heapDiff returns end with start's alloc_* values taken off: what was
// allocated between the two, and what was live at the end, as delta_heap
// answers. net/http/pprof's own delta form (heap?seconds=N) is not used
// because it diffs inuse_* too, which gives the change of the live heap
// (often negative) rather than the live heap.
func heapDiff(start, end *profile.Profile) (*profile.Profile, error) {
	base := start.Copy()
	for i, st := range base.SampleType {
		if strings.HasPrefix(st.Type, "inuse_") {
			for _, s := range base.Sample {
				s.Value[i] = 0
			}
		}
	}
	base.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{base, end})
	if err != nil {
		return nil, err
	}
	d.Sample = slices.DeleteFunc(d.Sample, func(s *profile.Sample) bool {
		return !slices.ContainsFunc(s.Value, func(v int64) bool { return v != 0 })
	})
	d = d.Compact()
	d.TimeNanos = end.TimeNanos
	if start.TimeNanos > 0 && end.TimeNanos > start.TimeNanos {
		d.DurationNanos = end.TimeNanos - start.TimeNanos
	}
	return d, d.CheckValid()
}
