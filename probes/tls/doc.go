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
package tls
