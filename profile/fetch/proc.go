package fetch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// tcpSocket is one line of /proc/PID/net/tcp or tcp6.
type tcpSocket struct {
	local netip.AddrPort
	state uint8
	inode uint64
}

// tcpListen is the kernel's TCP_LISTEN state as /proc/net/tcp prints it.
const tcpListen = 0x0A

var errTCPHeader = errors.New("header line")

// parseNetTCPLine parses one line of /proc/PID/net/tcp or tcp6:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 ...
//
// Addresses are hex words in host byte order (%08X of the 32-bit words of
// the network-order address), ports are hex in host order.
func parseNetTCPLine(line string) (tcpSocket, error) {
	f := strings.Fields(line)
	if len(f) > 0 && f[0] == "sl" {
		return tcpSocket{}, errTCPHeader
	}
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return tcpSocket{}, fmt.Errorf("want at least 10 fields starting with \"N:\", got %q", line)
	}
	host, port, ok := strings.Cut(f[1], ":")
	if !ok || len(port) != 4 {
		return tcpSocket{}, fmt.Errorf("local address %q is not HEXADDR:HEXPORT", f[1])
	}
	addr, err := decodeHexAddr(host)
	if err != nil {
		return tcpSocket{}, err
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return tcpSocket{}, fmt.Errorf("port %q: %v", port, err)
	}
	if len(f[3]) != 2 {
		return tcpSocket{}, fmt.Errorf("state %q is not two hex digits", f[3])
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return tcpSocket{}, fmt.Errorf("state %q: %v", f[3], err)
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return tcpSocket{}, fmt.Errorf("inode %q: %v", f[9], err)
	}
	return tcpSocket{local: netip.AddrPortFrom(addr, uint16(p)), state: uint8(st), inode: inode}, nil
}

// decodeHexAddr decodes the kernel's IPv4 (8 hex digits) or IPv6 (32 hex
// digits) address: each 32-bit word is printed as a host-order integer.
func decodeHexAddr(s string) (netip.Addr, error) {
	if len(s) != 8 && len(s) != 32 {
		return netip.Addr{}, fmt.Errorf("address %q is not 8 or 32 hex digits", s)
	}
	var b [16]byte
	for i := 0; i < len(s)/8; i++ {
		w, err := strconv.ParseUint(s[8*i:8*i+8], 16, 32)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("address %q: %v", s, err)
		}
		binary.NativeEndian.PutUint32(b[4*i:], uint32(w))
	}
	if len(s) == 8 {
		return netip.AddrFrom4([4]byte(b[:4])), nil
	}
	return netip.AddrFrom16(b), nil
}

// encodeHexAddr is decodeHexAddr's inverse (upper case, as the kernel
// prints); the fuzz test checks the round trip.
func encodeHexAddr(a netip.Addr) string {
	b := a.AsSlice()
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&sb, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return sb.String()
}

// parseNetTCP returns the sockets of a /proc/PID/net/tcp{,6} file. Lines the
// parser does not understand are skipped: the file's format has been
// stable for decades, and one odd line must not hide the others.
func parseNetTCP(data []byte) []tcpSocket {
	var out []tcpSocket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if s, err := parseNetTCPLine(sc.Text()); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// procDir is /proc; a variable so that a test can point at a fake tree.
var procDir = "/proc"

// ErrPermission is returned (wrapped) by Discover when the target's open
// files cannot be read.
var ErrPermission = errors.New("permission denied reading the target's sockets")

// ErrNoProcess is returned (wrapped) by Discover when the PID does not exist.
var ErrNoProcess = errors.New("no such process")

// socketInodes returns the inodes of the sockets pid has open, from the
// "socket:[INODE]" links in /proc/PID/fd.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, describe(ErrNoProcess, "pid %d: no such process", pid)
	case errors.Is(err, fs.ErrPermission):
		return nil, describe(ErrPermission, "reading pid %d's open files in %s: permission denied (run perfprobe as root, or give --pprof-url)", pid, dir)
	case err != nil:
		return nil, fmt.Errorf("reading pid %d's open files: %w", pid, err)
	}
	inodes := map[uint64]bool{}
	for _, e := range ents {
		// An fd may close between ReadDir and Readlink: skip it.
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				inodes[n] = true
			}
		}
	}
	return inodes, nil
}

// listeningSockets returns the local addresses of the TCP sockets pid
// listens on, as its own network namespace sees them, sorted by port.
func listeningSockets(pid int) ([]netip.AddrPort, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	for _, name := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "net", name))
		if errors.Is(err, fs.ErrNotExist) && name == "tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return nil, fmt.Errorf("reading pid %d's TCP sockets: %w", pid, err)
		}
		for _, s := range parseNetTCP(data) {
			if s.state == tcpListen && inodes[s.inode] && !slices.Contains(out, s.local) {
				out = append(out, s.local)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int {
		if a.Port() != b.Port() {
			return int(a.Port()) - int(b.Port())
		}
		return a.Addr().Compare(b.Addr())
	})
	return out, nil
}

// dialAddrs returns the addresses to connect to for a socket listening on
// a: the loopback address for a wildcard, the IPv4 address for an
// IPv4-mapped one. A dual-stack "::" listener is tried on ::1 first, then
// 127.0.0.1 (::1 may be missing where IPv6 is off on loopback).
func dialAddrs(a netip.AddrPort) []netip.AddrPort {
	ip := a.Addr().Unmap()
	switch {
	case ip == netip.IPv4Unspecified():
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port())}
	case ip == netip.IPv6Unspecified():
		return []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv6Loopback(), a.Port()),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port()),
		}
	}
	return []netip.AddrPort{netip.AddrPortFrom(ip, a.Port())}
}

// netnsOf returns the identity of pid's network namespace ("net:[N]"), or
// "" when it cannot be read.
func netnsOf(pid string) string {
	s, err := os.Readlink(filepath.Join(procDir, pid, "ns", "net"))
	if err != nil {
		return ""
	}
	return s
}

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool {
	data, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	st := data[i+2]
	return st == 'Z' || st == 'X'
}

// describedError carries a complete message and a sentinel for errors.Is.
type describedError struct {
	msg  string
	kind error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.kind }

func describe(kind error, format string, args ...any) error {
	return &describedError{msg: fmt.Sprintf(format, args...), kind: kind}
}
