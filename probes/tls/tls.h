/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by tls.bpf.c and probe.go. */
#ifndef PERFPROBE_TLS_H
#define PERFPROBE_TLS_H

/* Which end of the connection a handshake is (the low byte of the uprobe
 * cookie of the Go programs; remembered per SSL* for OpenSSL). */
enum side {
	SIDE_CLIENT,
	SIDE_SERVER,
	SIDE_UNKNOWN, /* OpenSSL: neither SSL_connect/SSL_accept nor SSL_set_*_state seen */
	SIDE_MAX,
};

/* Cookie flag of an entry uprobe placed before the function pushed its
 * frame pointer (PUSHQ BP, which the kernel emulates instead of
 * single-stepping): the frame-pointer walk then misses the direct caller,
 * whose return address is at [SP]; it is read and kept beside the stack. */
#define COOKIE_CALLER_AT_SP (1 << 8)
#define COOKIE_SIDE_MASK 0xff
/* Cookie of a Go server-handshake entry whose binary's layout is known:
 * look whether the connection is one of perfprobe's own (own_conns). Bits
 * 16-23: offset in crypto/tls.Conn of the data word of its conn (a
 * net.Conn interface); 24-31: offset in net.TCPConn of conn.fd (*netFD);
 * 32-47: offset in net.netFD of pfd.Sysfd (int). */
#define COOKIE_OWN_CHECK (1 << 9)
#define COOKIE_CONN_SHIFT 16
#define COOKIE_FD_SHIFT 24
#define COOKIE_SYSFD_SHIFT 32

/* Which TLS implementation did the handshake. */
enum lib {
	LIB_GO,
	LIB_OPENSSL, /* OpenSSL or BoringSSL */
	LIB_MAX,
};

/* A Go handshake in flight, keyed by the goroutine that runs it. */
struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g; /* runtime.g pointer: R14 on amd64 */
};

/* An OpenSSL handshake in flight, keyed by its SSL object. */
struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl; /* SSL *, first argument (RDI) */
};

struct inflight {
	__u64 start_ns; /* first entry */
	__u64 caller;   /* return address into the direct caller when the walk misses it, else 0 */
	__u64 last_ns;  /* OpenSSL: last return of SSL_do_handshake (WANT_READ/WRITE); 0 before it */
	__s32 user_stack;
	__u32 side;
	__u32 tid;
	__u32 attempts; /* OpenSSL: SSL_do_handshake calls so far */
	__u32 own;      /* on a connection perfprobe made (own_conns): counted apart */
	__u32 pad;
};

/* A connection perfprobe itself made (endpoint discovery, profile
 * fetches), as the target's end of it sees it: the peer port in the
 * socket's network namespace. */
struct own_key {
	__u32 netns; /* network namespace inode */
	__u16 port;  /* perfprobe's local port, host order */
	__u16 pad;
};

/* When: handshakes that began in [from_ns, until_ns] on such a connection
 * are perfprobe's (bpf_ktime_get_ns clock). until_ns is ~0 while it is
 * open, and a little after its close once closed. */
struct own_value {
	__u64 from_ns;
	__u64 until_ns;
};

/* Handshake time per stack that started the handshakes. The full user
 * stack is user_stack with caller, when not 0, inserted after its leaf. */
struct stat_key {
	__s32 user_stack;
	__u32 side;
	__u32 lib;
	__u32 tgid;
	__u64 caller;
	__u32 win; /* the window the handshakes ended in */
	__u32 pad;
};

struct stat_value {
	__u64 ns;
	__u64 count;
	__u64 failed;
	__u32 tid; /* the first thread seen (a goroutine may move between threads) */
	__u32 pad;
	char comm[16];
};

/* The last stack walked for handshakes entered from one call site: the
 * direct caller and the next two return addresses up the frame chain. */
struct walk_key {
	__u64 caller;
	__u64 up[2];
	__u32 side;
	__u32 lib;
};

struct walk_value {
	__u64 walked_ns;
	__s32 user_stack;
	__u32 pad;
};

/* Indexes of the hists array, one set per window: win * HIST_MAX + lib *
 * SIDE_MAX + side. */
#define HIST_MAX (LIB_MAX * SIDE_MAX)

/* Indexes of the counters array, one set per window (win * COUNT_MAX +
 * count): the first (lib * SIDE_MAX + side) * 2 + failed count completed
 * handshakes, the rest follow. */
enum tls_count {
	COUNT_UNPAIRED = LIB_MAX * SIDE_MAX * 2, /* returns whose start was not seen (began before attach) */
	COUNT_BEFORE_WINDOW,                     /* handshakes that began before the window: not counted */
	COUNT_RETRIES,                           /* OpenSSL: SSL_do_handshake calls that returned < 1 and kept the handshake pending */
	COUNT_STACKS_REUSED,                     /* handshakes attributed to the last stack walked from the same call site */
	COUNT_OWN,                               /* handshakes on perfprobe's own connections: not the target's, left out */
	COUNT_MAX,
};

enum tls_drop {
	DROP_USER_STACK,    /* user stack not recorded (stack map full or collision) */
	DROP_STATS_FULL,    /* stats map full: a handshake counted but not attributed to a stack */
	DROP_INFLIGHT_FULL, /* in-flight map refused an entry: that handshake is lost */
	DROP_EXPIRED,       /* in-flight handshake that never ended: a panic or Goexit unwound past the
			     * Go function, or an OpenSSL one idle for max_idle_ns */
	DROP_PID_HISTS_FULL, /* pid_hists full: a handshake not in its process's histograms */
	DROP_MAX,           /* drops count over the session: user space takes differences */
};

#endif
