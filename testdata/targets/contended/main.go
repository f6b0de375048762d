// Command contended runs a known number of runnable OS threads, possibly more
// than there are CPUs.
//
// Known behaviour: -threads N goroutines, each locked to its own OS thread,
// spin in main.contendedSpin (called in ~1ms chunks from main.contendedLoop),
// and GOMAXPROCS is set to exactly N, so N OS threads are runnable at once.
// On a 2-CPU machine -threads 8 means 8 runnable threads competing for 2 CPUs
// (each runs ~1/4 of the time and waits in the run queue otherwise); -threads 1
// means a single runnable thread that never waits for a CPU.
//
// It prints "ready pid=<pid>" once all threads spin, runs until -duration
// elapses (0 = until killed; SIGINT/SIGTERM also stop it), then prints
// {"threads":N,"seconds":<wall seconds>} and exits 0.
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

const chunk = 1 << 20

var (
	stop atomic.Bool
	sink atomic.Uint64
)

// contendedSpin does n rounds of integer work the compiler cannot delete.
//
//go:noinline
func contendedSpin(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x = x*2862933555777941757 + 3037000493
		x ^= x >> 31
	}
	return x
}

//go:noinline
func contendedLoop(seed uint64, started, done *sync.WaitGroup) {
	defer done.Done()
	runtime.LockOSThread()
	started.Done()
	x := seed
	for !stop.Load() {
		x = contendedSpin(x, chunk)
	}
	sink.Add(x)
}

func main() {
	threads := flag.Int("threads", 8, "number of runnable OS threads (also GOMAXPROCS)")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()
	if *threads < 1 {
		fmt.Fprintln(os.Stderr, "contended: -threads must be >= 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)

	var started, done sync.WaitGroup
	started.Add(*threads)
	done.Add(*threads)
	for i := 0; i < *threads; i++ {
		go contendedLoop(uint64(i)+1, &started, &done)
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
