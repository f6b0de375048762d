// Command waithealthy is a healthy Go program, for the diagnosis plugins
// to find nothing wrong with, serving the Go runtime's profiles
// (net/http/pprof and fgprof) on loopback like the planted ones.
//
// Known behaviour, by -mode:
//
//	idle       main blocks forever; nothing runs but the profile server.
//	keepalive  an HTTPS service on loopback (main.handleHello answers a
//	           small JSON document) and one client, main.keepAliveClient,
//	           that sends -rate requests a second (default 20) through one
//	           http.Client, reading each body to the end and closing it, so
//	           that one TLS connection is set up once and reused: one
//	           handshake per side in all, no lock held for long, no disk
//	           I/O, a few percent of one CPU.
//
// It prints "ready pid=<pid> addr=<pprof host:port>" once running (for
// keepalive, after the first request succeeded), and after -duration
// (0 = until killed; SIGINT/SIGTERM also stop it) prints
// {"mode":..,"requests":n,"errors":n} and exits 0.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/felixge/fgprof"

	"github.com/perfprobe/perfprobe/internal/testcert"
)

var requests, failures atomic.Int64

// handleHello answers every request with a small JSON document.
//
//go:noinline
func handleHello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"hello":"world","path":%q}`, r.URL.Path)
}

// keepAliveClient sends rate requests a second to url through c until
// stop is closed.
//
//go:noinline
func keepAliveClient(c *http.Client, url string, rate int, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if err := get(c, url); err != nil {
				failures.Add(1)
			}
		}
	}
}

// get makes one request and reads its body to the end, so that the
// connection goes back to the pool.
func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	requests.Add(1)
	return nil
}

func main() {
	mode := flag.String("mode", "idle", "idle or keepalive")
	rate := flag.Int("rate", 20, "keepalive: requests a second")
	duration := flag.Duration("duration", 0, "how long to run (0 = until killed)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/debug/fgprof", fgprof.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "waithealthy:", err)
		os.Exit(1)
	}
	go http.Serve(ln, mux)

	stop := make(chan struct{})
	switch *mode {
	case "idle":
	case "keepalive":
		if *rate < 1 {
			fmt.Fprintln(os.Stderr, "waithealthy: -rate must be at least 1")
			os.Exit(2)
		}
		cert, pool, err := testcert.SelfSigned()
		if err != nil {
			fmt.Fprintln(os.Stderr, "waithealthy:", err)
			os.Exit(1)
		}
		app, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "waithealthy:", err)
			os.Exit(1)
		}
		srv := &http.Server{Handler: http.HandlerFunc(handleHello), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(app, "", "")
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}, Timeout: 5 * time.Second}
		url := "https://" + app.Addr().String() + "/hello"
		if err := get(c, url); err != nil {
			fmt.Fprintln(os.Stderr, "waithealthy: first request:", err)
			os.Exit(1)
		}
		go keepAliveClient(c, url, *rate, stop)
	default:
		fmt.Fprintf(os.Stderr, "waithealthy: -mode %q: want idle or keepalive\n", *mode)
		os.Exit(2)
	}
	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	close(stop)
	json.NewEncoder(os.Stdout).Encode(map[string]any{"mode": *mode, "requests": requests.Load(), "errors": failures.Load()})
}
