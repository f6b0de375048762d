// Command spinner burns CPU on a known number of OS threads.
//
// Known behaviour: -threads N goroutines, each locked to its own OS thread
// (runtime.LockOSThread), run a tight integer loop in main.spinHot (called in
// ~1ms chunks from main.spinLoop), so main.spinHot is on the stack of those
// threads essentially all the time. GOMAXPROCS is raised to at least N so no
// spinning thread is parked by the Go scheduler: with -threads 1 the process
// uses ~1 CPU-second per wall-clock second.
//
// It prints "ready pid=<pid>" once all threads spin, runs until -duration
// elapses (0 = until killed; SIGINT/SIGTERM also stop it), then prints
// {"threads":N,"seconds":<wall seconds spun>} and exits 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// chunk is the number of spinHot iterations per call (~1-2ms).
const chunk = 1 << 20

var (
	stop atomic.Bool
	sink atomic.Uint64 // keeps the loop's result alive
)

// spinHot does n rounds of dependent integer work the compiler cannot delete.
//
//go:noinline
func spinHot(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

//go:noinline
func spinLoop(seed uint64, started, done *sync.WaitGroup) {
	defer done.Done()
	runtime.LockOSThread()
	started.Done()
	x := seed
	for !stop.Load() {
		x = spinHot(x, chunk)
	}
	sink.Add(x)
}

func main() {
	threads := flag.Int("threads", 1, "number of spinning OS threads")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()
	if *threads < 1 {
		fmt.Fprintln(os.Stderr, "spinner: -threads must be >= 1")
		os.Exit(2)
	}
	if runtime.GOMAXPROCS(0) < *threads {
		runtime.GOMAXPROCS(*threads)
	}

	var started, done sync.WaitGroup
	started.Add(*threads)
	done.Add(*threads)
	for i := 0; i < *threads; i++ {
		go spinLoop(uint64(i)+1, &started, &done)
	}
	started.Wait()
	fmt.Printf("ready pid=%d\n", os.Getpid())
	begin := time.Now()

	waitFor(*duration)
	stop.Store(true)
	done.Wait()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"threads": *threads,
		"seconds": time.Since(begin).Seconds(),
	})
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
