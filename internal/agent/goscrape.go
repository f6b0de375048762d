package agent

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// goScraper scrapes the Go runtime's profiles of Go targets on a duty
// cycle (GoConfig.Duration of every GoConfig.Every): a scrape runs beside
// the eBPF windows and its profiles join the window in which it ends.
type goScraper struct {
	cfg   GoConfig
	match *regexp.Regexp
	m     *metrics
	logf  func(string, ...any)
	own   fetch.ConnHook // told of each connection to a target (the current session's OwnConn)

	mu     sync.Mutex
	byPID  map[int]*goTarget
	wg     sync.WaitGroup
	cancel context.CancelFunc
	ctx    context.Context
}

// goTarget is one Go target's scraping state.
type goTarget struct {
	ep       *fetch.Endpoint
	lastTry  time.Time // discovery or scrape started
	running  bool
	done     *fetch.Result // finished, not yet taken by a window
	noted    bool          // its missing endpoint was logged
	scrapeAt time.Time
}

func newGoScraper(cfg GoConfig, m *metrics, logf func(string, ...any)) *goScraper {
	g := &goScraper{cfg: cfg, m: m, logf: logf, byPID: map[int]*goTarget{}}
	if cfg.Match != "" {
		g.match = regexp.MustCompile(cfg.Match)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

// rediscover is how long a target without an endpoint waits before it is
// looked for again (it may start serving one later).
const rediscover = 5 * time.Minute

// schedule starts the scrapes due among the live Go targets.
func (g *goScraper) schedule(ctx context.Context, targets []profile.Target, live map[int]bool) {
	if g == nil {
		return
	}
	now := time.Now()
	for _, t := range targets {
		if !live[t.PID] || t.Meta == nil || t.Meta.Language != "go" {
			continue
		}
		if g.match != nil && !g.match.MatchString(t.Comm) && !g.match.MatchString(baseName(t.Exe)) {
			continue
		}
		g.mu.Lock()
		st := g.byPID[t.PID]
		if st == nil {
			st = &goTarget{}
			g.byPID[t.PID] = st
		}
		due := !st.running && st.done == nil && (st.scrapeAt.IsZero() || now.Sub(st.scrapeAt) >= g.cfg.Every)
		if st.ep == nil && !st.lastTry.IsZero() && now.Sub(st.lastTry) < rediscover {
			due = false
		}
		if due {
			st.running, st.lastTry = true, now
		}
		g.mu.Unlock()
		if due {
			g.wg.Add(1)
			go g.scrape(t.PID, st)
		}
	}
}

// scrape discovers pid's endpoint when not known yet and fetches its
// profiles over the duty period.
func (g *goScraper) scrape(pid int, st *goTarget) {
	defer g.wg.Done()
	ctx := g.ctx
	// godeltaprof's delta handlers when served: the agent is their one
	// reader, and they cost the target nothing between scrapes.
	opt := fetch.Options{URL: g.cfg.URL, Kinds: g.cfg.Kinds, Delta: true, OwnConn: g.own}
	g.mu.Lock()
	ep := st.ep
	g.mu.Unlock()
	if ep == nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		found, err := fetch.Discover(dctx, pid, opt)
		cancel()
		if err != nil {
			g.mu.Lock()
			st.running = false
			noted := st.noted
			st.noted = true
			g.mu.Unlock()
			g.m.goScrapes.WithLabelValues("no_endpoint").Inc()
			if !noted && !errors.Is(err, context.Canceled) {
				g.logf("go profiles of pid %d: %v (looking again every %v)", pid, err, rediscover)
			}
			return
		}
		ep = found
	}
	g.mu.Lock()
	st.ep, st.scrapeAt = ep, time.Now()
	g.mu.Unlock()
	res := fetch.Fetch(ctx, ep, g.cfg.Duration, opt)
	result := "ok"
	if res.CPU == nil && res.Wall == nil && res.Goroutine == nil && res.Mutex == nil && res.Block == nil && res.Heap == nil {
		result = "failed"
	}
	g.m.goScrapes.WithLabelValues(result).Inc()
	g.mu.Lock()
	st.running = false
	if ctx.Err() == nil {
		st.done = res
	}
	g.mu.Unlock()
}

// take hands over pid's finished scrape, if any.
func (g *goScraper) take(pid int) *fetch.Result {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.byPID[pid]
	if st == nil || st.done == nil {
		return nil
	}
	res := st.done
	st.done = nil
	return res
}

// forget drops the state of targets no longer live (a scrape in flight
// ends with its target).
func (g *goScraper) forget(live map[int]bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for pid, st := range g.byPID {
		if !live[pid] && !st.running {
			delete(g.byPID, pid)
		}
	}
}

// stop cancels the scrapes in flight and waits for them.
func (g *goScraper) stop() {
	if g == nil {
		return
	}
	g.cancel()
	g.wg.Wait()
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
