// goleaf spins in a frameless Go leaf function: the frameless-leaf plant
// for Go.
//
// Known behaviour: one goroutine, locked to its thread, calls
// main.leafMix (no locals, no calls: the compiler gives it no frame,
// NOFRAME in `go build -gcflags=-S`) from main.callLeaf in a loop, so
// almost all of that thread's CPU time is in main.leafMix called from
// main.callLeaf. A frame-pointer walk from inside leafMix skips callLeaf.
//
// Usage: goleaf [-duration D] (0: until killed). It prints
// "ready pid=<pid> tid=<tid>" once the spinning thread runs.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

var sink uint64

// leafMix mixes n rounds into x. It must stay frameless: no locals that
// spill, no calls.
//
//go:noinline
func leafMix(x, n uint64) uint64 {
	for i := uint64(0); i < n; i++ {
		x ^= x<<13 + i
		x ^= x >> 7
	}
	return x
}

// callLeaf calls leafMix forever.
//
//go:noinline
func callLeaf(ready chan<- int) {
	runtime.LockOSThread()
	ready <- syscall.Gettid()
	x := uint64(1)
	for {
		x = leafMix(x, 1<<16)
		sink += x
	}
}

func main() {
	duration := flag.Duration("duration", 0, "run this long (0: until killed)")
	flag.Parse()
	ready := make(chan int)
	go callLeaf(ready)
	tid := <-ready
	fmt.Printf("ready pid=%d tid=%d\n", os.Getpid(), tid)
	if *duration > 0 {
		time.Sleep(*duration)
		return
	}
	select {}
}
