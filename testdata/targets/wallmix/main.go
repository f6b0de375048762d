// Command wallmix spends known shares of one goroutine's wall time in three
// ways, and serves the Go runtime's profiles (net/http/pprof and fgprof) so
// that eBPF and Go views of the same window can be compared.
//
// Known behaviour: one worker goroutine, locked to its OS thread, repeats a
// cycle of -cycle (default 100ms):
//
//	main.spinPhase   50% on CPU, a busy loop spread evenly over four leaf
//	                 functions main.stepA..main.stepD (25% each), unless
//	                 -slow-step X makes main.stepX do -slow-factor times the
//	                 work (a planted regression: X then holds
//	                 factor/(factor+3) of the spin)
//	main.sleepPhase  30% blocked in the kernel: syscall.Nanosleep, so the
//	                 thread itself sleeps with this function on its stack
//	main.lockPhase   20% waiting for a sync.Mutex that main.holder keeps
//	                 (the goroutine parks in the Go runtime; its locked
//	                 thread waits with it)
//
// The shares can be changed with -spin, -sleep and -lock (fractions of the
// cycle). It serves /debug/pprof/ and /debug/fgprof on -addr (default a
// free loopback port), prints "ready pid=<pid> tid=<worker tid>
// addr=<host:port>" once the worker runs, and, after -duration (0 = until
// killed; SIGINT/SIGTERM also stop it), prints {"cycles":n,"spin_ns":..,
// "sleep_ns":..,"lock_ns":..} with the time it measured in each phase and
// exits 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/felixge/fgprof"
)

var (
	stop   atomic.Bool
	sink   uint64
	mu     sync.Mutex
	holdCh = make(chan time.Duration)
	heldCh = make(chan struct{})
)

// work[i] is how many rounds step i does per call.
var work = [4]int{1, 1, 1, 1}

//go:noinline
func spinPhase(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		stepA(work[0])
		stepB(work[1])
		stepC(work[2])
		stepD(work[3])
	}
}

// Each step does n rounds of integer work (about 2µs each) in its own
// body, so that it, not a shared helper, is the leaf on CPU.

//go:noinline
func stepA(n int) {
	x := sink
	for i := 0; i < n*1000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func stepB(n int) {
	x := sink
	for i := 0; i < n*1000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func stepC(n int) {
	x := sink
	for i := 0; i < n*1000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func stepD(n int) {
	x := sink
	for i := 0; i < n*1000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func sleepPhase(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// lockPhase asks the holder to take the mutex for d, then waits for it.
//
//go:noinline
func lockPhase(d time.Duration) {
	holdCh <- d
	<-heldCh
	mu.Lock()
	mu.Unlock()
}

// holder takes the mutex when asked and keeps it for the time asked.
//
//go:noinline
func holder() {
	for d := range holdCh {
		mu.Lock()
		heldCh <- struct{}{}
		time.Sleep(d)
		mu.Unlock()
	}
}

type result struct {
	Cycles  int   `json:"cycles"`
	SpinNs  int64 `json:"spin_ns"`
	SleepNs int64 `json:"sleep_ns"`
	LockNs  int64 `json:"lock_ns"`
}

//go:noinline
func worker(cycle time.Duration, spin, sleep, lock float64, duration time.Duration, tid chan<- int, res chan<- result) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	var r result
	begin := time.Now()
	phase := func(f func(time.Duration), share float64, acc *int64) {
		t0 := time.Now()
		f(time.Duration(share * float64(cycle)))
		*acc += int64(time.Since(t0))
	}
	for !stop.Load() && (duration <= 0 || time.Since(begin) < duration) {
		phase(spinPhase, spin, &r.SpinNs)
		phase(sleepPhase, sleep, &r.SleepNs)
		phase(lockPhase, lock, &r.LockNs)
		r.Cycles++
	}
	res <- r
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address for /debug/pprof/ and /debug/fgprof")
	cycle := flag.Duration("cycle", 100*time.Millisecond, "length of one spin+sleep+lock cycle")
	spin := flag.Float64("spin", 0.5, "share of the cycle spent spinning")
	sleep := flag.Float64("sleep", 0.3, "share of the cycle spent in nanosleep")
	lock := flag.Float64("lock", 0.2, "share of the cycle spent waiting for the mutex")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	slowStep := flag.String("slow-step", "", "make this step (a, b, c or d) do -slow-factor times the work")
	slowFactor := flag.Int("slow-factor", 4, "work multiplier of -slow-step")
	flag.Parse()
	if *slowStep != "" {
		i := int((*slowStep)[0] - 'a')
		if len(*slowStep) != 1 || i < 0 || i > 3 || *slowFactor < 1 {
			fmt.Fprintln(os.Stderr, "wallmix: -slow-step takes a, b, c or d and -slow-factor a positive number")
			os.Exit(2)
		}
		work[i] = *slowFactor
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/debug/fgprof", fgprof.Handler())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wallmix:", err)
		os.Exit(1)
	}
	go http.Serve(ln, mux)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()

	go holder()
	tid := make(chan int)
	res := make(chan result)
	go worker(*cycle, *spin, *sleep, *lock, *duration, tid, res)
	fmt.Printf("ready pid=%d tid=%d addr=%s\n", os.Getpid(), <-tid, ln.Addr())
	json.NewEncoder(os.Stdout).Encode(<-res)
}
