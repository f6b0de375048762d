package bpftest

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// Watch is a session of many targets in a test, polled the way the
// commands poll it (every 100 ms), each target's mappings snapshotted as
// it appears so that each stack symbolizes in its own process.
type Watch struct {
	Session *probes.Session
	capture *capture.Session
	stop    chan struct{}
	done    chan struct{}
}

// CaptureTargets starts a session on pids (none: targets come later) with
// cfg, runs during while a Watch polls it, stops it and returns the capture
// symbolized per process, with the watch for what the polls reported.
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
	s, err := capture.StartTargets(ts, capture.FromConfig(cfg))
	if err != nil {
		t.Fatalf("starting session: %v", err)
	}
	defer s.Close()
	w := &Watch{Session: s.Probes(), capture: s, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	during(w)
	close(w.stop)
	<-w.done
	res := s.Stop(capture.EndDuration)
	for _, line := range res.Capture.Warnings {
		t.Logf("capture warning: %s", line)
	}
	if res.Profile == nil {
		t.Fatalf("building pprof failed: %v", res.Capture.Warnings)
	}
	CheckDeclared(t, res.Capture)
	return Result{Capture: res.Capture, Profile: res.Profile}, w
}

func (w *Watch) run() {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		w.capture.Poll()
	}
}

// AddTarget adds pid to the session and snapshots its mappings at once,
// as a caller must (it may exit before the next poll).
func (w *Watch) AddTarget(t testing.TB, pid int) error {
	return w.capture.AddTarget(pid)
}

// Changes returns everything the polls reported so far.
func (w *Watch) Changes() probes.Changes { return w.capture.Changes() }

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
