// Command pingpong is a context-switch-heavy workload: -pairs N pairs of OS
// threads (runtime.LockOSThread) bounce one byte back and forth over two
// pipes, so every round trip is two blocking reads, two wakeups and at
// least two context switches.
//
// It prints "ready pid=<pid>", bounces for -warmup uncounted, then counts
// round trips until -duration elapses (0 = until SIGINT/SIGTERM), prints
// {"round_trips":n,"seconds":s} for the counted part and exits 0.
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

var (
	stop  atomic.Bool
	trips atomic.Uint64
)

// bounce reads one byte from in and writes it to out until stopped.
//
//go:noinline
func bounce(in, out int, serve bool, wg *sync.WaitGroup) {
	defer wg.Done()
	runtime.LockOSThread()
	b := []byte{1}
	if serve {
		syscall.Write(out, b)
	}
	for !stop.Load() {
		if _, err := syscall.Read(in, b); err != nil {
			break
		}
		if serve {
			trips.Add(1)
		}
		if _, err := syscall.Write(out, b); err != nil {
			break
		}
	}
}

func main() {
	pairs := flag.Int("pairs", 1, "number of ping-pong thread pairs")
	duration := flag.Duration("duration", 0, "how long to count round trips (0: until killed)")
	warmup := flag.Duration("warmup", 0, "how long to bounce before counting")
	flag.Parse()
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2**pairs+1))

	var wg sync.WaitGroup
	var fds [][2]int
	for range *pairs {
		var a, b [2]int
		if err := syscall.Pipe(a[:]); err != nil {
			panic(err)
		}
		if err := syscall.Pipe(b[:]); err != nil {
			panic(err)
		}
		fds = append(fds, a, b)
		wg.Add(2)
		go bounce(b[0], a[1], true, &wg)
		go bounce(a[0], b[1], false, &wg)
	}
	fmt.Printf("ready pid=%d\n", os.Getpid())
	time.Sleep(*warmup)
	start, base := time.Now(), trips.Load()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	n, secs := trips.Load()-base, time.Since(start).Seconds()
	stop.Store(true)
	for _, p := range fds { // unblock readers
		syscall.Close(p[1])
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(map[string]any{"round_trips": n, "seconds": secs})
}
