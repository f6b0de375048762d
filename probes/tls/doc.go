// Package tls is the TLS handshake probe: it times every TLS handshake of
// the targets from the stack that started it to its end, counts them as ok
// or failed per client and server, and keeps log2 histograms of their
// durations, all aggregated in the kernel.
//
// The uprobes sit on the files (executables, libssl), for every process:
// each file is probed once whichever targets run it (files are told apart
// by device and inode), a target added later is probed in its files not
// probed yet, and the programs record the processes in the session's
// target map only.
//
// Go crypto/tls: (*Conn).clientHandshake and (*Conn).serverHandshake are
// found through the executable's .gopclntab (also stripped and PIE builds).
// Never a uretprobe (Go moves goroutine stacks): a uprobe on the function's
// PUSHQ BP, after its stack check, starts a handshake keyed by {tgid,
// goroutine (R14)}, and a uprobe on every RET, found by decoding the
// function with x86asm, ends it; a nil returned error (RAX == 0) is a
// success. A function any byte of which does not decode is not probed.
//
// OpenSSL and BoringSSL (libssl mapped in the target, or linked into its
// executable): a handshake runs from the first SSL_do_handshake on an SSL*
// to its first return of 1; 0 is a failure, as is an SSL freed while its
// handshake is pending (it then lasted until its last attempt). Handshakes
// a program drives implicitly through SSL_read/SSL_write, without
// SSL_do_handshake, SSL_connect or SSL_accept, are not seen.
//
// Stack walks cost microseconds; with a stack interval, handshakes entered
// from the same call site within it reuse the last stack walked there (the
// time and counts stay exact). Every uprobe hit is a trap: each Go
// handshake pays one the kernel emulates (the push) and one it
// single-steps (the RET), microseconds on bare metal, tens of microseconds
// in some VMs.
//
// perfprobe's own traffic (own.go): endpoint discovery and profile fetches
// connect to the target, and each connection to a TLS port makes a server
// handshake there. Those are counted in tls_own_probes only. Decision: the
// fetch client binds each socket to an ephemeral port before connect(2)
// and tells the probe (OwnConn: the port and the socket's network
// namespace, with the time it is valid from and, after its close plus
// OwnGrace, until), so the probe knows the connection before the target
// can accept it and the check at the handshake's entry has no race. At a
// Go server handshake's entry the program follows the *tls.Conn (RAX) to
// its socket (c.conn's data word -> *net.TCPConn -> conn.fd ->
// pfd.Sysfd -> the thread's file table -> struct socket, checked to point
// back at its file -> sock) and looks its peer port and network namespace
// up; the Go offsets come from the binary's DWARF, else from a constant
// layout for Go 1.21-1.27, in the entry uprobe's cookie. Anything that does
// not lead to a registered TCP socket counts as the target's (fail
// closed): a net.Conn that is not a *net.TCPConn (a wrapper), OpenSSL
// targets (no own check), a layout that is not known. Doing discovery
// without handshakes was rejected: a TLS-only pprof endpoint needs them,
// and the fetches make more.
package tls
