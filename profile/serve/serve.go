// Package serve serves a Go program's own runtime profiles on a loopback
// address, where perfprobe attach and perfprobe agent find them by
// scanning the program's listening sockets: net/http/pprof's handlers
// under /debug/pprof/, fgprof's wall-clock profiler at /debug/fgprof, and
// godeltaprof's delta handlers at /debug/pprof/delta_heap, delta_mutex and
// delta_block. It turns on mutex and block profiling at cheap rates and,
// given a Pyroscope URL, also starts github.com/grafana/pyroscope-go with
// the labels perfprobe's agent uses, so that the in-process and the eBPF
// profiles of a service line up in Pyroscope.
//
// A service adds it in two lines:
//
//	srv, _ := serve.Start(serve.Options{ServiceName: "checkout"})
//	defer srv.Close()
//
// Start never panics and prints nothing; its error says why the profiles
// are not served (a busy port, a bad option), and Close of the nil Server
// it then returns does nothing. Importing the package registers
// net/http/pprof's and godeltaprof's handlers on http.DefaultServeMux too,
// as importing those packages does; Start serves them on a mux of its own.
package serve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/felixge/fgprof"
	pyroscope "github.com/grafana/pyroscope-go"
	deltapprof "github.com/grafana/pyroscope-go/godeltaprof/http/pprof"
	pyroscopepprof "github.com/grafana/pyroscope-go/http/pprof"
)

// Default profiling rates, cheap enough to leave on in production.
const (
	// DefaultAddr is any free port on the IPv4 loopback address.
	DefaultAddr = "127.0.0.1:0"
	// DefaultMutexFraction records one contended unlock in 100. Only
	// contended unlocks pay (a stack walk, about a microsecond), so even
	// 100,000 contentions a second cost about 1 ms of CPU per second.
	DefaultMutexFraction = 100
	// DefaultBlockRate (ns) records every blocking event of 1 ms or more
	// and a shorter one with a probability of its length over 1 ms: at
	// most one stack walk per millisecond of blocked time, so a
	// goroutine that blocks in many short waits costs almost nothing.
	DefaultBlockRate = 1_000_000
)

// Options say where to serve and what to turn on. The zero value serves
// on DefaultAddr with the default rates and no Pyroscope.
type Options struct {
	// Addr is the loopback host:port to listen on (default DefaultAddr).
	// Any port works: attach and the agent find it among the program's
	// sockets. Addresses off loopback are refused: the profiles show the
	// program's internals.
	Addr string
	// ServiceName is the service's name in Pyroscope (its
	// application name, which becomes service_name); default the
	// executable's base name.
	ServiceName string
	// MutexFraction is runtime.SetMutexProfileFraction's rate: 0 means
	// DefaultMutexFraction, a negative value leaves the program's setting
	// alone.
	MutexFraction int
	// BlockRate is runtime.SetBlockProfileRate's rate in nanoseconds: 0
	// means DefaultBlockRate, a negative value leaves the program's
	// setting alone.
	BlockRate int
	// Pyroscope, when its URL is set, starts pyroscope-go.
	Pyroscope PyroscopeOptions
}

// PyroscopeOptions configure the in-process push to Pyroscope.
type PyroscopeOptions struct {
	// URL is the Pyroscope server, e.g. "http://pyroscope:4040"; empty
	// pushes nothing.
	URL string
	// BasicAuthUser and BasicAuthPassword authenticate the pushes; the
	// password is never printed or put in an error.
	BasicAuthUser, BasicAuthPassword string
	// TenantID is sent as X-Scope-OrgID.
	TenantID string
	// Labels are added to the series' labels (names [a-zA-Z_][a-zA-Z0-9_]*,
	// none of service_name, hostname, pid, comm or source, which Start
	// sets).
	Labels map[string]string
	// UploadRate is how often profiles are pushed (default 15s).
	UploadRate time.Duration
}

// Server serves the profiles until Close.
type Server struct {
	ln       net.Listener
	srv      *http.Server
	served   chan struct{} // closed when Serve returns
	profiler *pyroscope.Profiler
	push     *http.Transport // pyroscope-go's, closed with it
	restore  func()

	closeOnce sync.Once
	closeErr  error
}

// Start listens on o.Addr, serves the profile handlers there, sets the
// mutex and block profiling rates and, when o.Pyroscope.URL is set,
// starts pyroscope-go. On error nothing is left running.
func Start(o Options) (*Server, error) {
	addr := o.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	var cfg *pyroscope.Config
	var push *http.Transport
	if o.Pyroscope.URL != "" {
		c, err := pyroscopeConfig(o)
		if err != nil {
			return nil, err
		}
		// pyroscope-go's own client keeps its idle connections (and their
		// goroutines) forever after Stop: a transport of ours is closed.
		push = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxConnsPerHost: 5, IdleConnTimeout: 90 * time.Second}
		c.HTTPClient = &http.Client{
			Transport:     push,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		cfg = &c
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving profiles: %w", err)
	}
	s := &Server{ln: ln, served: make(chan struct{}), push: push, restore: setRates(o)}
	if cfg != nil {
		if s.profiler, err = pyroscope.Start(*cfg); err != nil {
			ln.Close()
			s.restore()
			return nil, fmt.Errorf("starting pyroscope-go for %s: %v", redact(o.Pyroscope.URL), scrub(err, o.Pyroscope))
		}
	}
	s.srv = &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Handler returns the profile handlers on a mux of their own, for a
// program that serves them itself: net/http/pprof's under /debug/pprof/
// (with pyroscope-go's CPU handler at /debug/pprof/profile, which works
// while pyroscope-go's profiler runs, where net/http/pprof's would answer
// "cpu profiling already in use"), fgprof's at /debug/fgprof and
// godeltaprof's at /debug/pprof/delta_heap, delta_mutex and delta_block.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pyroscopepprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/delta_heap", deltapprof.Heap)
	mux.HandleFunc("/debug/pprof/delta_mutex", deltapprof.Mutex)
	mux.HandleFunc("/debug/pprof/delta_block", deltapprof.Block)
	mux.Handle("/debug/fgprof", fgprof.Handler())
	return mux
}

// Addr is the host:port the profiles are served on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL of the profiles, e.g. "http://127.0.0.1:40123":
// what perfprobe's --pprof-url takes.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops serving (requests in flight are cut), stops pyroscope-go
// after its last push, and sets the mutex and block profiling rates back
// (the block rate to 0: the runtime does not say what it was). It is safe
// on a nil Server and more than once.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		if s.profiler != nil {
			s.profiler.Stop()
			s.push.CloseIdleConnections()
		}
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("closing the profile server: %w", err)
		}
		<-s.served
		s.restore()
	})
	return s.closeErr
}

// checkLoopback refuses an address whose host is not loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("serving profiles: address %q: %v (give host:port, e.g. %s)", addr, err, DefaultAddr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("serving profiles: %q is not a loopback address: profiles show the program's internals, so they are served on 127.0.0.1 or [::1] only (attach and the agent find them there)", host)
	}
	return nil
}

// setRates sets the profiling rates and returns what undoes it.
func setRates(o Options) func() {
	var undo []func()
	switch {
	case o.MutexFraction == 0:
		prev := runtime.SetMutexProfileFraction(DefaultMutexFraction)
		undo = append(undo, func() { runtime.SetMutexProfileFraction(prev) })
	case o.MutexFraction > 0:
		prev := runtime.SetMutexProfileFraction(o.MutexFraction)
		undo = append(undo, func() { runtime.SetMutexProfileFraction(prev) })
	}
	switch {
	case o.BlockRate == 0:
		runtime.SetBlockProfileRate(DefaultBlockRate)
		undo = append(undo, func() { runtime.SetBlockProfileRate(0) })
	case o.BlockRate > 0:
		runtime.SetBlockProfileRate(o.BlockRate)
		undo = append(undo, func() { runtime.SetBlockProfileRate(0) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// Label names Start sets itself; Options.Pyroscope.Labels must not.
var ownLabels = []string{"service_name", "hostname", "pid", "comm", "source", "__name__"}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// pyroscopeConfig builds pyroscope-go's configuration with the agent's
// label conventions: the service name as the application name, and
// hostname, pid, comm and source="go" (the eBPF profiles carry
// source="ebpf", so that the two process_cpu series never add up).
func pyroscopeConfig(o Options) (pyroscope.Config, error) {
	p := o.Pyroscope
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return pyroscope.Config{}, fmt.Errorf("pyroscope URL %q: give one like http://pyroscope:4040", redact(p.URL))
	}
	tags := map[string]string{
		"hostname": hostname(),
		"pid":      strconv.Itoa(os.Getpid()),
		"comm":     comm(),
		"source":   "go",
	}
	for k, v := range p.Labels {
		if !labelName.MatchString(k) {
			return pyroscope.Config{}, fmt.Errorf("pyroscope label %q: a name must match [a-zA-Z_][a-zA-Z0-9_]*", k)
		}
		for _, own := range ownLabels {
			if k == own {
				return pyroscope.Config{}, fmt.Errorf("pyroscope label %q is set by serve itself: choose another name", k)
			}
		}
		tags[k] = v
	}
	name := o.ServiceName
	if name == "" {
		name = exeName()
	}
	types := []pyroscope.ProfileType{
		pyroscope.ProfileCPU, pyroscope.ProfileAllocObjects, pyroscope.ProfileAllocSpace,
		pyroscope.ProfileInuseObjects, pyroscope.ProfileInuseSpace, pyroscope.ProfileGoroutines,
	}
	if o.MutexFraction >= 0 {
		types = append(types, pyroscope.ProfileMutexCount, pyroscope.ProfileMutexDuration)
	}
	if o.BlockRate >= 0 {
		types = append(types, pyroscope.ProfileBlockCount, pyroscope.ProfileBlockDuration)
	}
	return pyroscope.Config{
		ApplicationName:   name,
		Tags:              tags,
		ServerAddress:     p.URL,
		BasicAuthUser:     p.BasicAuthUser,
		BasicAuthPassword: p.BasicAuthPassword,
		TenantID:          p.TenantID,
		UploadRate:        p.UploadRate,
		ProfileTypes:      types,
	}, nil
}

// hostname is the host's name, "unknown" when the system does not say.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

// comm is the process's name as the kernel has it (what the eBPF side
// labels its profiles with), else the executable's base name.
func comm() string {
	if b, err := os.ReadFile("/proc/self/comm"); err == nil {
		if c := strings.TrimSpace(string(b)); c != "" {
			return c
		}
	}
	return exeName()
}

func exeName() string {
	if exe, err := os.Executable(); err == nil {
		return filepath.Base(exe)
	}
	return filepath.Base(os.Args[0])
}

// redact hides a password in a URL.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// scrub removes the password from an error's text.
func scrub(err error, p PyroscopeOptions) string {
	msg := err.Error()
	if p.BasicAuthPassword != "" {
		msg = strings.ReplaceAll(msg, p.BasicAuthPassword, "xxxxx")
	}
	if u, perr := url.Parse(p.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
