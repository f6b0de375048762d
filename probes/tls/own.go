package tls

import (
	"fmt"
	"go/version"
	"time"

	"github.com/perfprobe/perfprobe/internal/goruntime"
	"github.com/perfprobe/perfprobe/probes"
)

// perfprobe's own connections. Endpoint discovery and profile fetches
// connect to the target, and a TLS port makes a server handshake in the
// target for each connection. They are the observer's, not the target's:
// OwnConn registers each one (by its local port and network namespace)
// before it connects, and the BPF side counts a Go server handshake on
// such a connection in tls_own_probes only, out of the counts, histograms
// and stacks. The handshake's connection is found from its *tls.Conn
// (RAX at the entry): c.conn -> *net.TCPConn -> conn.fd -> pfd.Sysfd ->
// the thread's file table -> the socket's peer. A connection registered
// before connect(2) is known before the target can accept it, so the
// check at the entry has no race; one whose Go layout is unknown is
// counted as the target's (fail closed).

// Cookie bits of tls.h for the own-connection check.
const (
	cookieOwnCheck   = 1 << 9
	cookieConnShift  = 16
	cookieFDShift    = 24
	cookieSysfdShift = 32
)

// OwnGrace is how long after perfprobe closed one of its connections a
// handshake that began on it still counts as perfprobe's: the server may
// start its side a little after the client gave up. Beyond it the port
// may belong to another client.
const OwnGrace = time.Second

// connLayout is where the Go fields that lead from a *tls.Conn to its
// file descriptor are, in bytes.
type connLayout struct {
	conn  uint64 // in crypto/tls.Conn: the data word of the conn interface
	fd    uint64 // in net.TCPConn: conn.fd
	sysfd uint64 // in net.netFD: pfd.Sysfd
}

// knownLayout is the layout of Go 1.21 through 1.27 on 64-bit platforms
// (crypto/tls.Conn starts with conn net.Conn; net.TCPConn embeds
// net.conn{fd *netFD}; netFD starts with pfd poll.FD, whose Sysfd follows
// a 16-byte fdMutex): used when the binary has no DWARF.
var knownLayout = connLayout{conn: 8, fd: 0, sysfd: 16}

// layoutVersions are the Go versions knownLayout is checked for.
const layoutMin, layoutMax = "go1.21", "go1.27"

// cookie packs the layout into the bits of a server-handshake entry
// uprobe's cookie; 0 when an offset does not fit (no check then).
func (l connLayout) cookie() uint64 {
	if l.conn > 0xff || l.fd > 0xff || l.sysfd > 0xffff {
		return 0
	}
	return cookieOwnCheck | l.conn<<cookieConnShift | l.fd<<cookieFDShift | l.sysfd<<cookieSysfdShift
}

// goConnLayout finds the layout in exe's DWARF, or, without DWARF, takes
// knownLayout for Go versions it is known for (goVersion as go/version
// reads it). ok is false, with a note saying why, when neither applies.
func goConnLayout(exe, goVersion string) (l connLayout, ok bool, note string) {
	l, err := dwarfConnLayout(exe)
	if err == nil {
		return l, true, ""
	}
	if version.IsValid(goVersion) && version.Compare(version.Lang(goVersion), layoutMin) >= 0 && version.Compare(version.Lang(goVersion), layoutMax) <= 0 {
		return knownLayout, true, ""
	}
	return connLayout{}, false, fmt.Sprintf("perfprobe's own TLS connections to %s cannot be told apart (no DWARF: %v; Go %s is outside %s-%s): they count as the target's", exe, err, goVersion, layoutMin, layoutMax)
}

// dwarfConnLayout reads the layout from the binary's DWARF.
func dwarfConnLayout(exe string) (connLayout, error) {
	// Each (struct, field) pair of the chain; Go names structs by their
	// package path.
	w := goruntime.Want(map[string][]string{
		"crypto/tls.Conn":  {"conn"},
		"net.TCPConn":      {"conn"},
		"net.conn":         {"fd"},
		"net.netFD":        {"pfd"},
		"internal/poll.FD": {"Sysfd"},
	})
	if err := goruntime.StructFields(exe, w); err != nil {
		return connLayout{}, err
	}
	u := func(t, f string) uint64 { return uint64(w[t][f]) }
	return connLayout{
		conn:  u("crypto/tls.Conn", "conn") + 8, // the interface's data word follows its itab
		fd:    u("net.TCPConn", "conn") + u("net.conn", "fd"),
		sysfd: u("net.netFD", "pfd") + u("internal/poll.FD", "Sysfd"),
	}, nil
}

// OwnConn registers one of perfprobe's own connections to a target before
// it connects: its local port as seen in network namespace netns (the
// inode of the namespace). Go server handshakes on it that begin from now
// until release is called (plus OwnGrace) count in tls_own_probes and
// nowhere else. It does nothing before Attach or after Close.
// It may be called from any goroutine, also while the probe closes.
func (p *Probe) OwnConn(netns uint64, port uint16) (release func()) {
	key := tlsOwnKey{Netns: uint32(netns), Port: port}
	val := tlsOwnValue{FromNs: probes.MonotonicNs(), UntilNs: ^uint64(0)}
	put := func() bool {
		p.ownMu.RLock()
		defer p.ownMu.RUnlock()
		return p.loaded && p.objs.OwnConns.Put(&key, &val) == nil
	}
	if netns > 0xffffffff || !put() {
		return func() {}
	}
	return func() {
		val.UntilNs = probes.MonotonicNs() + uint64(OwnGrace)
		put() // a closed probe or an evicted entry: nothing left to do
	}
}
