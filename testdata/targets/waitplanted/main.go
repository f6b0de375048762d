// Command waitplanted plants one known kind of waiting, for the waiting
// and system diagnosis plugins to find, and serves the Go runtime's
// profiles (net/http/pprof and fgprof) on loopback so that an attach
// fetches go_wall, go_mutex_delay and the rest.
//
// Known behaviour: one worker goroutine, locked to its OS thread (the
// "tid" of the ready line), repeats a cycle of -cycle (default 100ms):
// -share of it (default 0.5) in the planted wait, the rest in main.spin
// (a busy loop on CPU). The planted share is therefore -share of the
// worker's wall time (of its thread's, for the modes that block the
// thread). With -mode:
//
//	tls     main.tlsDial, back to back: a new loopback TCP connection and a
//	        full TLS 1.3 handshake (ECDSA P-256, session tickets off) against
//	        the server goroutine main.tlsServe, then close. The worker's
//	        wall time in crypto/tls handshake frames is -share of it, less
//	        the dials (~5% of the phase); the process's CPU in handshakes
//	        is about the same share (client and server take turns).
//	lock    main.lockPhase: asks main.lockHolder to take a sync.Mutex for
//	        the phase's length (it holds it in time.Sleep), then waits in
//	        sync.(*Mutex).Lock until it is released: -share of the worker's
//	        wall time in Lock (the goroutine parks; no thread blocks on
//	        it). -mutex-fraction sets runtime.SetMutexProfileFraction
//	        (default 0: off, as in most programs).
//	fsync   main.writeRecord writes 64 bytes to a file in -dir and
//	        main.syncFile fsyncs it, back to back: "fsync on every write",
//	        -share of the thread's wall time in the pair, nearly all of it
//	        in fsync.
//	iowait  main.directRead reads 1 MiB at a random aligned offset of a
//	        16 MiB O_DIRECT file in -dir (pread64), back to back: -share of
//	        the thread's wall time in pread64, in D state waiting for the
//	        disk.
//	throttle -threads goroutines (default 2), each locked to its thread,
//	        spin in main.throttledSpin all the time (-share and -cycle are
//	        not used): the process wants that many CPUs, so a cgroup quota
//	        below it throttles it in every period.
//
// -dir must be on a block device for fsync and iowait (not tmpfs).
//
// It prints "ready pid=<pid> tid=<worker tid> addr=<pprof host:port>" once
// the worker runs, and after -duration (0 = until killed; SIGINT/SIGTERM
// also stop it) prints {"mode":..,"cycles":n,"wait_ns":..,"spin_ns":..,
// "ops":n} (the time it measured in each phase and the planted operations
// done) and exits 0.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/felixge/fgprof"

	"github.com/perfprobe/perfprobe/internal/testcert"
)

var (
	stop atomic.Bool
	sink atomic.Uint64
	ops  atomic.Int64
)

type result struct {
	Mode   string `json:"mode"`
	Cycles int    `json:"cycles"`
	WaitNs int64  `json:"wait_ns"`
	SpinNs int64  `json:"spin_ns"`
	Ops    int64  `json:"ops"`
}

// spin keeps the CPU busy for d.
//
//go:noinline
func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := sink.Load()
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Store(x)
}

// tlsDial makes one loopback connection to addr and its client handshake.
//
//go:noinline
func tlsDial(addr string, cfg *tls.Config) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	tc := tls.Client(conn, cfg)
	defer tc.Close()
	return tc.HandshakeContext(context.Background())
}

// tlsServe accepts connections on ln and does their server handshake.
//
//go:noinline
func tlsServe(ln net.Listener, cfg *tls.Config) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(conn, cfg)
		tc.HandshakeContext(context.Background())
		tc.Close()
	}
}

var (
	mu     sync.Mutex
	holdCh = make(chan time.Duration)
	heldCh = make(chan struct{})
)

// lockPhase asks the holder to take the mutex for d, then waits for it.
//
//go:noinline
func lockPhase(d time.Duration) {
	holdCh <- d
	<-heldCh
	mu.Lock()
	mu.Unlock()
}

// lockHolder takes the mutex when asked and keeps it for the time asked.
//
//go:noinline
func lockHolder() {
	for d := range holdCh {
		mu.Lock()
		heldCh <- struct{}{}
		time.Sleep(d)
		mu.Unlock()
	}
}

// writeRecord writes b at offset off of fd.
//
//go:noinline
func writeRecord(fd int, b []byte, off int64) error {
	_, err := syscall.Pwrite(fd, b, off)
	return err
}

// syncFile fsyncs fd.
//
//go:noinline
func syncFile(fd int) error { return syscall.Fsync(fd) }

// directRead reads len(b) bytes at off of the O_DIRECT file fd.
//
//go:noinline
func directRead(fd int, b []byte, off int64) error {
	n, err := syscall.Pread(fd, b, off)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short O_DIRECT read: %d of %d bytes", n, len(b))
	}
	return err
}

// throttledSpin spins until stopped.
//
//go:noinline
func throttledSpin() {
	runtime.LockOSThread()
	for !stop.Load() {
		spin(time.Millisecond)
	}
}

const (
	directSize  = 16 << 20
	directBlock = 1 << 20
)

// setup prepares mode's wait phase: a function that waits for d.
func setup(mode, dir string) (func(d time.Duration) error, func(), error) {
	repeat := func(op func() error) func(time.Duration) error {
		return func(d time.Duration) error {
			end := time.Now().Add(d)
			for time.Now().Before(end) {
				if err := op(); err != nil {
					return err
				}
				ops.Add(1)
			}
			return nil
		}
	}
	switch mode {
	case "tls":
		cert, pool, err := testcert.SelfSigned()
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		go tlsServe(ln, &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true})
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
		addr := ln.Addr().String()
		return repeat(func() error { return tlsDial(addr, cfg) }), func() { ln.Close() }, nil
	case "lock":
		go lockHolder()
		return func(d time.Duration) error { lockPhase(d); ops.Add(1); return nil }, func() {}, nil
	case "fsync":
		f, err := os.CreateTemp(dir, "waitplanted-fsync-*")
		if err != nil {
			return nil, nil, err
		}
		fd := int(f.Fd())
		b := make([]byte, 64)
		var off int64
		return repeat(func() error {
				if err := writeRecord(fd, b, off); err != nil {
					return err
				}
				off = (off + 64) % (1 << 20)
				return syncFile(fd)
			}), func() {
				f.Close()
				os.Remove(f.Name())
			}, nil
	case "iowait":
		name := filepath.Join(dir, fmt.Sprintf("waitplanted-direct-%d", os.Getpid()))
		if err := os.WriteFile(name, make([]byte, directSize), 0o600); err != nil {
			return nil, nil, err
		}
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
		if err != nil {
			os.Remove(name)
			return nil, nil, fmt.Errorf("opening %s with O_DIRECT (is -dir on tmpfs?): %w", name, err)
		}
		// mmap memory is page-aligned, as O_DIRECT needs.
		buf, err := syscall.Mmap(-1, 0, directBlock, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return nil, nil, err
		}
		return repeat(func() error {
				return directRead(fd, buf, int64(rand.IntN(directSize/directBlock))*directBlock)
			}), func() {
				syscall.Close(fd)
				os.Remove(name)
				syscall.Munmap(buf)
			}, nil
	}
	return nil, nil, fmt.Errorf("-mode %q: want tls, lock, fsync, iowait or throttle", mode)
}

// worker repeats the cycle: wait for share of it, spin for the rest.
//
//go:noinline
func worker(wait func(time.Duration) error, cycle time.Duration, share float64, tid chan<- int, res chan<- result, errs chan<- error) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	var r result
	for !stop.Load() {
		t0 := time.Now()
		if err := wait(time.Duration(share * float64(cycle))); err != nil {
			errs <- err
			return
		}
		t1 := time.Now()
		spin(time.Duration((1 - share) * float64(cycle)))
		r.WaitNs += int64(t1.Sub(t0))
		r.SpinNs += int64(time.Since(t1))
		r.Cycles++
	}
	res <- r
}

func main() {
	mode := flag.String("mode", "", "tls, lock, fsync, iowait or throttle")
	cycle := flag.Duration("cycle", 100*time.Millisecond, "length of one wait+spin cycle")
	share := flag.Float64("share", 0.5, "share of the cycle in the planted wait")
	threads := flag.Int("threads", 2, "throttle: spinning threads")
	dir := flag.String("dir", os.TempDir(), "fsync, iowait: directory for the file (on a block device)")
	mutexFraction := flag.Int("mutex-fraction", 0, "lock: runtime.SetMutexProfileFraction (0: off)")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()
	if *share < 0 || *share > 1 {
		fmt.Fprintln(os.Stderr, "waitplanted: -share must be in [0, 1]")
		os.Exit(2)
	}
	runtime.SetMutexProfileFraction(*mutexFraction)

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/debug/fgprof", fgprof.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitplanted:", err)
		os.Exit(1)
	}
	go http.Serve(ln, mux)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	if *duration > 0 {
		time.AfterFunc(*duration, func() { stop.Store(true) })
	}

	res := make(chan result, 1)
	errs := make(chan error, 1)
	tid := make(chan int, *threads)
	if *mode == "throttle" {
		for range *threads {
			go func() { tid <- syscall.Gettid(); throttledSpin() }()
		}
		fmt.Printf("ready pid=%d tid=%d addr=%s\n", os.Getpid(), <-tid, ln.Addr())
		for !stop.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		json.NewEncoder(os.Stdout).Encode(result{Mode: *mode})
		return
	}
	wait, cleanup, err := setup(*mode, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitplanted:", err)
		os.Exit(1)
	}
	defer cleanup()
	go worker(wait, *cycle, *share, tid, res, errs)
	fmt.Printf("ready pid=%d tid=%d addr=%s\n", os.Getpid(), <-tid, ln.Addr())
	select {
	case r := <-res:
		r.Mode, r.Ops = *mode, ops.Load()
		json.NewEncoder(os.Stdout).Encode(r)
	case err := <-errs:
		fmt.Fprintln(os.Stderr, "waitplanted:", err)
		cleanup()
		os.Exit(1)
	}
}
