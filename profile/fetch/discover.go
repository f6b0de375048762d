package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoListeners is returned (wrapped) by Discover when the target listens
// on no TCP port.
var ErrNoListeners = errors.New("no listening TCP sockets")

// ErrNoEndpoint is returned (wrapped) by Discover when none of the target's
// ports serves a net/http/pprof index.
var ErrNoEndpoint = errors.New("no pprof endpoint")

const (
	probeTimeout    = time.Second     // one port
	discoverTimeout = 5 * time.Second // all ports
	probeParallel   = 16
	indexLimit      = 1 << 20
)

// Discover finds the pprof endpoint of the Go process pid without help:
// it probes each TCP port the process listens on (read from /proc, as its
// own network namespace sees them) with GET /debug/pprof/, over plain HTTP
// and then TLS, following redirects to a path prefix, and accepts the
// lowest port whose answer is net/http/pprof's index. It also checks
// whether fgprof is served. When opt.URL is set, Discover checks that URL
// instead. Errors wrap ErrNoProcess, ErrPermission, ErrNoListeners or
// ErrNoEndpoint and say what to do.
func Discover(ctx context.Context, pid int, opt Options) (*Endpoint, error) {
	if opt.URL != "" {
		return checkURL(ctx, pid, opt)
	}
	socks, err := listeningSockets(pid)
	if err != nil {
		return nil, err
	}
	if len(socks) == 0 {
		return nil, describe(ErrNoListeners, "pid %d has no listening TCP sockets (import net/http/pprof and serve it, or give --pprof-url)", pid)
	}
	ports, addrs := byPort(socks)
	var ns, nsNote string
	theirs, ours := netnsOf(strconv.Itoa(pid)), netnsOf("thread-self")
	if theirs != "" && ours != "" && theirs != ours {
		ns = filepath.Join(procDir, strconv.Itoa(pid), "ns", "net")
		nsNote = fmt.Sprintf("pid %d is in another network namespace (%s, ours %s): connected from inside it", pid, theirs, ours)
	}

	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	results := make([]probeResult, len(ports))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				results[i] = probePort(ctx, addrs[port], ns, opt.OwnConn)
			case <-ctx.Done():
				results[i] = probeResult{reason: "not probed in time"}
			}
		})
	}
	wg.Wait()

	// A plain HTTP endpoint is preferred to a TLS one serving the same
	// handlers: no handshake per request, and its certificate needs no
	// leniency.
	var found *Endpoint
	foundPort := -1
	var reasons []string
	for i, r := range results {
		if r.ep == nil {
			reasons = append(reasons, fmt.Sprintf("%d: %s", ports[i], r.reason))
			continue
		}
		if found == nil || (isTLS(found) && !isTLS(r.ep)) {
			found, foundPort = r.ep, i
		}
	}
	if found != nil {
		for i, r := range results {
			if r.ep != nil && i != foundPort {
				found.Notes = append(found.Notes, fmt.Sprintf("pprof is also served on port %d", ports[i]))
			}
		}
	}
	if found == nil {
		list := make([]string, len(ports))
		for i, p := range ports {
			list[i] = strconv.Itoa(int(p))
		}
		msg := fmt.Sprintf("no pprof endpoint on pid %d's ports %s (import net/http/pprof or give --pprof-url); %s",
			pid, strings.Join(list, ", "), strings.Join(reasons, "; "))
		if ns != "" {
			msg += fmt.Sprintf("; pid %d is in another network namespace (%s, ours %s): connecting from inside it may fail, give --pprof-url with an address reachable from here",
				pid, theirs, ours)
		}
		return nil, describe(ErrNoEndpoint, "%s", msg)
	}
	found.PID = pid
	if nsNote != "" {
		found.Notes = append([]string{nsNote}, found.Notes...)
	}
	client := newClient(found, opt.OwnConn)
	defer client.CloseIdleConnections()
	fctx, fcancel := context.WithTimeout(ctx, probeTimeout)
	defer fcancel()
	probeFgprof(fctx, client, found)
	return found, nil
}

func isTLS(ep *Endpoint) bool { return strings.HasPrefix(ep.Base, "https://") }

// byPort groups listening addresses by port, with the addresses to
// connect to for each, ports in ascending order.
func byPort(socks []netip.AddrPort) ([]uint16, map[uint16][]netip.AddrPort) {
	var ports []uint16
	addrs := map[uint16][]netip.AddrPort{}
	for _, s := range socks {
		p := s.Port()
		if addrs[p] == nil {
			ports = append(ports, p)
		}
		for _, a := range dialAddrs(s) {
			if !slices.Contains(addrs[p], a) {
				addrs[p] = append(addrs[p], a)
			}
		}
	}
	return ports, addrs
}

// probeResult is what probing one port found: an endpoint, or why not.
type probeResult struct {
	ep     *Endpoint
	reason string
}

// probePort looks for a pprof index on one port, trying its addresses in
// turn while they refuse connections.
func probePort(ctx context.Context, addrs []netip.AddrPort, ns string, own ConnHook) probeResult {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var r probeResult
	for _, a := range addrs {
		var refused bool
		r, refused = probeAddr(ctx, a, ns, own)
		if r.ep != nil || !refused {
			break
		}
	}
	return r
}

// probeAddr asks addr for /debug/pprof/ over TLS first, then over plain
// HTTP when the port does not speak TLS. That order is the quiet one: a Go
// HTTPS server logs every plain request it gets ("client sent an HTTP
// request to an HTTPS server"), while a plain one answers a TLS hello with
// a silent 400, which the TLS client sees at once as a bad record.
func probeAddr(ctx context.Context, addr netip.AddrPort, ns string, own ConnHook) (r probeResult, refused bool) {
	// The port was found in the target's own file table, so on loopback
	// the peer is the target itself, whose certificate names its public
	// host rather than 127.0.0.1: verification would only fail. It is
	// skipped there and only there (the client refuses redirects to other
	// hosts); other addresses are verified.
	ep := &Endpoint{netns: ns, discovered: true, Insecure: addr.Addr().IsLoopback()}
	client := newClient(ep, own)
	defer client.CloseIdleConnections()
	a, err := get(ctx, client, "https://"+addr.String()+"/debug/pprof/", indexLimit)
	switch {
	case err == nil:
		if ep.Insecure {
			ep.Notes = append(ep.Notes, fmt.Sprintf("TLS port %d on loopback: certificate not verified", addr.Port()))
		}
	case classify(err) == errNotTLS || classify(err) == errHangUp:
		ep = &Endpoint{netns: ns, discovered: true}
		client = newClient(ep, own)
		defer client.CloseIdleConnections()
		a, err = get(ctx, client, "http://"+addr.String()+"/debug/pprof/", indexLimit)
		if err != nil {
			cause, _ := transportCause(err, probeTimeout)
			return probeResult{reason: cause}, classify(err) == errRefused
		}
	default:
		cause, _ := transportCause(err, probeTimeout)
		if classify(err) != errRefused && classify(err) != errTimeout {
			cause = "TLS: " + cause
		}
		return probeResult{reason: cause}, classify(err) == errRefused
	}
	if a.status != http.StatusOK {
		return probeResult{reason: statusCause(a, "/debug/pprof/")}, false
	}
	if _, ok := parseIndex(a.body); !ok {
		return probeResult{reason: "/debug/pprof/ is not a net/http/pprof index (no links to profile and goroutine)"}, false
	}
	setDir(ep, a.url)
	return probeResult{ep: ep}, false
}

// setDir sets ep's Dir and Base from the URL its index was found at.
func setDir(ep *Endpoint, index *url.URL) {
	root := (&url.URL{Scheme: index.Scheme, User: index.User, Host: index.Host}).String()
	p := index.EscapedPath()
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	ep.Dir = root + p
	if prefix, ok := strings.CutSuffix(p, "/debug/pprof/"); ok {
		ep.Base = root + prefix
	} else {
		ep.Base = root
	}
}

// probeFgprof finds fgprof's handler at Base+"/debug/fgprof", or at the
// server's root when Base has a prefix. fgprof.Handler answers seconds=0
// at once with 400 "bad seconds" (a HEAD would run its default 30-second
// profile), so a 400 that mentions seconds is fgprof; a timeout leaves the
// decision to Fetch.
func probeFgprof(ctx context.Context, client *http.Client, ep *Endpoint) {
	root := ep.Base
	if u, err := url.Parse(ep.Base); err == nil {
		root = (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}).String()
	}
	cands := []string{ep.Base + "/debug/fgprof"}
	if root != ep.Base {
		cands = append(cands, root+"/debug/fgprof")
	}
	why := ""
	for _, c := range cands {
		a, err := get(ctx, client, c+"?seconds=0", indexLimit)
		switch {
		case err != nil && classify(err) == errTimeout:
			ep.Fgprof = c
			return
		case err != nil:
			if why == "" {
				why, _ = transportCause(err, probeTimeout)
			}
		case a.status == http.StatusBadRequest && strings.Contains(string(a.body), "seconds"):
			ep.Fgprof = c
			return
		case why == "" && a.status == http.StatusNotFound:
			why = "404"
		case why == "":
			why = fmt.Sprintf("it answered %d %s", a.status, http.StatusText(a.status))
		}
	}
	ep.FgprofNote = fmt.Sprintf("fgprof not served at %s (%s): add fgprof.Handler() to the target to get wall-clock profiles",
		strings.TrimPrefix(cands[0], root), why)
}

// checkURL checks the user's URL: its pprof directory (Base+"/debug/pprof/",
// or the prefix itself) must answer with net/http/pprof's index.
func checkURL(ctx context.Context, pid int, opt Options) (*Endpoint, error) {
	ep, err := NewEndpoint(opt.URL, opt.Insecure)
	if err != nil {
		return nil, err
	}
	ep.PID = pid
	client := opt.Client
	if client == nil {
		client = newClient(ep, opt.OwnConn)
		defer client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	dirs := []string{ep.Dir}
	if u, err := url.Parse(ep.Base); err == nil && u.Path != "" {
		dirs = append(dirs, ep.Base+"/")
	}
	var why []string
	for _, d := range dirs {
		a, err := get(ctx, client, d, indexLimit)
		if err != nil {
			cause, _ := transportCause(err, discoverTimeout)
			return nil, describe(ErrNoEndpoint, "checking --pprof-url %s: %s", redact(opt.URL), cause)
		}
		if a.status != http.StatusOK {
			why = append(why, statusCause(a, a.url.Path))
			continue
		}
		if _, ok := parseIndex(a.body); !ok {
			why = append(why, a.url.Path+" is not a net/http/pprof index")
			continue
		}
		setDir(ep, a.url)
		ep.Fgprof = ""
		probeFgprof(ctx, client, ep)
		return ep, nil
	}
	return nil, describe(ErrNoEndpoint, "no pprof endpoint at --pprof-url %s: %s", redact(opt.URL), strings.Join(why, "; "))
}
