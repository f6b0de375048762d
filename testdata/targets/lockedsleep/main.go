// Command lockedsleep has a goroutine locked to its OS thread that sleeps
// with time.Sleep, beside a goroutine that spins.
//
// Known behaviour: main.spinHard spins on the CPU in its own goroutine.
// main.sleepLocked, called in a loop from main.lockedLoop in a goroutine
// locked to its thread (runtime.LockOSThread), calls time.Sleep(-interval).
// time.Sleep parks the goroutine; its thread, which may run no other
// goroutine, then waits on its g0 stack in runtime.stoplockedm until the
// goroutine is ready again, so that thread's blocked time is the sleep.
//
// It prints "ready pid=<pid> tid=<tid>" (tid = the locked thread) once both
// loops run, runs until -duration elapses (0 = until killed; SIGINT/SIGTERM
// also stop it), then prints {"sleeps":<count>,"spins":<count>} and exits 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

var stop atomic.Bool

//go:noinline
func sleepLocked(d time.Duration) {
	time.Sleep(d)
}

//go:noinline
func lockedLoop(interval time.Duration, tid chan<- int, done chan<- int) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	n := 0
	for !stop.Load() {
		sleepLocked(interval)
		n++
	}
	done <- n
}

//go:noinline
func spinHard(done chan<- int) {
	n, x := 0, uint64(1)
	for !stop.Load() {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		n++
	}
	if x == 42 {
		n++
	}
	done <- n
}

func main() {
	interval := flag.Duration("interval", 5*time.Millisecond, "length of each sleep of the locked goroutine")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	if *duration > 0 {
		time.AfterFunc(*duration, func() { stop.Store(true) })
	}

	tid, sleeps, spins := make(chan int), make(chan int), make(chan int)
	go spinHard(spins)
	go lockedLoop(*interval, tid, sleeps)
	fmt.Printf("ready pid=%d tid=%d\n", os.Getpid(), <-tid)
	json.NewEncoder(os.Stdout).Encode(map[string]int{"sleeps": <-sleeps, "spins": <-spins})
}
