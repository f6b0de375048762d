// Command tlshandshakes does an exact number of Go crypto/tls handshakes
// against itself and measures each one.
//
// Known behaviour: one process is both a TLS server (127.0.0.1:0, a
// self-signed ECDSA P-256 certificate generated in-process) and its client.
// It does -n handshakes one after another, each on a new TCP connection,
// with session resumption off (SessionTicketsDisabled on the server, no
// ClientSessionCache on the client), so each one is a full handshake on
// both sides. The last -fail of them fail on purpose: the client asks for a
// ServerName the certificate does not name, so it rejects the certificate,
// sends an alert, and the server's handshake fails on that alert too.
//
// The client side of each handshake runs in main.clientHandshakeOnce, the
// server side in main.serverHandshakeOnce (both //go:noinline), so the
// stacks that started the handshakes are known. Each side measures its own
// handshake (the (*tls.Conn).HandshakeContext call) with the monotonic
// clock.
//
// It prints "ready pid=<pid> addr=<host:port>" once listening, waits -delay
// and, with -wait-signal, until SIGUSR1 arrives (so a probe can attach),
// does the handshakes (with -every D, handshake i starts at i*D after the
// first, or at once when it is late: a steady rate), prints
// {"handshakes":N,"failed":F,"client_ok":..,"client_failed":..,
// "server_ok":..,"server_failed":..,"client_p50_ns":..,"server_p50_ns":..,
// "client_mean_ns":..,"server_mean_ns":..} and exits 0. With -hold-after it
// then starts one more client handshake against a server that never
// answers and blocks in it until killed (a target that exits mid-handshake).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/internal/testcert"
)

type result struct {
	Handshakes    int   `json:"handshakes"`
	Failed        int   `json:"failed"`
	ClientOK      int   `json:"client_ok"`
	ClientFailed  int   `json:"client_failed"`
	ServerOK      int   `json:"server_ok"`
	ServerFailed  int   `json:"server_failed"`
	ClientP50NS   int64 `json:"client_p50_ns"`
	ServerP50NS   int64 `json:"server_p50_ns"`
	ClientMeanNS  int64 `json:"client_mean_ns"`
	ServerMeanNS  int64 `json:"server_mean_ns"`
	ClientTotalNS int64 `json:"client_total_ns"`
	ServerTotalNS int64 `json:"server_total_ns"`
}

type measured struct {
	d   time.Duration
	err error
}

// serverHandshakeOnce does the server side of one handshake on conn and
// closes it.
//
//go:noinline
func serverHandshakeOnce(conn net.Conn, cfg *tls.Config) measured {
	tc := tls.Server(conn, cfg)
	defer tc.Close()
	t0 := time.Now()
	err := tc.HandshakeContext(context.Background())
	return measured{time.Since(t0), err}
}

// clientHandshakeOnce dials addr and does the client side of one handshake.
//
//go:noinline
func clientHandshakeOnce(addr string, cfg *tls.Config) (measured, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return measured{}, err
	}
	tc := tls.Client(conn, cfg)
	defer tc.Close()
	t0 := time.Now()
	err = tc.HandshakeContext(context.Background())
	return measured{time.Since(t0), err}, nil
}

func p50(ds []time.Duration) int64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return int64(s[(len(s)-1)/2])
}

func sum(ds []time.Duration) int64 {
	var t int64
	for _, d := range ds {
		t += int64(d)
	}
	return t
}

func main() {
	n := flag.Int("n", 100, "handshakes to do")
	fail := flag.Int("fail", 0, "how many of them fail on purpose (the last ones)")
	delay := flag.Duration("delay", 0, "wait this long after the ready line before starting")
	waitSignal := flag.Bool("wait-signal", false, "after -delay, also wait for SIGUSR1 before starting")
	holdAfter := flag.Bool("hold-after", false, "after the summary, block in one more client handshake until killed")
	every := flag.Duration("every", 0, "start a handshake every this long (0: one after another)")
	flag.Parse()
	if *fail > *n || *n < 0 || *fail < 0 {
		fmt.Fprintln(os.Stderr, "tlshandshakes: need 0 <= -fail <= -n")
		os.Exit(2)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)

	cert, pool, err := testcert.SelfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlshandshakes:", err)
		os.Exit(1)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlshandshakes:", err)
		os.Exit(1)
	}
	server := make(chan measured)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			server <- serverHandshakeOnce(conn, srvCfg)
		}
	}()

	fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())
	time.Sleep(*delay)
	if *waitSignal {
		<-usr1
	}

	good := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	bad := &tls.Config{RootCAs: pool, ServerName: "wrong.invalid"}
	var r result
	var client, srv []time.Duration
	began := time.Now()
	for i := range *n {
		if *every > 0 {
			time.Sleep(time.Until(began.Add(time.Duration(i) * *every)))
		}
		cfg := good
		if i >= *n-*fail {
			cfg = bad
		}
		c, err := clientHandshakeOnce(ln.Addr().String(), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlshandshakes: dial:", err)
			os.Exit(1)
		}
		s := <-server
		client, srv = append(client, c.d), append(srv, s.d)
		r.Handshakes++
		if c.err != nil {
			r.ClientFailed++
		} else {
			r.ClientOK++
		}
		if s.err != nil {
			r.ServerFailed++
		} else {
			r.ServerOK++
		}
		if c.err != nil || s.err != nil {
			r.Failed++
		}
	}
	r.ClientP50NS, r.ServerP50NS = p50(client), p50(srv)
	r.ClientTotalNS, r.ServerTotalNS = sum(client), sum(srv)
	if len(client) > 0 {
		r.ClientMeanNS, r.ServerMeanNS = r.ClientTotalNS/int64(len(client)), r.ServerTotalNS/int64(len(srv))
	}
	json.NewEncoder(os.Stdout).Encode(r)

	if *holdAfter {
		// A server that accepts and never answers: the client handshake
		// blocks reading the ServerHello until the process is killed.
		mute, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(1)
		}
		clientHandshakeOnce(mute.Addr().String(), good)
	}
}
