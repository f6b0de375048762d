// Package tls is the TLS handshake probe: it times every TLS handshake of
// the target, Go crypto/tls ((*Conn).clientHandshake and serverHandshake,
// found through the executable's .gopclntab, also when stripped or PIE)
// and OpenSSL/BoringSSL (SSL_do_handshake in libssl or linked into the
// executable), from the stack that started it to its end, counts them as
// ok or failed per client and server, and keeps log2 histograms of their
// durations, all aggregated in the kernel. Go functions get a uprobe after
// their frame setup and one on every RET instruction, paired by goroutine:
// never a uretprobe, which crashes Go programs.
package tls
