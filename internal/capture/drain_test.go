package capture_test

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	"github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
	"github.com/perfprobe/perfprobe/profile"
)

// The work of one run: exactly rollHandshakes Go TLS handshakes (each with a
// client and a server side in one process) at a steady rate, 8 s of them,
// beside a thread that sleeps 7 ms at a time, seen through ten 1 s
// windows or one 10 s capture.
const (
	rollHandshakes = 400
	rollEvery      = 20 * time.Millisecond
	rollWindows    = 10
	rollWindow     = time.Second
)

var rollProbes = probes.Config{Probes: []string{"cpu", "sched", "iostall", "tls"}, Hz: 999}

// rollRun is what one run saw, summed over its windows.
type rollRun struct {
	rolling    bool
	windows    int
	samples    uint64        // on-CPU samples
	switches   uint64        // voluntary + involuntary
	client     uint64        // handshakes ok, client side
	server     uint64        // handshakes ok, server side
	tlsOnCPUNs uint64        // the handshaking process's threads on CPU (scheduler, exact)
	tlsCPU     time.Duration // the handshaking process's CPU time, as the kernel tells it (/proc)
	sleeperNs  uint64        // the sleeping thread's on-CPU + blocked + run-queue time
	span       time.Duration
	worst      float64 // the sleeping thread's explained share furthest from 1 in a whole window
}

// Rolling windows against one capture of the same work, back to back,
// three times in alternating order, with every probe attached. In every
// run the windows hold exactly the handshakes the target made (none lost
// or counted twice at a switch, while handshakes straddle switches), the
// windows follow one another without gaps, and the sleeping thread is
// explained in each whole window (on-CPU + blocked + run-queue time = the
// window's length: intervals open at a switch are split there) and over
// the run, as in one capture. Over the three runs of each way, handshakes
// agree within 5% (exactly, in fact), and so do on-CPU samples and the
// scheduler's on-CPU time per CPU-second of the handshaking process;
// context switches within 15%.
func TestRollingWindows(t *testing.T) {
	bpftest.Require(t)
	iostall.RawSyscalls = true // detached in milliseconds: six sessions here
	defer func() { iostall.RawSyscalls = false }()
	tlsBin := testtarget.Build(t, "tlshandshakes")
	sleepBin := testtarget.Build(t, "sleeper")
	var runs []rollRun
	for i := range 3 {
		for _, rolling := range []bool{i%2 == 0, i%2 == 1} {
			name := "capture"
			if rolling {
				name = "windows"
			}
			t.Run(name+"-"+strconv.Itoa(i), func(t *testing.T) {
				r := rollOnce(t, tlsBin, sleepBin, rolling)
				t.Logf("%+v", r)
				runs = append(runs, r)
			})
		}
	}
	if len(runs) != 6 {
		return // runs failed, or -run picked some
	}
	var sums [2]rollRun
	for _, r := range runs {
		s := &sums[0]
		if r.rolling {
			s = &sums[1]
		}
		s.samples += r.samples
		s.switches += r.switches
		s.client += r.client
		s.server += r.server
		s.tlsOnCPUNs += r.tlsOnCPUNs
		s.tlsCPU += r.tlsCPU
	}
	one, windows := sums[0], sums[1]
	// The handshakes' CPU time varies from run to run with what else the
	// machine runs (±12% seen here while other tests ran): on-CPU figures
	// are compared per CPU-second of the target, as its kernel counted it.
	perCPUs := func(n uint64, r rollRun) float64 { return float64(n) / r.tlsCPU.Seconds() }
	// A Go program's context switches vary from run to run with its
	// scheduler (spinning threads, GC workers, netpoll): 1.066 and 1.143
	// between the two ways on a quiet and a busy machine. They get 15%;
	// an error at the windows' edges shows in the exact handshake counts
	// and in each window's time accounting above.
	for _, m := range []struct {
		what        string
		one, window float64
		tol         float64
	}{
		// The sampling density itself varies run to run by a few percent
		// (1.060 in one CI run since the cpu program grew: the signal
		// frame check and the leaf words): 10%; a lost or doubled window
		// is far more.
		{"on-CPU samples per target CPU-s", perCPUs(one.samples, one), perCPUs(windows.samples, windows), 0.10},
		{"scheduler's on-CPU ns per target CPU-s", perCPUs(one.tlsOnCPUNs, one), perCPUs(windows.tlsOnCPUNs, windows), 0.05},
		{"context switches", float64(one.switches), float64(windows.switches), 0.15},
		{"handshakes", float64(one.client + one.server), float64(windows.client + windows.server), 0.05},
	} {
		ratio := m.window / m.one
		t.Logf("%s: %.0f in windows, %.0f in single captures (%.3f)", m.what, m.window, m.one, ratio)
		if m.one == 0 || ratio < 1-m.tol || ratio > 1+m.tol {
			t.Errorf("%s: %.0f summed over the windows of three runs, %.0f in three single captures: want them within %.0f%%", m.what, m.window, m.one, 100*m.tol)
		}
	}
	t.Logf("raw on-CPU samples: %d in windows, %d in single captures, over %v and %v of target CPU", windows.samples, one.samples, windows.tlsCPU, one.tlsCPU)
}

// rollOnce runs the work once, drained every second or captured at once.
func rollOnce(t *testing.T, tlsBin, sleepBin string, rolling bool) rollRun {
	hs := testtarget.Start(t, tlsBin, "-n", strconv.Itoa(rollHandshakes), "-every", rollEvery.String(), "-wait-signal")
	sl := testtarget.Start(t, sleepBin, "-interval", "7ms")
	var ts []*probes.Target
	for _, pid := range []int{hs.PID, sl.PID} {
		tg, err := probes.OpenTarget(pid)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		ts = append(ts, tg)
	}
	s, err := capture.StartTargets(ts, capture.FromConfig(rollProbes))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	begin := time.Now()
	if err := hs.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var results []*capture.Result
	if rolling {
		for i := 1; i <= rollWindows; i++ {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * rollWindow)))
			r, err := s.Drain()
			if err != nil {
				t.Fatalf("window %d: %v", i, err)
			}
			results = append(results, r)
		}
	} else {
		time.Sleep(time.Until(begin.Add(rollWindows * rollWindow)))
	}
	results = append(results, s.Stop(capture.EndDuration)) // rolling: since the last drain, a few ms
	cpu, err := hs.CPUTime()                               // exited (its last handshake was due at 8 s), not reaped yet
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		ClientOK int `json:"client_ok"`
		ServerOK int `json:"server_ok"`
	}
	if err := hs.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	if err := sl.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = sl.Wait(nil)
	if sum.ClientOK != rollHandshakes || sum.ServerOK != rollHandshakes {
		t.Fatalf("target summary %+v: want %d handshakes ok on each side", sum, rollHandshakes)
	}

	r := rollRun{rolling: rolling, windows: len(results), worst: 1, tlsCPU: cpu}
	first, last := results[0].Capture, results[len(results)-1].Capture
	r.span = last.End.Sub(first.Start)
	for i, res := range results {
		c := res.Capture
		bpftest.CheckDeclared(t, c)
		if res.Profile == nil {
			t.Errorf("window %d: no profile: %v", i, c.Warnings)
		}
		if i > 0 && !c.Start.Equal(results[i-1].Capture.End) {
			t.Errorf("window %d starts at %v, the one before ended at %v", i, c.Start, results[i-1].Capture.End)
		}
		for k, v := range c.Drops {
			if v != 0 && strings.HasSuffix(k, "_full") {
				t.Errorf("window %d: drop %s = %d", i, k, v)
			}
		}
		r.samples += c.Counts["oncpu_samples"]
		r.switches += c.Counts["voluntary_switches"] + c.Counts["involuntary_switches"]
		r.client += c.Counts["tls_client_ok"]
		r.server += c.Counts["tls_server_ok"]
		for _, th := range c.Threads {
			if int(th.PID) == hs.PID {
				r.tlsOnCPUNs += th.OnCPUNs
			}
		}
		th := c.Threads[uint32(sl.TID)]
		if th == nil {
			t.Errorf("window %d: no accounting of the sleeping thread %d", i, sl.TID)
			continue
		}
		ns := th.OnCPUNs + th.BlockedNs + th.RunqueueNs
		r.sleeperNs += ns
		if rolling && i < rollWindows {
			// A switch-in the kernel did not run the program for (with a
			// perf_event program attached too, about 1 in 1,000) leaves the
			// time until the next switch-out unexplained.
			share, low := float64(ns)/float64(c.End.Sub(c.Start)), 0.99
			if c.Drops["sched_unpaired_switch"] > 0 {
				low = 0.95
			}
			if share < low || share > 1.01 {
				t.Errorf("window %d: the sleeping thread is explained for %.2f%% of the window (%+v), want 100%% within %.0f%%", i, 100*share, th, 100*(1-low))
			}
			if (share-1)*(share-1) > (r.worst-1)*(r.worst-1) {
				r.worst = share
			}
		}
	}
	if r.client != rollHandshakes || r.server != rollHandshakes {
		t.Errorf("%d client and %d server handshakes in %d windows, want exactly %d each", r.client, r.server, len(results), rollHandshakes)
	}
	if share := float64(r.sleeperNs) / float64(r.span); share < 0.99 || share > 1.01 {
		t.Errorf("the sleeping thread's time over the windows is %.2f%% of their span, want 100%% within 1%%", 100*share)
	}
	return r
}

// A session with a probe that cannot drain (the toy probe of toy_test.go)
// says so and stays as it was.
func TestDrainNotDrainable(t *testing.T) {
	bpftest.Require(t)
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	target, err := probes.OpenTarget(sleeper.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	s, err := capture.Start(target, capture.FromConfig(probes.Config{Probes: []string{"toy"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Drain(); !errors.Is(err, probes.ErrNotDrainable) {
		t.Errorf("draining a session with the toy probe: %v, want ErrNotDrainable", err)
	}
	if got := profile.Total(s.Stop(capture.EndDuration).Profile, "toy_wait"); got != 3e6 {
		t.Errorf("toy_wait total %d after the failed drain, want 3e6", got)
	}
}
