// Command tlsserver is a Go TLS server under handshake load from a
// built-in loopback client.
//
// Known behaviour: a crypto/tls server on 127.0.0.1:0 (self-signed ECDSA
// P-256 certificate generated in-process, session tickets off) answers
// each connection with one line after the handshake. -clients goroutines
// (0 = none: serve only) loop dialing a new connection each time, doing a
// full handshake (no ClientSessionCache, so no resumption), reading the
// line and closing, until -duration elapses. Every client-side error (dial,
// handshake, read) is counted; none is expected. With -mute (for -clients
// 0) the server closes each connection right after its handshake, writing
// nothing.
//
// It prints "ready pid=<pid> addr=<host:port>" once listening, starts the
// clients -delay later (so a probe can attach first), runs them for
// -duration (0 = until killed; SIGINT/SIGTERM also stop it), then prints
// {"handshakes":n,"client_errors":e,"server_errors":s,"seconds":t,
// "cpu_seconds":c,"first_error":"..."} (handshakes completed by the
// clients in t seconds of load; c = the process's user+system CPU time
// over its whole life) and exits 0.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/internal/testcert"
)

type result struct {
	Handshakes   int64   `json:"handshakes"`
	ClientErrors int64   `json:"client_errors"`
	ServerErrors int64   `json:"server_errors"`
	Seconds      float64 `json:"seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	FirstError   string  `json:"first_error,omitempty"`
}

var (
	handshakes, clientErrors, serverErrors atomic.Int64
	firstError                             atomic.Value
)

// serveConn does the server side of one connection.
//
//go:noinline
func serveConn(conn net.Conn, cfg *tls.Config) {
	tc := tls.Server(conn, cfg)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		serverErrors.Add(1)
		return
	}
	if !mute {
		io.WriteString(tc, "hello\n")
	}
}

// mute is -mute: no line after the handshake.
var mute bool

// clientOnce does one full handshake and reads the server's line.
//
//go:noinline
func clientOnce(addr string, cfg *tls.Config) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	tc := tls.Client(conn, cfg)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		return err
	}
	handshakes.Add(1)
	var buf [6]byte
	_, err = io.ReadFull(tc, buf[:])
	return err
}

func main() {
	clients := flag.Int("clients", 1, "loopback client goroutines (0 = serve only)")
	duration := flag.Duration("duration", 0, "how long to run the clients (0 = until killed)")
	delay := flag.Duration("delay", 0, "start the clients this long after the ready line")
	flag.BoolVar(&mute, "mute", false, "close each connection right after the handshake, writing nothing")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	cert, pool, err := testcert.SelfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsserver:", err)
		os.Exit(1)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsserver:", err)
		os.Exit(1)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveConn(conn, srvCfg)
		}
	}()

	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())
	select {
	case <-sig:
		*clients, *duration = 0, time.Nanosecond
	case <-time.After(*delay):
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cliCfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := clientOnce(ln.Addr().String(), cliCfg); err != nil {
					clientErrors.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	begin := time.Now()
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	close(stop)
	wg.Wait()
	r := result{
		Handshakes:   handshakes.Load(),
		ClientErrors: clientErrors.Load(),
		ServerErrors: serverErrors.Load(),
		Seconds:      time.Since(begin).Seconds(),
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if e, ok := firstError.Load().(string); ok {
		r.FirstError = e
	}
	json.NewEncoder(os.Stdout).Encode(r)
}
