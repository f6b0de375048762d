// Command servedemo is a Go program that serves its own profiles with
// profile/serve, the way a service adds it in two lines.
//
// Known behaviour: one goroutine chains SHA-256 hashes over a 4 KiB
// buffer in main.hotLoop without pause, so main.hotLoop is on the CPU
// about one CPU-second per wall-clock second and holds nearly all of the
// program's CPU profile. Its profiles are served on a free loopback port
// (serve's default); with -pyroscope-url it also pushes to Pyroscope
// every -upload-rate under -service.
//
// It prints "ready pid=<pid> addr=<profiles host:port>" once serving and
// hashing, runs until -duration elapses (0 = until killed; SIGINT/SIGTERM
// also stop it), then prints {"hashes":n,"seconds":s} and exits 0.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/profile/serve"
)

var (
	stop   atomic.Bool
	hashes atomic.Int64
)

// hotLoop chains SHA-256 over a 4 KiB buffer until stop.
//
//go:noinline
func hotLoop() {
	buf := make([]byte, 4<<10)
	var sum [32]byte
	for !stop.Load() {
		copy(buf, sum[:])
		sum = sha256.Sum256(buf)
		hashes.Add(1)
	}
}

func main() {
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	service := flag.String("service", "servedemo", "service name in Pyroscope")
	pyroscopeURL := flag.String("pyroscope-url", "", "push to this Pyroscope server too")
	uploadRate := flag.Duration("upload-rate", 0, "how often to push to Pyroscope (0 = pyroscope-go's default)")
	flag.Parse()

	srv, err := serve.Start(serve.Options{ServiceName: *service,
		Pyroscope: serve.PyroscopeOptions{URL: *pyroscopeURL, UploadRate: *uploadRate}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "servedemo:", err)
		os.Exit(1)
	}
	defer srv.Close()

	done := make(chan struct{})
	go func() { hotLoop(); close(done) }()
	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), srv.Addr())
	begin := time.Now()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	select {
	case <-timeout:
	case <-sig:
	}
	stop.Store(true)
	<-done
	json.NewEncoder(os.Stdout).Encode(map[string]any{"hashes": hashes.Load(), "seconds": time.Since(begin).Seconds()})
}
