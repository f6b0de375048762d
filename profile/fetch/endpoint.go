package fetch

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Endpoint is where a target serves its Go profiles.
type Endpoint struct {
	// Base is scheme://host:port plus the path prefix the handlers are
	// mounted under, without a trailing slash, e.g.
	// "http://127.0.0.1:6060" or "http://127.0.0.1:8080/admin".
	Base string
	// Dir is the net/http/pprof directory, with a trailing slash: the CPU
	// profile is Dir+"profile". It is Base+"/debug/pprof/" unless discovery
	// found the index elsewhere.
	Dir string
	// Fgprof is the URL of fgprof's handler, or "" when discovery found
	// that the target does not serve it.
	Fgprof string
	// FgprofNote says why Fgprof is "": the line Fetch reports in
	// Result.Skipped.
	FgprofNote string
	// Insecure turns off TLS certificate verification: set by the user for
	// their URL, or by Discover for a TLS port on loopback.
	Insecure bool
	// PID is the target's process ID, 0 when unknown. Fetch uses it to tell
	// a target that exited from one that stopped answering.
	PID int
	// Notes are remarks about how the endpoint was found, one line each
	// (TLS verification off, other pprof ports, another network namespace).
	Notes []string
	// Delta records which of godeltaprof's delta handlers the target
	// serves, by kind ("heap", "mutex", "block": Dir+"delta_heap" and so
	// on), as the first Fetch with Options.Delta found: true served, false
	// not (404), absent not known yet. Fetch updates it, so Fetch calls
	// with Options.Delta on one Endpoint must not overlap.
	Delta map[string]bool

	// netns is the target's network namespace file when it differs from
	// ours: connections are then made from inside it.
	netns string
	// discovered is set for endpoints found in /proc: they are connected to
	// directly (no proxy) and redirects must stay on the same host.
	discovered bool
}

// Options tunes Discover and Fetch. The zero value is ready to use.
type Options struct {
	// URL, when set, is the user's pprof URL (--pprof-url): Discover checks
	// it instead of searching the target's ports. It may be
	// "http://host:port", "http://host:port/debug/pprof/" or a custom
	// prefix such as "http://host:port/admin".
	URL string
	// Insecure skips TLS certificate verification for URL.
	Insecure bool
	// Client, when set, makes every request of Fetch and of Discover's
	// check of URL. Its transport then decides how to connect: the entry
	// into another network namespace and the unverified TLS that Discover
	// uses for loopback ports are only done by the built-in client.
	Client *http.Client
	// Chunk is the longest single profile request (default 10s, rounded up
	// to whole seconds: the pprof handlers take integer seconds). Longer
	// windows and open-ended ones are fetched in consecutive chunks so that
	// an interruption only loses the chunk in flight.
	Chunk time.Duration
	// Kinds names the profiles to fetch, among AllKinds: "cpu", "wall"
	// (fgprof), "mutex", "block", "goroutine" and "heap"; nil fetches
	// KindNames (all but the heap). The CPU profiler and fgprof cost the
	// target while they run (see PERFORMANCE.md), so a caller may leave
	// them out.
	Kinds []string
	// Delta fetches the heap, mutex and block profiles from godeltaprof's
	// handlers (/debug/pprof/delta_heap, delta_mutex, delta_block) when
	// the target serves them, which costs the target less than
	// net/http/pprof's delta form (two full profiles diffed in the
	// target). Their state is shared by every reader of the target, so a
	// second reader (another agent, Grafana Alloy's scraper) would take
	// part of each delta: the continuous agent sets it, attach does not.
	Delta bool
	// Slack is how much longer than its profile's duration a request may
	// take before it is abandoned as timed out (default 10s).
	Slack time.Duration
	// OwnConn, when set, is told of every connection the built-in client
	// makes (not Client's), before it connects: the capture leaves the
	// handshakes they cause in the target out of the target's numbers.
	OwnConn ConnHook

	// maxBody caps an answer's size (default defaultMaxBody); tests lower it.
	maxBody int64
}

const (
	defaultChunk   = 10 * time.Second
	defaultSlack   = 10 * time.Second
	defaultMaxBody = 256 << 20
)

func (o Options) chunk() time.Duration {
	if o.Chunk <= 0 {
		return defaultChunk
	}
	return o.Chunk
}

func (o Options) slack() time.Duration {
	if o.Slack <= 0 {
		return defaultSlack
	}
	return o.Slack
}

func (o Options) bodyLimit() int64 {
	if o.maxBody <= 0 {
		return defaultMaxBody
	}
	return o.maxBody
}

// NewEndpoint makes an Endpoint from a user's pprof URL (--pprof-url)
// without contacting it. A path ending in /debug/pprof is the pprof
// directory; any other path is a prefix the handlers are mounted under.
// fgprof is expected at Base+"/debug/fgprof"; Fetch reports it when it is
// not there.
func NewEndpoint(rawURL string, insecure bool) (*Endpoint, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return nil, fmt.Errorf("pprof URL is empty: give one like http://127.0.0.1:6060")
	}
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("pprof URL %q has no scheme: write it as http://%s", rawURL, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("pprof URL %q: %v", rawURL, unwrapURLError(err))
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("pprof URL %q: scheme %q is not http or https", rawURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("pprof URL %q has no host", rawURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") {
		return nil, fmt.Errorf("pprof URL %q must not have a query or fragment", rawURL)
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	prefix, _ := strings.CutSuffix(path, "/debug/pprof")
	root := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}
	base := root.String() + prefix
	return &Endpoint{Base: base, Dir: base + "/debug/pprof/", Fgprof: base + "/debug/fgprof", Insecure: insecure}, nil
}

// unwrapURLError drops url.Error's repetition of the URL we already quote.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// redact hides the password of a URL that has one, for messages.
func redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
