// Command demo is a small HTTP service with known hot spots, used by
// `make demo` and by tests.
//
// Known behaviour, per endpoint (see the endpoints table):
//
//	/work   CPU-bound: main.hashWork chains SHA-256 over a 16 KiB buffer.
//	/lock   lock contention: main.lockedWork holds one global sync.Mutex while
//	        doing integer work, so concurrent /lock requests wait on it.
//	/sleep  off-CPU: blocks ~5ms in time.Sleep.
//
// net/http/pprof handlers are registered under /debug/pprof/. With -load C,
// C client goroutines loop over the endpoints in order on loopback.
//
// It prints "ready pid=<pid> addr=<host:port>" once listening (and the load
// generator, if any, has started), runs until -duration elapses (0 = until
// killed; SIGINT/SIGTERM also stop it), then prints
// {"requests":{"/work":n,...},"client_errors":n,"seconds":s} and exits 0.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type endpoint struct {
	path   string
	handle func(w http.ResponseWriter, r *http.Request)
	served atomic.Int64
}

// endpoints is the table of demo handlers; add new hot spots here.
var endpoints = []*endpoint{
	{path: "/work", handle: handleWork},
	{path: "/lock", handle: handleLock},
	{path: "/sleep", handle: handleSleep},
}

// hashWork chains rounds SHA-256 hashes over a 16 KiB buffer (~1-5ms at 200).
//
//go:noinline
func hashWork(rounds int) [32]byte {
	buf := make([]byte, 16<<10)
	var sum [32]byte
	for i := 0; i < rounds; i++ {
		copy(buf, sum[:])
		sum = sha256.Sum256(buf)
	}
	return sum
}

func handleWork(w http.ResponseWriter, r *http.Request) {
	sum := hashWork(200)
	io.WriteString(w, hex.EncodeToString(sum[:])+"\n")
}

var (
	lockMu    sync.Mutex
	lockState uint64 = 1
)

// lockedWork does n rounds of integer work while holding lockMu.
//
//go:noinline
func lockedWork(n int) uint64 {
	lockMu.Lock()
	defer lockMu.Unlock()
	x := lockState
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	lockState = x
	return x
}

func handleLock(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, strconv.FormatUint(lockedWork(500_000), 16)+"\n")
}

func handleSleep(w http.ResponseWriter, r *http.Request) {
	time.Sleep(5 * time.Millisecond)
	io.WriteString(w, "slept\n")
}

// load loops over the endpoints (starting at offset i) until ctx is done.
func load(ctx context.Context, client *http.Client, addr string, i int, errs *atomic.Int64) {
	for ; ctx.Err() == nil; i++ {
		url := "http://" + addr + endpoints[i%len(endpoints)].path
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			panic(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	clients := flag.Int("load", 0, "number of built-in load generator clients (0 = none)")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()

	for _, ep := range endpoints {
		http.HandleFunc(ep.path, func(w http.ResponseWriter, r *http.Request) {
			ep.handle(w, r)
			ep.served.Add(1)
		})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.DefaultServeMux}
	go srv.Serve(ln)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var clientErrors atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(ctx, client, ln.Addr().String(), i, &clientErrors)
		}()
	}
	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())
	begin := time.Now()

	waitFor(*duration)
	cancel()
	wg.Wait()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	srv.Shutdown(shutdownCtx)

	requests := map[string]int64{}
	for _, ep := range endpoints {
		requests[ep.path] = ep.served.Load()
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"requests":      requests,
		"client_errors": clientErrors.Load(),
		"seconds":       time.Since(begin).Seconds(),
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
