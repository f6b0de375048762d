// Command sleeper keeps one OS thread blocked in the kernel with a known user
// stack.
//
// Known behaviour: one goroutine, locked to its OS thread, loops calling
// main.sleepInNanosleep, which calls syscall.Nanosleep(-interval) directly.
// Unlike time.Sleep (which parks the goroutine and hides the caller), the
// thread itself blocks in the nanosleep syscall with main.sleepInNanosleep
// (called from main.sleepLoop) on its user stack, using almost no CPU.
//
// It prints "ready pid=<pid> tid=<tid>" (tid = the sleeping thread) once the
// loop starts, runs until -duration elapses (0 = until killed; SIGINT/SIGTERM
// also stop it; a sleep in progress is finished first), then prints
// {"sleeps":<count>,"mean_sleep_ns":<measured mean>} and exits 0.
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

type result struct {
	Sleeps      int   `json:"sleeps"`
	MeanSleepNS int64 `json:"mean_sleep_ns"`
}

// sleepInNanosleep blocks the calling OS thread in nanosleep(2) for d,
// resuming after EINTR.
//
//go:noinline
func sleepInNanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

//go:noinline
func sleepLoop(interval, duration time.Duration, tid chan<- int, res chan<- result) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	var n int
	var total time.Duration
	begin := time.Now()
	for !stop.Load() && (duration <= 0 || time.Since(begin) < duration) {
		t0 := time.Now()
		sleepInNanosleep(interval)
		total += time.Since(t0)
		n++
	}
	r := result{Sleeps: n}
	if n > 0 {
		r.MeanSleepNS = int64(total) / int64(n)
	}
	res <- r
}

func main() {
	interval := flag.Duration("interval", 10*time.Millisecond, "length of each nanosleep")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()

	tid := make(chan int)
	res := make(chan result)
	go sleepLoop(*interval, *duration, tid, res)
	fmt.Printf("ready pid=%d tid=%d\n", os.Getpid(), <-tid)
	json.NewEncoder(os.Stdout).Encode(<-res)
}
