package fetch

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// Result holds the Go profiles Fetch got from the target.
type Result struct {
	// Endpoint is the base URL used, without any password in it.
	Endpoint string
	// CPU is the CPU profile, Wall fgprof's wall-clock profile, Mutex and
	// Block the delta profiles over the window, Goroutine the snapshot taken
	// at its end. Each is nil when it was not fetched (see Skipped); the
	// chunked ones are merged.
	CPU, Wall, Mutex, Block, Goroutine *profile.Profile
	// Heap is the heap profile of the window: alloc_objects and
	// alloc_space count what was allocated from its start to its end (or
	// until it was interrupted), inuse_objects and inuse_space what was
	// live at its end. Like every heap profile it is as of the last
	// garbage collection before each end. Nil unless "heap" was asked.
	Heap *profile.Profile
	// Covered is how much of the window the CPU and wall-clock profiles
	// cover (the longer of the two): less than the window when it was
	// interrupted, since the chunk in flight is dropped.
	Covered time.Duration
	// Skipped has one line for each thing that was not fetched: what, why
	// and what to do. Failures that share a cause share a line.
	Skipped []string
}

// kind is one of the profiles Fetch gets.
type kind int

const (
	kCPU kind = iota
	kWall
	kMutex
	kBlock
	kGoroutine
	kHeap
	nKinds
)

// KindNames are the profiles fetched by default (Options.Kinds nil), in
// kind order: attach's defaults.
var KindNames = []string{"cpu", "wall", "mutex", "block", "goroutine"}

// AllKinds are all the names Options.Kinds takes, in kind order: KindNames
// and "heap", which only a caller that asks for it gets.
var AllKinds = []string{"cpu", "wall", "mutex", "block", "goroutine", "heap"}

// CheckKinds returns an error naming the first unknown kind.
func CheckKinds(kinds []string) error {
	for _, k := range kinds {
		if !slices.Contains(AllKinds, k) {
			return fmt.Errorf("unknown Go profile %q: choose from %s", k, strings.Join(AllKinds, ","))
		}
	}
	return nil
}

// wanted reports whether opt asks for kind k.
func (o Options) wanted(k kind) bool {
	if o.Kinds == nil {
		return slices.Contains(KindNames, AllKinds[k])
	}
	return slices.Contains(o.Kinds, AllKinds[k])
}

var kindInfo = [nKinds]struct {
	name string // as in "CPU profile"
	want string // sample type the answer must have
}{
	kCPU:       {"CPU", "cpu/nanoseconds"},
	kWall:      {"wall-clock", "time/nanoseconds"},
	kMutex:     {"mutex", "delay/nanoseconds"},
	kBlock:     {"block", "delay/nanoseconds"},
	kGoroutine: {"goroutine", "goroutine/count"},
	kHeap:      {"heap", "alloc_space/bytes"},
}

// failure is why one kind was not fetched.
type failure struct {
	cause     string
	down      bool // the endpoint's failure, not the handler's
	notFound  bool // 404
	cancelled bool // the window ended (ctx): not a failure
}

// fetcher makes the requests of one Fetch.
type fetcher struct {
	ep     *Endpoint
	opt    Options
	client *http.Client

	exitOnce sync.Once
	exited   bool

	// delta marks the kinds fetched from godeltaprof's handlers in this
	// window; heapStart is the heap snapshot the window's heap profile is
	// diffed against when delta_heap is not used.
	delta     [nKinds]bool
	heapStart *profile.Profile
}

// Fetch gets the target's Go profiles over a window that starts now. The
// CPU profile, fgprof's wall-clock profile and the mutex and block delta
// profiles are requested concurrently, in consecutive chunks of at most
// opt.Chunk, which are merged; a goroutine snapshot is taken at the end.
// The heap profile, when asked, is the difference between the heap
// profiles at the start and at the end of the window (see Result.Heap).
// With opt.Delta, the heap, mutex and block profiles come from
// godeltaprof's handlers when the target serves them (see Options.Delta
// and Endpoint.Delta).
// The handlers take whole seconds, so the window is rounded to whole
// seconds (at least one). A window of 0 is open-ended: chunks follow each other until ctx is
// cancelled. Cancelling ctx (Ctrl-C, the target exiting) ends the window
// early: completed chunks are kept, the one in flight is dropped, and
// Result.Covered says how much the profiles cover. Fetch never fails:
// whatever could not be fetched is a line in Result.Skipped.
func Fetch(ctx context.Context, ep *Endpoint, window time.Duration, opt Options) *Result {
	if ep == nil {
		return &Result{Skipped: []string{"Go profiles: no pprof endpoint"}}
	}
	f := &fetcher{ep: ep, opt: opt, client: opt.Client}
	if f.client == nil {
		f.client = newClient(ep, opt.OwnConn)
		defer f.client.CloseIdleConnections()
	}
	var t tally
	f.start(ctx, &t)
	var kinds []kind
	for _, k := range []kind{kCPU, kWall, kMutex, kBlock, kHeap} {
		if opt.wanted(k) && (k != kWall || ep.Fgprof != "") && t.failed[k] == nil {
			kinds = append(kinds, k)
		}
	}
	active := f.window(ctx, kinds, newPlan(window, opt.chunk()), &t)
	attempted := slices.Clone(kinds)
	for _, k := range []kind{kHeap, kGoroutine} {
		if opt.wanted(k) && !slices.Contains(attempted, k) {
			attempted = append(attempted, k)
		}
	}
	merged, offNotes := f.afterWindow(ctx, &t, active, attempted)

	res := &Result{
		Endpoint: redact(ep.Base),
		CPU:      merged[kCPU], Wall: merged[kWall], Mutex: merged[kMutex], Block: merged[kBlock], Goroutine: merged[kGoroutine],
		Heap:    merged[kHeap],
		Covered: t.coverage(),
	}
	if opt.wanted(kWall) && ep.Fgprof == "" && ep.FgprofNote != "" {
		res.Skipped = append(res.Skipped, kindInfo[kWall].name+" profile: "+ep.FgprofNote)
	}
	res.Skipped = append(res.Skipped, skipLines(t.failed, attempted, ep)...)
	if res.Covered == 0 && len(t.dropped) > 0 {
		res.Skipped = append(res.Skipped, fmt.Sprintf("%s profiles: the window ended before the first %ds chunk completed", names(t.dropped), t.droppedSecs))
	}
	res.Skipped = append(res.Skipped, offNotes...)
	return res
}

// tally is what the chunks of one Fetch brought.
type tally struct {
	chunks      [nKinds][]*profile.Profile
	covered     [nKinds]time.Duration
	failed      [nKinds]*failure
	dropped     []kind // cancelled in flight
	droppedSecs int    // the length of that chunk
}

// coverage is how much of the window the CPU or wall-clock chunks cover,
// or, when neither was fetched, the other kinds' chunks.
func (t *tally) coverage() time.Duration {
	if c := max(t.covered[kCPU], t.covered[kWall]); c > 0 {
		return c
	}
	return max(t.covered[kMutex], t.covered[kBlock], t.covered[kHeap])
}

// window fetches the chunks of the plan, all kinds of a chunk at once. A
// kind that fails is not asked again; window returns the kinds still being
// fetched when the plan ran out (none when the window was cancelled).
func (f *fetcher) window(ctx context.Context, active []kind, pl *plan, t *tally) []kind {
	for len(active) > 0 && ctx.Err() == nil {
		secs, ok := pl.next()
		if !ok {
			break
		}
		type outcome struct {
			p    *profile.Profile
			fail *failure
		}
		out := make([]outcome, len(active))
		timeout := time.Duration(secs)*time.Second + f.opt.slack()
		var wg sync.WaitGroup
		for i, k := range active {
			wg.Go(func() { out[i].p, out[i].fail = f.chunk(ctx, k, secs, timeout) })
		}
		wg.Wait()
		// A chunk is kept whole or not at all, so that all kinds cover the
		// same time: when the window ends while it is in flight, the kinds
		// that finished just before are dropped with the others.
		cancelled := slices.ContainsFunc(out, func(o outcome) bool { return o.fail != nil && o.fail.cancelled })
		var still []kind
		for i, k := range active {
			switch o := out[i]; {
			case cancelled && (o.fail == nil || o.fail.cancelled):
				t.dropped, t.droppedSecs = append(t.dropped, k), secs
			case o.fail == nil:
				if o.p != nil {
					t.chunks[k] = append(t.chunks[k], o.p)
				}
				t.covered[k] += time.Duration(secs) * time.Second
				still = append(still, k)
			default:
				f.noteExit(o.fail, t.coverage())
				t.failed[k] = o.fail
			}
		}
		if cancelled {
			return nil
		}
		active = still
	}
	return active
}

// afterWindow merges the chunks, takes the goroutine snapshot and tells
// empty mutex and block deltas with profiling off from those without
// contention. The window may have ended by cancellation, so its requests
// get a short deadline of their own.
func (f *fetcher) afterWindow(ctx context.Context, t *tally, active, attempted []kind) (merged [nKinds]*profile.Profile, offNotes []string) {
	timeout := min(f.opt.slack(), 5*time.Second)
	post, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var wg sync.WaitGroup
	down := allDown(t.failed, active, attempted)
	if !f.opt.wanted(kGoroutine) {
		// not asked for
	} else if down != nil {
		t.failed[kGoroutine] = down
	} else {
		wg.Go(func() {
			p, fail := f.one(post, kGoroutine, f.ep.Dir+"goroutine", timeout)
			if fail != nil {
				f.noteExit(fail, t.coverage())
				t.failed[kGoroutine] = fail
				return
			}
			merged[kGoroutine] = p
		})
	}
	switch {
	case !f.opt.wanted(kHeap) || t.failed[kHeap] != nil || slices.Contains(t.dropped, kHeap):
	case down != nil:
		t.failed[kHeap] = down
	default:
		wg.Go(func() {
			p, fail := f.heapEnd(post, timeout)
			if fail != nil {
				f.noteExit(fail, t.coverage())
				t.failed[kHeap] = fail
				return
			}
			merged[kHeap] = p
		})
	}
	for k := range kGoroutine {
		if len(t.chunks[k]) == 0 {
			continue
		}
		p, err := merge(t.chunks[k])
		if err != nil {
			t.failed[k] = &failure{cause: fmt.Sprintf("merging %d chunks: %v", len(t.chunks[k]), err)}
			continue
		}
		merged[k] = p
	}
	var off [nKinds]bool
	for _, k := range []kind{kMutex, kBlock} {
		if merged[k] == nil || len(merged[k].Sample) > 0 {
			continue
		}
		wg.Go(func() {
			// An empty delta is either no contention or profiling off; the
			// profile since the start tells them apart (the rate itself is
			// not in the profile).
			all, fail := f.one(post, k, f.ep.Dir+kindPath(k), timeout)
			off[k] = fail == nil && len(all.Sample) == 0
		})
	}
	wg.Wait()
	for _, k := range []kind{kMutex, kBlock} {
		if off[k] {
			merged[k] = nil
			offNotes = append(offNotes, offNote(k))
		}
	}
	return merged, offNotes
}

// allDown returns the failure that made every kind fail for the endpoint's
// reason (unreachable, not answering), if so: the goroutine snapshot is then
// not worth a request.
func allDown(failed [nKinds]*failure, active, attempted []kind) *failure {
	if len(active) > 0 {
		return nil
	}
	var first *failure
	for _, k := range attempted {
		if k == kGoroutine {
			continue
		}
		if k == kHeap && failed[k] == nil {
			continue // its request comes after the window
		}
		if failed[k] == nil || !failed[k].down {
			return nil
		}
		if first == nil {
			first = failed[k]
		}
	}
	return first
}

func offNote(k kind) string {
	if k == kMutex {
		return "mutex profile: no samples: mutex profiling is off in the target (runtime.SetMutexProfileFraction)"
	}
	return "block profile: no samples: block profiling is off in the target (runtime.SetBlockProfileRate)"
}

// skipLines turns failures into Skipped lines, one per distinct cause, in
// kind order.
func skipLines(failed [nKinds]*failure, attempted []kind, ep *Endpoint) []string {
	var n, notFound int
	for _, k := range attempted {
		if failed[k] != nil {
			n++
			if failed[k].notFound {
				notFound++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if notFound == len(attempted) {
		return []string{fmt.Sprintf("Go profiles: no pprof handlers at %s (404 for every profile): check --pprof-url", ep.Dir)}
	}
	var lines []string
	done := map[string]bool{}
	for _, k := range attempted {
		if failed[k] == nil || done[failed[k].cause] {
			continue
		}
		cause := failed[k].cause
		done[cause] = true
		var same []kind
		for _, j := range attempted {
			if failed[j] != nil && failed[j].cause == cause {
				same = append(same, j)
			}
		}
		switch {
		case len(same) == len(attempted):
			lines = append(lines, "Go profiles: "+cause)
		case len(same) == 1:
			lines = append(lines, names(same)+" profile: "+cause)
		default:
			lines = append(lines, names(same)+" profiles: "+cause)
		}
	}
	return lines
}

func names(ks []kind) string {
	var s []string
	for _, k := range ks {
		s = append(s, kindInfo[k].name)
	}
	return strings.Join(s, ", ")
}

func kindPath(k kind) string {
	switch k {
	case kCPU:
		return "profile"
	case kMutex:
		return "mutex"
	case kBlock:
		return "block"
	case kHeap:
		return "heap"
	}
	return "goroutine"
}

// url is where one chunk of k over secs seconds is fetched.
func (f *fetcher) url(k kind, secs int) string {
	s := strconv.Itoa(secs)
	if k == kWall {
		return f.ep.Fgprof + "?seconds=" + s + "&format=pprof"
	}
	return f.ep.Dir + kindPath(k) + "?seconds=" + s
}

// one fetches and checks one profile of kind k.
func (f *fetcher) one(ctx context.Context, k kind, u string, timeout time.Duration) (*profile.Profile, *failure) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := get(rctx, f.client, u, f.opt.bodyLimit())
	if err != nil {
		if ctx.Err() != nil {
			return nil, &failure{cancelled: true}
		}
		cause, down := transportCause(err, timeout)
		return nil, &failure{cause: cause, down: down}
	}
	path := u
	if pu, err := url.Parse(u); err == nil {
		path = pu.Path
	}
	if a.status == http.StatusNotFound {
		if k == kWall {
			return nil, &failure{notFound: true, cause: fmt.Sprintf("fgprof not served at %s (404): add fgprof.Handler() to the target to get wall-clock profiles", path)}
		}
		return nil, &failure{notFound: true, cause: fmt.Sprintf("not served at %s (404)", path)}
	}
	if a.status == http.StatusBadRequest && strings.Contains(string(a.body), "HTTPS server") {
		return nil, &failure{down: true, cause: fmt.Sprintf("%s serves HTTPS: use https://", a.url.Host)}
	}
	if a.status != http.StatusOK {
		return nil, &failure{cause: statusCause(a, path)}
	}
	p, err := parseProfileAnswer(a.body, a.header.Get("Content-Type"), f.opt.bodyLimit())
	if err != nil {
		return nil, &failure{cause: fmt.Sprintf("%s: %v", path, err)}
	}
	if !hasSampleType(p, kindInfo[k].want) {
		return nil, &failure{cause: fmt.Sprintf("%s: the profile has sample types %s, not %s (wrong handler?)",
			path, strings.Join(sampleTypes(p), ", "), kindInfo[k].want)}
	}
	return p, nil
}

// noteExit rewrites an endpoint failure as the target's exit when it is
// one, saying how much of the window the kept profiles cover.
func (f *fetcher) noteExit(fail *failure, covered time.Duration) {
	if !fail.down {
		return
	}
	f.exitOnce.Do(func() { f.exited = f.targetExited() })
	if f.exited {
		fail.cause = fmt.Sprintf("the target (pid %d) exited; the Go profiles cover %s of the window", f.ep.PID, covered)
	}
}

// targetExited waits briefly for the target to be gone: a process closes
// its sockets before it becomes a zombie, so a hang-up may come first.
func (f *fetcher) targetExited() bool {
	if f.ep.PID <= 0 {
		return false
	}
	for range 10 {
		if exited(f.ep.PID) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// merge merges the chunks of one kind and checks the result.
func merge(ps []*profile.Profile) (*profile.Profile, error) {
	if len(ps) == 1 {
		return ps[0], nil
	}
	p, err := profile.Merge(ps)
	if err != nil {
		return nil, err
	}
	return p, p.CheckValid()
}

// plan splits a window into whole-second requests (the pprof handlers and
// fgprof take integer seconds) of at most chunk each.
type plan struct {
	left, chunk int
	endless     bool
}

func newPlan(window, chunk time.Duration) *plan {
	p := &plan{chunk: max(1, int(math.Ceil(chunk.Seconds())))}
	if window <= 0 {
		p.endless = true
	} else {
		p.left = max(1, int(math.Round(window.Seconds())))
	}
	return p
}

// next returns the next chunk's length in seconds, or false at the end.
func (p *plan) next() (int, bool) {
	if p.endless {
		return p.chunk, true
	}
	if p.left <= 0 {
		return 0, false
	}
	n := min(p.left, p.chunk)
	p.left -= n
	return n, true
}
