package pyroscope

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/pprof/profile"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/push/v1/pushv1connect"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a window is dropped, the values of the dropped_windows_total
// metric's reason label.
const (
	DropQueueFull = "queue_full" // the queue was at its memory cap: the oldest windows go
	DropRejected  = "rejected"   // the server refused the window (a 4xx other than 429)
	DropTooLarge  = "too_large"  // one window alone is larger than the queue's cap
)

// Client pushes windows with PusherService.Push through a queue bounded in
// bytes. Enqueue never blocks; Run sends, retrying failures with backoff,
// and the cap, not failures, drops windows: the oldest first.
type Client struct {
	// Logf, when set before Run, gets one line per state change: the
	// server going away (the first failure), coming back (after how long,
	// with how many windows queued), and windows it rejected. Never one
	// per retry, never a secret.
	Logf func(format string, args ...any)

	cfg  *resolved
	push pushv1connect.PusherServiceClient

	mu      sync.Mutex
	queue   []*window
	qBytes  int64
	stats   Stats
	notify  chan struct{} // a window was queued
	sendMu  sync.Mutex    // one push at a time: Run and Flush share the queue head
	down    bool
	downAt  time.Time
	dropped uint64 // windows dropped since the server went down

	m metrics
}

type window struct {
	req      *pushv1.PushRequest
	bytes    int64
	inFlight bool // being pushed: the cap drops the windows behind it
}

// Stats are the client's counters since New.
type Stats struct {
	Pushed       uint64            // windows the server accepted
	Failed       uint64            // push attempts that failed (each retry counts)
	Retries      uint64            // attempts that retried a window that had failed
	Dropped      map[string]uint64 // windows dropped, by reason (Drop* constants)
	BytesPushed  uint64            // bytes of the accepted push requests
	QueueBytes   int64             // bytes queued now (the window in flight included)
	QueueWindows int               // windows queued now
	Down         bool              // the last attempt failed
	LastError    string            // the last push error, secrets redacted; "" when none yet
}

type metrics struct {
	pushes  *prometheus.CounterVec
	bytes   prometheus.Counter
	dropped *prometheus.CounterVec
	retries prometheus.Counter
}

// New validates cfg and builds a client; its metrics are registered on reg
// (nil: none; a registry holds one client's). Call Run to start sending.
func New(cfg Config, reg prometheus.Registerer) (*Client, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	hc, err := r.httpClient()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:    r,
		push:   pushv1connect.NewPusherServiceClient(hc, r.base),
		notify: make(chan struct{}, 1),
		stats:  Stats{Dropped: map[string]uint64{}},
	}
	c.m = metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "perfprobe_pyroscope_pushes_total", Help: "Push requests to Pyroscope, by result (ok, failed).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "perfprobe_pyroscope_push_bytes_total", Help: "Bytes of the push requests Pyroscope accepted.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "perfprobe_pyroscope_dropped_windows_total", Help: "Profile windows dropped before Pyroscope took them, by reason (queue_full, rejected, too_large).",
		}, []string{"reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "perfprobe_pyroscope_retries_total", Help: "Push attempts that retried a window after a failure.",
		}),
	}
	for _, res := range []string{"ok", "failed"} {
		c.m.pushes.WithLabelValues(res)
	}
	for _, reason := range []string{DropQueueFull, DropRejected, DropTooLarge} {
		c.m.dropped.WithLabelValues(reason)
	}
	if reg != nil {
		collectors := []prometheus.Collector{
			c.m.pushes, c.m.bytes, c.m.dropped, c.m.retries,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "perfprobe_pyroscope_queue_bytes", Help: "Bytes of profile windows waiting to be pushed to Pyroscope.",
			}, func() float64 { return float64(c.Stats().QueueBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "perfprobe_pyroscope_queue_windows", Help: "Profile windows waiting to be pushed to Pyroscope.",
			}, func() float64 { return float64(c.Stats().QueueWindows) }),
		}
		for _, col := range collectors {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("registering pyroscope metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Enqueue converts one window (the target's labels, its merged profile and
// optionally the Go runtime's raw profiles, see Series) and queues it. It
// never blocks: when the queue would exceed its cap, the oldest queued
// windows are dropped (reason "queue_full"; the new one itself when only
// the window being pushed is left to drop). It returns the bytes queued:
// 0 when the window had no data to push.
func (c *Client) Enqueue(labels map[string]string, p *profile.Profile, goRaw map[string]*profile.Profile) (int, error) {
	series, err := Series(labels, p, goRaw)
	if err != nil {
		return 0, err
	}
	if len(series) == 0 {
		return 0, nil
	}
	req := &pushv1.PushRequest{Series: series}
	w := &window{req: req, bytes: int64(req.SizeVT())}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.bytes > c.cfg.QueueBytes {
		c.dropLocked(DropTooLarge, 1)
		return 0, fmt.Errorf("queueing window: %d bytes alone exceed the queue's cap of %d bytes (raise the queue size)", w.bytes, c.cfg.QueueBytes)
	}
	for c.qBytes+w.bytes > c.cfg.QueueBytes {
		i := 0
		for i < len(c.queue) && c.queue[i].inFlight {
			i++
		}
		if i == len(c.queue) { // only the window in flight is left and the new one does not fit beside it
			c.dropLocked(DropQueueFull, 1)
			return 0, nil
		}
		c.removeLocked(i)
		c.dropLocked(DropQueueFull, 1)
	}
	c.queue = append(c.queue, w)
	c.qBytes += w.bytes
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return int(w.bytes), nil
}

func (c *Client) dropLocked(reason string, n uint64) {
	c.stats.Dropped[reason] += n
	c.m.dropped.WithLabelValues(reason).Add(float64(n))
	if c.down {
		c.dropped += n
	}
}

func (c *Client) removeLocked(i int) {
	c.qBytes -= c.queue[i].bytes
	copy(c.queue[i:], c.queue[i+1:])
	c.queue[len(c.queue)-1] = nil
	c.queue = c.queue[:len(c.queue)-1]
}

// removeWindowLocked takes w out of the queue if the cap has not dropped it meanwhile.
func (c *Client) removeWindowLocked(w *window) {
	for i, q := range c.queue {
		if q == w {
			c.removeLocked(i)
			return
		}
	}
}

// Stats returns the client's counters and queue.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Dropped = make(map[string]uint64, len(c.stats.Dropped))
	for k, v := range c.stats.Dropped {
		s.Dropped[k] = v
	}
	s.QueueBytes = c.qBytes
	s.QueueWindows = len(c.queue)
	s.Down = c.down
	return s
}

// outcome of one push attempt.
type outcome int

const (
	empty    outcome = iota // nothing queued
	pushed                  // the head went
	rejected                // the head was refused and dropped
	failed                  // the head stays; retry later
)

// attempt pushes the queue's head once.
func (c *Client) attempt(ctx context.Context) (outcome, error) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.mu.Unlock()
		return empty, nil
	}
	w := c.queue[0]
	w.inFlight = true
	retry := c.down
	c.mu.Unlock()

	status := 0
	actx, cancel := context.WithTimeout(context.WithValue(ctx, statusKey{}, &status), c.cfg.Timeout)
	_, err := c.push.Push(actx, connect.NewRequest(w.req))
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	w.inFlight = false
	aborted := err != nil && ctx.Err() != nil && status == 0 // the caller stopped us (Run's end, Flush's deadline): not the server's failure
	if retry && !aborted {
		c.stats.Retries++
		c.m.retries.Inc()
	}
	if err == nil {
		c.removeWindowLocked(w)
		c.stats.Pushed++
		c.stats.BytesPushed += uint64(w.bytes)
		c.m.pushes.WithLabelValues("ok").Inc()
		c.m.bytes.Add(float64(w.bytes))
		if c.down {
			c.logf("pyroscope: %s is back after %s: %d windows (%d bytes) queued, %d dropped meanwhile", c.cfg.base, time.Since(c.downAt).Round(time.Second), len(c.queue), c.qBytes, c.dropped)
			c.down = false
		}
		return pushed, nil
	}
	msg := c.cfg.redact(err.Error())
	if aborted {
		return failed, fmt.Errorf("pushing to pyroscope: stopped: %s", msg)
	}
	c.stats.Failed++
	c.m.pushes.WithLabelValues("failed").Inc()
	if status == 0 && errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("no answer within %s (%s)", c.cfg.Timeout, msg)
	}
	if status != 0 {
		msg = fmt.Sprintf("HTTP %d: %s", status, msg)
	}
	c.stats.LastError = msg
	perr := errors.New("pushing to pyroscope: " + msg)
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
		c.removeWindowLocked(w)
		c.dropLocked(DropRejected, 1)
		c.down = false // it answered
		c.logf("pyroscope: %s rejected a window of %d bytes, dropped it: %s", c.cfg.base, w.bytes, msg)
		return rejected, perr
	}
	if !c.down {
		c.down, c.downAt, c.dropped = true, time.Now(), 0
		c.logf("pyroscope: pushing to %s failed, retrying with backoff (%d windows, %d bytes queued): %s", c.cfg.base, len(c.queue), c.qBytes, msg)
	}
	return failed, perr
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf("%s", c.cfg.redact(fmt.Sprintf(format, args...)))
	}
}

// backoff is the wait before retry n (1, 2, ...): exponential between
// MinBackoff and MaxBackoff, with full jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// Run is the sender loop: it pushes the queue's head as windows come,
// retries a failed push with backoff (the window stays queued), drops a
// window the server rejects (a 4xx other than 429), and returns when ctx
// is done. Cancelling ctx aborts a push in flight, which the server may
// have stored already: to end cleanly, Flush first, then cancel.
func (c *Client) Run(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		out, _ := c.attempt(ctx)
		switch out {
		case empty:
			select {
			case <-ctx.Done():
			case <-c.notify:
			}
		case pushed, rejected:
			fails = 0
		case failed:
			fails++
			t := time.NewTimer(c.backoff(fails))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// Flush pushes what is queued until the queue is empty (nil) or ctx ends
// (an error saying what was left), retrying failures with backoff within
// ctx: the SIGTERM path, after Run's context is cancelled.
func (c *Client) Flush(ctx context.Context) error {
	fails := 0
	var last error
	for {
		out, err := c.attempt(ctx)
		switch out {
		case empty:
			return nil
		case pushed, rejected:
			fails = 0
			continue
		}
		last = err
		fails++
		t := time.NewTimer(c.backoff(fails))
		select {
		case <-ctx.Done():
			t.Stop()
			s := c.Stats()
			return fmt.Errorf("flushing pyroscope queue: %d windows (%d bytes) left when %v; last error: %v", s.QueueWindows, s.QueueBytes, ctx.Err(), last)
		case <-t.C:
		}
	}
}
