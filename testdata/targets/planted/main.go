// Command planted runs one known on-CPU problem (the "plant") beside a
// neutral busy loop, so that a diagnosis plugin's share can be checked
// against what was planted.
//
// Known behaviour: -threads N goroutines, each locked to its own OS thread,
// alternate in cycles of random length (2 to 8 ms, so no sampler at a
// fixed frequency aliases with them): the first -share percent of each
// cycle's wall time runs the mode's plant function (main.plantHashing,
// main.plantJSON, ...; see the modes table) in short units of a few to
// tens of microseconds, the rest runs main.neutralWork, integer mixing
// that no plugin's frame rules match. Each worker reads its thread's CPU
// time at every switch between the two. GOMAXPROCS is raised to at least
// N.
//
// The planted share is a share of the process's CPU time, as a plugin
// computes it over the oncpu (or go_cpu) sample type: with one thread at
// -share 50, the plant is ~50% of the worker's CPU, and the worker is
// nearly all of the process's CPU. What the runtime adds (GC workers
// collecting the plant's garbage, the pprof handler) dilutes it; the
// summary's expected_share accounts for that: planted_fraction (the
// plant's part of the workers' CPU time) times workers_cpu / process_cpu
// (the process's from getrusage over the same interval). Modes that are
// not a share of a worker:
//
//	gc          the plant allocates pointer-rich trees that die young,
//	            keeping a few MB of them live, under GOGC=10: the GC's
//	            own CPU (background mark workers, assists, sweeping)
//	            follows from the runtime, not from -share. Its ground
//	            truth is the runtime's accounting of marking (workers,
//	            assists) and pauses, runtime/metrics
//	            /cpu/classes/gc/total, over the process's CPU time:
//	            gc_cpu_share, which is then the expected_share. (The
//	            runtime's own busy time is P time, larger than CPU time
//	            when a P's thread waits for a CPU: not the denominator
//	            a CPU profile has.)
//	alloc       the plant allocates small pointer-free buffers it does
//	            not keep, nearly all its time inside runtime.mallocgc
//	            (its own loop is ~3 points of a 50% plant); a 32 MiB
//	            ballast keeps GC cycles rare. Sweeping the spans the
//	            buffers fill is GC work that allocation implies: the gc
//	            plugin reports it too.
//	goroutines  before the ready line, -goroutines goroutines (20,000 by
//	            default) are started by main.spawnParked and park forever
//	            on a channel receive in main.parkedGoroutine; the workers
//	            run only main.neutralWork. The plant is a count, not a
//	            share: the summary's goroutines is runtime.NumGoroutine.
//
// net/http/pprof serves on loopback; it prints "ready pid=<pid>
// addr=<host:port>" once the workers run, runs until -duration elapses
// (0 = until killed; SIGINT/SIGTERM also stop it), then prints
// {"mode":..,"threads":N,"share":..,"seconds":..,"planted_seconds":..,
// "neutral_seconds":..,"planted_fraction":..,"workers_cpu_seconds":..,
// "process_cpu_seconds":..,"gc_cpu_share":..,"gc_cpu_seconds":..,
// "expected_share":..,"goroutines":..,"units":..} and exits 0. The figures cover the time from
// the start to the end, or, when the target got SIGUSR1, from the last
// SIGUSR1 to the SIGUSR2 after it (or the end): a test brackets its
// capture window with them while the target keeps running.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var (
	stop atomic.Bool
	// counting is false after SIGUSR2: the workers stop adding to their
	// counters; epoch moves at SIGUSR1: they zero them.
	counting atomic.Bool
	epoch    atomic.Int64
)

// worker is one plant-and-neutral thread's accounting: the thread's CPU
// time in each phase, read at every switch between them, so that time
// the thread waited for a CPU counts in neither.
type worker struct {
	planted, neutral time.Duration
	units            int64
	epoch            int64
	sink             uint64
}

// run alternates plant and neutralWork until stop, on its own thread.
func (w *worker) run(m *mode, share int, seed uint64, started, done *sync.WaitGroup) {
	defer done.Done()
	runtime.LockOSThread()
	st := m.newState()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	started.Done()
	x := seed
	cpu := threadCPU()
	for !stop.Load() {
		if e := epoch.Load(); e != w.epoch {
			w.epoch, w.planted, w.neutral, w.units = e, 0, 0, 0
		}
		cycle := time.Duration(2e6 + rng.Int64N(6e6))
		start := time.Now()
		plantEnd := start.Add(cycle * time.Duration(share) / 100)
		units := int64(0)
		for now := start; now.Before(plantEnd) && m.plant != nil; now = time.Now() {
			m.plant(st)
			units++
		}
		mid := threadCPU()
		end := start.Add(cycle)
		for now := time.Now(); now.Before(end); now = time.Now() {
			x = neutralWork(x)
		}
		next := threadCPU()
		if counting.Load() {
			w.planted += mid - cpu
			w.neutral += next - mid
			w.units += units
		}
		cpu = next
	}
	w.sink = x
}

// neutralWork is ~20 µs of integer mixing: CPU time no plugin claims.
//
//go:noinline
func neutralWork(x uint64) uint64 {
	for i := 0; i < 1<<14; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

// threadCPU is the calling thread's CPU time. CLOCK_THREAD_CPUTIME_ID
// includes the slice running now; getrusage(RUSAGE_THREAD) lags by up to a
// scheduler tick, which, read at every phase switch, biased the split.
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// snapshot is the process's CPU time and the runtime's estimate of its GC
// CPU time at one instant.
type snapshot struct {
	at  time.Time
	cpu time.Duration
	gc  float64
}

func snap() snapshot {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return snapshot{at: time.Now(), cpu: processCPU(), gc: s[0].Value.Float64()}
}

// interval is what SIGUSR1 and SIGUSR2 bracket.
type interval struct {
	mu         sync.Mutex
	begin, end snapshot
	ended      bool
}

// bracket restarts the measured interval at SIGUSR1 and ends it at
// SIGUSR2.
func (iv *interval) bracket() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	for s := range sig {
		iv.mu.Lock()
		if s == syscall.SIGUSR1 {
			iv.begin, iv.ended = snap(), false
			epoch.Add(1)
			counting.Store(true)
		} else if !iv.ended {
			counting.Store(false)
			iv.end, iv.ended = snap(), true
		}
		iv.mu.Unlock()
	}
}

func main() {
	modeName := flag.String("mode", "hashing", "the planted problem: "+strings.Join(modeNames(), "|"))
	share := flag.Int("share", 50, "percent of each worker's wall time in the plant (0..100)")
	threads := flag.Int("threads", 1, "number of worker OS threads")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	goroutines := flag.Int("goroutines", 20000, "goroutines to park in -mode goroutines")
	flag.Parse()
	m, ok := modes[*modeName]
	if !ok {
		fmt.Fprintf(os.Stderr, "planted: unknown -mode %q: use %s\n", *modeName, strings.Join(modeNames(), "|"))
		os.Exit(2)
	}
	if *share < 0 || *share > 100 || *threads < 1 {
		fmt.Fprintln(os.Stderr, "planted: -share must be 0..100 and -threads >= 1")
		os.Exit(2)
	}
	if runtime.GOMAXPROCS(0) < *threads {
		runtime.GOMAXPROCS(*threads)
	}
	if m.setup != nil {
		m.setup(*goroutines)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "planted:", err)
		os.Exit(1)
	}
	go http.Serve(ln, nil)

	workers := make([]*worker, *threads)
	var started, done sync.WaitGroup
	started.Add(*threads)
	done.Add(*threads)
	iv := &interval{begin: snap()}
	counting.Store(true)
	go iv.bracket()
	for i := range workers {
		workers[i] = &worker{}
		go workers[i].run(m, *share, uint64(i)+1, &started, &done)
	}
	started.Wait()
	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())

	waitFor(*duration)
	iv.mu.Lock()
	if !iv.ended {
		counting.Store(false)
		iv.end, iv.ended = snap(), true
	}
	iv.mu.Unlock()
	stop.Store(true)
	done.Wait()
	seconds := iv.end.at.Sub(iv.begin.at).Seconds()
	cpu := iv.end.cpu - iv.begin.cpu
	var planted, neutral time.Duration
	var units int64
	for _, w := range workers {
		planted += w.planted
		neutral += w.neutral
		units += w.units
	}
	wcpu := planted + neutral
	fraction := planted.Seconds() / max(1e-9, wcpu.Seconds())
	gcShare := (iv.end.gc - iv.begin.gc) / max(1e-9, cpu.Seconds())
	expected := fraction * wcpu.Seconds() / max(1e-9, cpu.Seconds())
	switch *modeName {
	case "gc":
		expected = gcShare
	case "goroutines":
		expected = 0
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"mode":                *modeName,
		"threads":             *threads,
		"share":               *share,
		"seconds":             seconds,
		"planted_seconds":     planted.Seconds(),
		"neutral_seconds":     neutral.Seconds(),
		"planted_fraction":    fraction,
		"workers_cpu_seconds": wcpu.Seconds(),
		"process_cpu_seconds": cpu.Seconds(),
		"gc_cpu_share":        gcShare,
		"gc_cpu_seconds":      iv.end.gc - iv.begin.gc,
		"expected_share":      expected,
		"goroutines":          runtime.NumGoroutine(),
		"units":               units,
	})
}

func modeNames() []string {
	var names []string
	for n := range modes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// waitFor returns after d (forever if d <= 0) or on SIGINT/SIGTERM.
func waitFor(d time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if d > 0 {
		timeout = time.After(d)
	}
	select {
	case <-timeout:
	case <-sig:
	}
}
