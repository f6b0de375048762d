// Command demo is a small HTTP service with known hot spots, used by
// `make demo` and by tests.
//
// Known behaviour, per endpoint (see the endpoints table):
//
//	/work   CPU-bound: main.hashWork chains SHA-256 over a 16 KiB buffer.
//	/lock   lock contention: main.lockedWork holds one global sync.Mutex while
//	        doing integer work, so concurrent /lock requests wait on it.
//	/sleep  off-CPU: blocks ~5ms in time.Sleep.
//	/write  disk: main.persistRecord appends 512 bytes to a file in -data-dir
//	        and fsyncs it (blocked in the kernel, uninterruptible).
//	/hello  served over TLS too: the load generator fetches it over HTTPS
//	        with a new connection per request and no session resumption,
//	        so every request pays a full handshake.
//
// Its Go profiles are served by profile/serve on a loopback port of their
// own (net/http/pprof under /debug/pprof/, fgprof at /debug/fgprof,
// godeltaprof's delta handlers), where attach finds them among its sockets;
// mutex and block profiling are on (every 5th contention, blocking events
// of 10µs and more). With -load C, C client goroutines loop over the
// endpoints in order on loopback, the last one over TLS.
//
// It prints "ready pid=<pid> addr=<host:port> tls=<host:port>
// pprof=<host:port>" once listening (and the load generator, if any, has started), runs until
// -duration elapses (0 = until
// killed; SIGINT/SIGTERM also stop it), then prints
// {"requests":{"/work":n,...},"client_errors":n,"seconds":s} and exits 0.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/internal/testcert"
	"github.com/perfprobe/perfprobe/profile/serve"
)

type endpoint struct {
	path   string
	handle func(w http.ResponseWriter, r *http.Request)
	tls    bool // the load generator fetches it over HTTPS, new connection each time
	served atomic.Int64
}

// endpoints is the table of demo handlers; add new hot spots here.
var endpoints = []*endpoint{
	{path: "/work", handle: handleWork},
	{path: "/lock", handle: handleLock},
	{path: "/sleep", handle: handleSleep},
	{path: "/write", handle: handleWrite},
	{path: "/hello", handle: handleHello, tls: true},
}

var (
	dataMu   sync.Mutex
	dataFile *os.File
)

// persistRecord appends a 512-byte record and fsyncs it.
//
//go:noinline
func persistRecord(rec []byte) error {
	dataMu.Lock()
	defer dataMu.Unlock()
	if _, err := dataFile.Write(rec); err != nil {
		return err
	}
	return dataFile.Sync()
}

func handleWrite(w http.ResponseWriter, r *http.Request) {
	rec := make([]byte, 512)
	copy(rec, time.Now().String())
	if err := persistRecord(rec); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "written\n")
}

func handleHello(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello\n")
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
func load(ctx context.Context, client, tlsClient *http.Client, addr, tlsAddr string, i int, errs *atomic.Int64) {
	for ; ctx.Err() == nil; i++ {
		ep := endpoints[i%len(endpoints)]
		c, url := client, "http://"+addr+ep.path
		if ep.tls {
			c, url = tlsClient, "https://"+tlsAddr+ep.path
		}
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			panic(err)
		}
		resp, err := c.Do(req)
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
	dataDir := flag.String("data-dir", "/var/tmp", "where /write appends and fsyncs (a temporary file)")
	flag.Parse()
	profiles, err := serve.Start(serve.Options{ServiceName: "demo", MutexFraction: 5, BlockRate: 10000})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer profiles.Close()

	if dataFile, err = os.CreateTemp(*dataDir, "perfprobe-demo-*.dat"); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer os.Remove(filepath.Clean(dataFile.Name()))

	mux := http.NewServeMux()
	for _, ep := range endpoints {
		mux.HandleFunc(ep.path, func(w http.ResponseWriter, r *http.Request) {
			ep.handle(w, r)
			ep.served.Add(1)
		})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	cert, pool, err := testcert.SelfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	tlsSrv := &http.Server{Handler: mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}}
	go tlsSrv.ServeTLS(tlsLn, "", "")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var clientErrors atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	tlsClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool}}} // no ClientSessionCache: no resumption
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(ctx, client, tlsClient, ln.Addr().String(), tlsLn.Addr().String(), i, &clientErrors)
		}()
	}
	fmt.Printf("ready pid=%d addr=%s tls=%s pprof=%s\n", os.Getpid(), ln.Addr(), tlsLn.Addr(), profiles.Addr())
	begin := time.Now()

	waitFor(*duration)
	cancel()
	wg.Wait()
	// The rate is over the load's time, not the shutdown's: Shutdown waits
	// for requests in flight, such as a profile a profiler is reading.
	elapsed := time.Since(begin)
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	srv.Shutdown(shutdownCtx)
	tlsSrv.Shutdown(shutdownCtx)

	requests := map[string]int64{}
	for _, ep := range endpoints {
		requests[ep.path] = ep.served.Load()
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"requests":      requests,
		"client_errors": clientErrors.Load(),
		"seconds":       elapsed.Seconds(),
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
