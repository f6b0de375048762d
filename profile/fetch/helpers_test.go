package fetch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	rpprof "runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/felixge/fgprof"
	"github.com/google/pprof/profile"
)

// The test binary doubles as a target process (a Go server with
// net/http/pprof) and as an unprivileged Discover caller, chosen by
// FETCH_TEST_HELPER.
func TestMain(m *testing.M) {
	switch os.Getenv("FETCH_TEST_HELPER") {
	case "serve":
		serveHelper()
		return
	case "discover":
		pid, _ := strconv.Atoi(os.Getenv("FETCH_TEST_PID"))
		_, err := Discover(context.Background(), pid, Options{})
		fmt.Println(err)
		return
	}
	// Mutex and block profiling stay on in this process, with one event of
	// each recorded, so that an empty delta here means "no contention in the
	// window"; profiling that is off is tested in a child process.
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	var stop atomic.Bool
	go func() { time.Sleep(20 * time.Millisecond); stop.Store(true) }()
	contendMutex(&stop)
	os.Exit(m.Run())
}

// serveHelper serves pprof (and fgprof) on 127.0.0.1, prints
// "READY host:port", and exits when its stdin closes. Mutex and block
// profiling are off.
func serveHelper() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	go http.Serve(ln, pprofMux(true))
	fmt.Println("READY", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startHelper starts the test binary as a pprof target, through wrap (e.g.
// unshare) if given, and returns it once it listens, with its address.
func startHelper(t *testing.T, wrap ...string) (*exec.Cmd, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(wrap[1:], exe)...)
	} else {
		cmd = exec.Command(exe, "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), "FETCH_TEST_HELPER=serve")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitOnce sync.Once
	wait := func() { waitOnce.Do(func() { cmd.Wait() }) }
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if err != nil || !ok {
		t.Fatalf("helper did not start: %q, %v", line, err)
	}
	// Reap it as soon as it exits, as a real target's parent would.
	go wait()
	return cmd, addr
}

// pprofMux serves net/http/pprof's handlers under /debug/pprof/ and,
// with fg, fgprof at /debug/fgprof, on a private mux.
func pprofMux(fg bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if fg {
		mux.Handle("/debug/fgprof", fgprof.Handler())
	}
	return mux
}

// serve starts an httptest server for h, closed at the end of the test.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// Known work for the profiles to show.

var sink atomic.Int64

//go:noinline
func spinTestWork(stop *atomic.Bool) {
	x := int64(0)
	for !stop.Load() {
		for i := int64(0); i < 100000; i++ {
			x += i * i
		}
	}
	sink.Add(x)
}

//go:noinline
func sleepTestWork(stop *atomic.Bool) {
	for !stop.Load() {
		time.Sleep(5 * time.Millisecond)
	}
}

// contendMutex has two goroutines take turns on a mutex, each holding it
// while the other waits.
//
//go:noinline
func contendMutex(stop *atomic.Bool) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				mu.Lock()
				time.Sleep(200 * time.Microsecond)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

//go:noinline
func blockOnChan(stop *atomic.Bool) {
	ch := make(chan int)
	go func() {
		for !stop.Load() {
			time.Sleep(time.Millisecond)
			ch <- 1
		}
		close(ch)
	}()
	for range ch {
	}
}

// startWork runs f until the test ends (or the returned stop is called).
func startWork(t *testing.T, f func(*atomic.Bool)) func() {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { f(&stop); close(done) }()
	fn := func() { stop.Store(true); <-done }
	t.Cleanup(fn)
	return fn
}

// valueWith returns the sum of sample type st over the samples whose stack
// has a function whose name contains fn, and the sum over all samples.
func valueWith(t *testing.T, p *profile.Profile, st, fn string) (with, total int64) {
	t.Helper()
	idx := -1
	for i, vt := range p.SampleType {
		if vt.Type+"/"+vt.Unit == st {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("profile has no %s: %v", st, sampleTypes(p))
	}
	for _, s := range p.Sample {
		total += s.Value[idx]
		if stackHas(s, fn) {
			with += s.Value[idx]
		}
	}
	return with, total
}

func stackHas(s *profile.Sample, fn string) bool {
	for _, l := range s.Location {
		for _, ln := range l.Line {
			if ln.Function != nil && strings.Contains(ln.Function.Name, fn) {
				return true
			}
		}
	}
	return false
}

// cannedCPU is a small valid CPU profile, served by stand-ins of the CPU
// handler in tests that run in parallel (the runtime has one CPU profiler
// per process).
func cannedCPU() []byte {
	fn := &profile.Function{ID: 1, Name: "main.work", SystemName: "main.work"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		Sample:     []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{3, 30_000_000}}},
		Location:   []*profile.Location{loc},
		Function:   []*profile.Function{fn},
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// cpuStandIn answers like pprof.Profile: it waits the requested seconds
// (or until the client leaves), then writes body.
func cpuStandIn(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sec, _ := strconv.Atoi(r.FormValue("seconds"))
		select {
		case <-time.After(time.Duration(sec) * time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

// goroutineProfile is a real goroutine profile of this process.
func goroutineProfile() []byte {
	var b bytes.Buffer
	rpprof.Lookup("goroutine").WriteTo(&b, 0)
	return b.Bytes()
}
