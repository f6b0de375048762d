// Command twowaits has a thread that blocks in turn at two call sites
// entering the kernel at one instruction: a short wait, then a long one.
//
// Known behaviour: a goroutine locked to its OS thread (runtime.LockOSThread)
// loops calling main.shortWait (nanosleep of -short, 1ms by default) and
// then main.longWait (nanosleep of -long, 40ms by default). Both sleep
// through syscall.Syscall, so the thread enters the kernel at the same
// user instruction with the same syscall number; only their callers
// differ. Of that thread's blocked time, main.longWait holds long/(short+
// long) (97.6% by default) and main.shortWait the rest. (syscall.Syscall,
// not RawSyscall: the runtime knows the goroutine is in a syscall and sends
// it no preemption signals; a sleep cut short by a signal all the same,
// EINTR, goes on for what remains from the same call site.)
//
// It prints "ready pid=<pid> tid=<tid>" (tid = the locked thread) once the
// loop runs, runs until -duration elapses (0 = until killed; SIGINT/SIGTERM
// also stop it), then prints {"rounds":<count>} and exits 0.
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
	"unsafe"
)

var stop atomic.Bool

// nanosleep sleeps d, going on after EINTR for what remains.
//
//go:noinline
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		_, _, e := syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&rem)), 0)
		if e != syscall.EINTR {
			return
		}
		ts = rem
	}
}

//go:noinline
func shortWait(d time.Duration) { nanosleep(d) }

//go:noinline
func longWait(d time.Duration) { nanosleep(d) }

//go:noinline
func loop(short, long time.Duration, tid chan<- int, done chan<- int) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	n := 0
	for !stop.Load() {
		shortWait(short)
		longWait(long)
		n++
	}
	done <- n
}

func main() {
	short := flag.Duration("short", time.Millisecond, "length of each short wait")
	long := flag.Duration("long", 40*time.Millisecond, "length of each long wait")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	if *duration > 0 {
		time.AfterFunc(*duration, func() { stop.Store(true) })
	}

	tid, rounds := make(chan int), make(chan int)
	go loop(*short, *long, tid, rounds)
	fmt.Printf("ready pid=%d tid=%d\n", os.Getpid(), <-tid)
	json.NewEncoder(os.Stdout).Encode(map[string]int{"rounds": <-rounds})
}
