package store

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writerEnv names the store a re-executed test binary writes into.
const writerEnv = "PERFPROBE_STORE_WRITER"

// TestWriterProcess is the writer TestKillMidWrite starts and kills: it
// puts 2 MB windows into the store named by writerEnv until killed.
func TestWriterProcess(t *testing.T) {
	dir := os.Getenv(writerEnv)
	if dir == "" {
		t.Skip("the writer process of TestKillMidWrite")
	}
	s, err := Open(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, n := s.Usage()
	p := bigProfile(rand.New(rand.NewPCG(uint64(n), 3)), 2<<20)
	for i := n; ; i++ {
		start := base.Add(time.Duration(i) * 15 * time.Second)
		p.Sample[0].Value[0] = int64(i)
		if _, err := s.Put(Window{Service: "svc", PID: 7, Start: start, End: start.Add(15 * time.Second)}, p); err != nil {
			t.Fatal(err)
		}
	}
}

// tmpFiles lists the temp files in the store.
func tmpFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*", "*", tmpPrefix+"*"))
	return m
}

// TestKillMidWrite kills a writer with SIGKILL at random moments, most of
// them while a temp file exists, and checks that every window file left
// loads, and that Open removes the temp files.
func TestKillMidWrite(t *testing.T) {
	if os.Getenv(writerEnv) != "" {
		t.Skip()
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	const runs = 10
	midWrite := 0
	for run := 0; run < runs; run++ {
		ro, _ := OpenReadOnly(dir)
		before := 0
		if ro != nil {
			_, before = ro.Usage()
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it write at least two windows, then kill it: on even runs as
		// soon as a temp file is seen (plus 0-3 ms), on odd runs at a random
		// moment within the next 150 ms.
		deadline := time.Now().Add(60 * time.Second)
		for {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("run %d: the writer wrote no 2 windows in 60 s", run)
			}
			if ro == nil {
				ro, _ = OpenReadOnly(dir)
			}
			if ro != nil {
				if ws, _ := ro.List(Query{}); len(ws) >= before+2 {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if run%2 == 0 {
			for len(tmpFiles(dir)) == 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		} else {
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if len(tmpFiles(dir)) > 0 {
			midWrite++
		}
		// Every window file loads, before and after Open's cleaning.
		ws, err := ro.List(Query{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if _, err := readWindow(w.Path); err != nil {
				t.Fatalf("run %d: corrupt window after SIGKILL: %v", run, err)
			}
		}
		if _, err := Open(dir, Limits{}); err != nil {
			t.Fatal(err)
		}
		if left := tmpFiles(dir); len(left) > 0 {
			t.Fatalf("run %d: temp files after Open: %v", run, left)
		}
		p, used, err := ro.Load(Query{})
		if err != nil || len(used) != len(ws) || strings.Contains(strings.Join(p.Comments, "\n"), SkippedComment) {
			t.Fatalf("run %d: Load of %d windows: %d used, %v", run, len(ws), len(used), err)
		}
	}
	_, n := Must(OpenReadOnly(dir)).Usage()
	t.Logf("%d kills, %d landed mid-write (a temp file was left); %d windows written, all load", runs, midWrite, n)
	if n < 20 {
		t.Errorf("%d windows written over %d runs, want at least 20", n, runs)
	}
	if midWrite == 0 {
		t.Errorf("no kill of %d landed mid-write: the test did not test", runs)
	}
}

// Must is t.Fatal-free unwrapping for values that cannot fail here.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestConcurrentReader lists and loads from a second Store while one
// writes 1 MB windows: no reader sees a partial or missing file.
func TestConcurrentReader(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Limits{MaxBytes: 10 << 20}) // the limits delete while the reader reads
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := bigProfile(rand.New(rand.NewPCG(5, 6)), 1<<20)
	var done atomic.Bool
	var wg sync.WaitGroup
	var loads, lists, maxSeen int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			ws, err := r.List(Query{})
			if err != nil {
				t.Error(err)
				return
			}
			lists++
			maxSeen = max(maxSeen, len(ws))
			for _, win := range ws {
				if _, err := readWindow(win.Path); err != nil && !os.IsNotExist(err) {
					t.Errorf("reader saw a bad window: %v", err)
					return
				}
			}
			if len(ws) > 0 {
				if _, _, err := r.Load(Query{From: ws[len(ws)-1].Start}); err != nil {
					t.Errorf("Load while writing: %v", err)
					return
				}
				loads++
			}
		}
	}()
	for i := 0; i < 30; i++ {
		start := base.Add(time.Duration(i) * 15 * time.Second)
		if _, err := w.Put(Window{Service: "svc", PID: 1, Start: start, End: start.Add(15 * time.Second)}, p); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d lists, %d loads while writing; up to %d windows seen, %d deleted by the limit", lists, loads, maxSeen, w.Deleted())
	if lists < 3 || w.Deleted() == 0 {
		t.Errorf("%d lists, %d deleted: the reader did not overlap the writer and its limits", lists, w.Deleted())
	}
}
