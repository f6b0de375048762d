package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxRedirects bounds the redirects one request follows.
const maxRedirects = 5

var errRedirectLoop = fmt.Errorf("more than %d redirects (a redirect loop?)", maxRedirects)

// newClient returns the HTTP client for ep: TLS verification off when ep
// says so, connections made inside the target's network namespace when it
// has its own, each one told to own before it connects (nil: nobody), and
// redirects bounded (and, for a discovered endpoint, kept on the target's
// host:port, so that the unverified TLS Discover allows for loopback never
// applies to another host).
func newClient(ep *Endpoint, own ConnHook) *http.Client {
	d := &dialer{own: own}
	tr := &http.Transport{
		DialContext:         d.dial,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: ep.Insecure},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}
	if !ep.discovered {
		tr.Proxy = http.ProxyFromEnvironment
	}
	if ep.netns != "" {
		tr.DialContext = d.netnsDial(ep.netns)
	}
	sameHost := ep.discovered
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errRedirectLoop
			}
			if sameHost && req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("redirected to another host (%s): not following", req.URL.Host)
			}
			return nil
		},
	}
}

// ConnHook is told of each TCP connection perfprobe makes to a target,
// before it connects (so before the target can see it): the inode of the
// socket's network namespace and its local port, bound already. It
// returns what to call once the connection is closed. The tls probe uses
// it to leave perfprobe's own handshakes out of the target's.
type ConnHook func(netns uint64, port uint16) (closed func())

// dialer makes the connections of one client, each told to own.
type dialer struct {
	own ConnHook
}

// dial connects to addr. With a hook, each socket is bound to an
// ephemeral port before connect(2) and the hook told of it; the
// connection returned calls the hook's closed once when closed (and the
// sockets of failed attempts at once).
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if d.own == nil {
		return nd.DialContext(ctx, network, addr)
	}
	type attempt struct {
		port   uint16
		closed func()
	}
	var (
		mu       sync.Mutex
		attempts []attempt
	)
	nd.Control = func(network, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			netns, port, err := bindEphemeral(int(fd), network)
			if err != nil {
				return // not told: the target's counts may include this connection
			}
			closed := d.own(netns, port)
			mu.Lock()
			attempts = append(attempts, attempt{port, closed})
			mu.Unlock()
		})
	}
	c, err := nd.DialContext(ctx, network, addr)
	var port uint16
	if err == nil {
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
			port = uint16(a.Port)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var mine func()
	for _, a := range attempts {
		if err == nil && mine == nil && a.port == port {
			mine = a.closed
		} else {
			a.closed()
		}
	}
	if err != nil || mine == nil {
		return c, err
	}
	return &ownConn{Conn: c, closed: mine}, nil
}

// bindEphemeral binds socket fd to an ephemeral port of the wildcard
// address of its family (connect(2) then picks the source address and
// keeps the port) and returns the port and the inode of the socket's
// network namespace.
func bindEphemeral(fd int, network string) (netns uint64, port uint16, err error) {
	var sa unix.Sockaddr = &unix.SockaddrInet4{}
	if strings.HasSuffix(network, "6") {
		sa = &unix.SockaddrInet6{}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return 0, 0, err
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return 0, 0, err
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = uint16(a.Port)
	case *unix.SockaddrInet6:
		port = uint16(a.Port)
	default:
		return 0, 0, fmt.Errorf("socket of family %T", got)
	}
	netns, err = socketNetns(fd)
	return netns, port, err
}

// socketNetns returns the inode of the network namespace of socket fd
// (SIOCGSKNS, Linux 4.9+), else of the calling thread's, where the socket
// was made.
func socketNetns(fd int) (uint64, error) {
	var st unix.Stat_t
	if nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS); err == nil {
		defer unix.Close(nsfd)
		if err := unix.Fstat(nsfd, &st); err == nil {
			return st.Ino, nil
		}
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ownConn is a connection the hook was told of: Close tells it back.
type ownConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *ownConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

// netnsDial connects from inside the network namespace nsPath. A socket
// belongs to the namespace of the thread that created it for its whole
// life, so only the socket(2) call has to happen in there: a goroutine
// locks its thread, enters the namespace and dials. It never unlocks, so
// when it returns the runtime ends that thread instead of running other
// goroutines in the wrong namespace.
func (d *dialer) netnsDial(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			c, err := func() (net.Conn, error) {
				f, err := os.Open(nsPath)
				if err != nil {
					return nil, fmt.Errorf("opening the target's network namespace: %w", err)
				}
				defer f.Close()
				if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
					return nil, fmt.Errorf("entering the target's network namespace: %w", err)
				}
				return d.dial(ctx, network, addr)
			}()
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// answer is an HTTP answer read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL // after redirects
}

// errTooLarge is returned by get for a body over its limit.
type errTooLarge int64

func (e errTooLarge) Error() string {
	return fmt.Sprintf("answer larger than %s: not reading it", byteSize(int64(e)))
}

// get fetches u and reads at most limit bytes of its body.
func get(ctx context.Context, c *http.Client, u string, limit int64) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("answer cut off after %d bytes: %w", len(body), err)
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge(limit)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body, url: resp.Request.URL}, nil
}

// errClass sorts failed requests by what the user can do about them.
type errClass int

const (
	errOther errClass = iota
	errTimeout
	errRefused
	errHangUp   // connection closed without an answer
	errNotHTTP  // a TLS record (or other bytes) instead of an HTTP status line
	errNotTLS   // https:// to a plain HTTP port
	errCert     // TLS certificate not trusted
	errRedirect // redirect loop
	errBody     // the answer itself: too large, cut off
)

func classify(err error) errClass {
	var (
		tooLarge errTooLarge
		recErr   tls.RecordHeaderError
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBody
	case errors.Is(err, errRedirectLoop):
		return errRedirect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http turns the RecordHeaderError into a string when the
		// record looks like HTTP.
		return errNotTLS
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return errCert
	case strings.Contains(err.Error(), "malformed HTTP response"):
		// net/http has no error type for this one.
		return errNotHTTP
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errHangUp
	}
	return errOther
}

// transportCause describes a failed request in one line. down is set when
// the failure is the endpoint's (it cannot be reached or does not answer)
// rather than one handler's.
func transportCause(err error, timeout time.Duration) (cause string, down bool) {
	host := urlHost(err)
	switch classify(err) {
	case errBody:
		return unwrapURLError(err).Error(), false
	case errRedirect:
		return "redirect loop: " + errRedirectLoop.Error(), true
	case errTimeout:
		return fmt.Sprintf("no answer within %s (timed out)", timeout.Round(time.Millisecond)), true
	case errRefused:
		return fmt.Sprintf("connection refused at %s (is the target still listening there?)", host), true
	case errNotTLS:
		return fmt.Sprintf("%s does not speak TLS: use http://", host), true
	case errCert:
		return fmt.Sprintf("TLS certificate of %s not trusted (%v): give --insecure to skip verification", host, unwrapURLError(err)), true
	case errNotHTTP:
		return fmt.Sprintf("%s does not answer plain HTTP (a TLS port?): use https://", host), true
	case errHangUp:
		return fmt.Sprintf("connection to %s closed without an answer", host), true
	}
	return unwrapURLError(err).Error(), true
}

// urlHost returns the host of the URL a url.Error is about.
func urlHost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return "the target"
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
