package fetch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestOwnConnHook: the built-in client tells the hook of each connection
// before it connects (the listener has not seen it yet), with the local
// port the server then sees as the peer's and this process's network
// namespace, and calls closed once when the connection is closed.
func TestOwnConnHook(t *testing.T) {
	// The thread's namespace, not the process's: /proc/self names the
	// main thread's, which an earlier test's netns dial may have left in
	// another namespace (a locked goroutine that exits wedges the main
	// thread instead of ending it).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Skipf("no network namespace file: %v", err)
	}
	var (
		mu     sync.Mutex
		peers  = map[string]bool{}
		told   []uint16
		closed = map[uint16]int{}
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers[r.RemoteAddr] = true
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	srv.Start()
	defer srv.Close()
	hook := func(netns uint64, port uint16) func() {
		if netns != st.Ino {
			t.Errorf("netns %d, want ours %d", netns, st.Ino)
		}
		mu.Lock()
		told = append(told, port)
		mu.Unlock()
		return func() {
			mu.Lock()
			closed[port]++
			mu.Unlock()
		}
	}
	ep := &Endpoint{discovered: true}
	c := newClient(ep, hook)
	for range 3 {
		a, err := get(context.Background(), c, srv.URL+"/", 100)
		if err != nil || string(a.body) != "ok" {
			t.Fatalf("get: %v %v", a, err)
		}
	}
	c.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(closed)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 { // keep-alive: one connection
		t.Fatalf("hook told of %d connections (%v), want 1", len(told), told)
	}
	want := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(told[0])))
	if !peers[want] || len(peers) != 1 {
		t.Errorf("server saw peers %v, want only %s", peers, want)
	}
	if closed[told[0]] != 1 || len(closed) != 1 {
		t.Errorf("closed called %v, want once for port %d", closed, told[0])
	}
}

// TestOwnConnHookRefused: a connection that fails tells the hook it is
// closed at once.
func TestOwnConnHookRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var told, closed int
	d := &dialer{own: func(uint64, uint16) func() { told++; return func() { closed++ } }}
	if c, err := d.dial(context.Background(), "tcp", addr); err == nil {
		c.Close()
		t.Fatalf("dialing a closed port succeeded")
	}
	if told != 1 || closed != 1 {
		t.Errorf("told %d, closed %d: want 1 and 1", told, closed)
	}
}

// BenchmarkDial: a connection to a loopback listener with and without the
// own-connection hook (bind, getsockname, SIOCGSKNS before connect).
func BenchmarkDial(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		own  ConnHook
	}{{"plain", nil}, {"hook", func(uint64, uint16) func() { return func() {} }}} {
		b.Run(tc.name, func(b *testing.B) {
			d := &dialer{own: tc.own}
			for b.Loop() {
				c, err := d.dial(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
