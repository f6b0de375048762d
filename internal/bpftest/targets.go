package bpftest

import (
	"sync"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Watch is a session of many targets in a test: it polls the session the
// way a caller must (every 100 ms) and snapshots the mappings of every
// target as it appears, so each stack symbolizes in its own process.
type Watch struct {
	Session *probes.Session

	mu      sync.Mutex
	procs   map[int]*symbolize.Process
	changes probes.Changes // everything Poll returned, merged
	stop    chan struct{}
	done    chan struct{}
}

// CaptureTargets starts a session on pids (none: targets come later) with
// cfg, runs during while a Watch polls it, stops it and returns the capture
// symbolized per process, with the watch for what Poll reported.
func CaptureTargets(t testing.TB, pids []int, cfg probes.Config, during func(w *Watch)) (Result, *Watch) {
	t.Helper()
	var ts []*probes.Target
	for _, pid := range pids {
		target, err := probes.OpenTarget(pid)
		if err != nil {
			t.Fatalf("opening target %d: %v", pid, err)
		}
		defer target.Close()
		ts = append(ts, target)
	}
	sess, err := probes.StartTargets(ts, cfg)
	if err != nil {
		t.Fatalf("starting session: %v", err)
	}
	defer sess.Close()
	w := &Watch{Session: sess, procs: map[int]*symbolize.Process{}, stop: make(chan struct{}), done: make(chan struct{})}
	w.snapshot(t)
	go w.run(t)
	during(w)
	close(w.stop)
	<-w.done
	w.poll(t) // what happened since the last tick
	c := sess.Stop("duration")
	kern, _ := syms.Kernel()
	w.mu.Lock()
	procs := w.procs
	w.mu.Unlock()
	for _, tg := range c.Targets { // a child that never exec'd maps its parent's files
		if procs[tg.PID] == nil && tg.Parent != 0 && procs[tg.Parent] != nil {
			procs[tg.PID] = procs[tg.Parent]
		}
	}
	p, err := c.ToPprof(profile.ProcessSymbols{Processes: procs, Kern: kern})
	if err != nil {
		t.Fatalf("building pprof: %v", err)
	}
	for _, w := range c.Warnings {
		t.Logf("capture warning: %s", w)
	}
	return Result{Capture: c, Profile: p}, w
}

func (w *Watch) run(t testing.TB) {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		w.poll(t)
	}
}

// poll polls the session once, keeps what it reported and snapshots new
// targets.
func (w *Watch) poll(t testing.TB) {
	ch, err := w.Session.Poll()
	if err != nil {
		t.Errorf("polling the session: %v", err)
		return
	}
	w.mu.Lock()
	w.changes.Added = append(w.changes.Added, ch.Added...)
	w.changes.Execed = append(w.changes.Execed, ch.Execed...)
	w.changes.Exited = append(w.changes.Exited, ch.Exited...)
	for _, pid := range ch.Execed {
		if p := w.procs[pid]; p != nil {
			p.Refresh()
		}
	}
	w.mu.Unlock()
	w.snapshot(t)
}

// AddTarget adds pid to the session and snapshots its mappings at once,
// as a caller must (it may exit before the next poll).
func (w *Watch) AddTarget(t testing.TB, pid int) error {
	if err := w.Session.AddTarget(pid); err != nil {
		return err
	}
	w.snapshot(t)
	return nil
}

// snapshot opens the mappings of every target not snapshotted yet.
func (w *Watch) snapshot(t testing.TB) {
	for _, tg := range w.Session.Targets() {
		w.mu.Lock()
		_, ok := w.procs[tg.PID]
		w.mu.Unlock()
		if ok || !tg.Exited.IsZero() {
			continue
		}
		p, err := syms.Process(tg.PID)
		if err != nil {
			t.Logf("snapshotting pid %d: %v", tg.PID, err)
			continue
		}
		w.mu.Lock()
		w.procs[tg.PID] = p
		w.mu.Unlock()
	}
}

// Changes returns everything Poll reported so far.
func (w *Watch) Changes() probes.Changes {
	w.mu.Lock()
	defer w.mu.Unlock()
	return probes.Changes{
		Added:  append([]int(nil), w.changes.Added...),
		Execed: append([]int(nil), w.changes.Execed...),
		Exited: append([]int(nil), w.changes.Exited...),
	}
}

// ByPID sums sample type typ per pid label, and per pid the part whose
// stack holds a frame named fn; it also reports samples without a pid or
// whose comm label is missing.
func (r Result) ByPID(typ, fn string) (total, matched map[int]int64, unlabelled int) {
	i := profile.ValueIndex(r.Profile, typ)
	total, matched = map[int]int64{}, map[int]int64{}
	for _, s := range r.Profile.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		if len(s.NumLabel["pid"]) != 1 || len(s.Label["comm"]) != 1 {
			unlabelled++
			continue
		}
		pid := int(s.NumLabel["pid"][0])
		total[pid] += v
		for _, f := range profile.Frames(s) {
			if f == fn {
				matched[pid] += v
				break
			}
		}
	}
	return total, matched, unlabelled
}
