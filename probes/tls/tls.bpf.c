// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* TLS handshake probe: times the targets' TLS handshakes from the stack
 * that started them to their end, counts them as ok or failed per client
 * and server, and keeps log2 histograms of their durations.
 *
 * Go crypto/tls: a uprobe on the PUSHQ BP of the frame setup of
 * (*Conn).clientHandshake / serverHandshake (after the stack check, so the
 * stack-growth path that re-enters the function from the top does not count
 * twice) starts a handshake keyed by {tgid, goroutine} (R14 holds the g
 * pointer in Go's register ABI; thread ids are useless, goroutines move
 * between threads), and a uprobe on every RET instruction of the same
 * function ends it: the returned error's first word (RAX) is 0 when it is
 * nil. Never a uretprobe: Go moves goroutine stacks and the kernel's return
 * trampoline would corrupt them. The cookie of each uprobe is the side
 * (enum side), with COOKIE_CALLER_AT_SP on entries before the frame push.
 *
 * OpenSSL/BoringSSL (C code, so uretprobes are safe): a handshake runs from
 * the first SSL_do_handshake(ssl) to the first return of 1 (ok); a return
 * of 0 is a failure; a negative return (WANT_READ/WANT_WRITE on
 * non-blocking sockets, or a fatal error) keeps it pending. A pending
 * handshake whose SSL is freed (SSL_free) before it succeeded failed, and
 * lasted until its last SSL_do_handshake return. The side comes
 * from SSL_connect/SSL_accept/SSL_set_connect_state/SSL_set_accept_state.
 *
 * Handshakes are counted when they began after window_start_ns; entries
 * are recorded from attach on, so that one begun before the window is
 * recognized and left out instead of being timed from a later retry.
 *
 * Rolling windows (common.h, WINDOW_MAP): a handshake counts, whole, in the
 * window where it ends; one in flight at a switch goes on in the kernel.
 *
 * perfprobe's own connections (endpoint discovery, profile fetches) make
 * server handshakes in the target too: user space puts each one's local
 * port in own_conns before it connects, and a Go server handshake whose
 * socket's peer is one of them is counted in COUNT_OWN only (own_conn). */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tls.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of tls.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum side *unused_side __attribute__((unused));
const enum lib *unused_lib __attribute__((unused));
const enum tls_count *unused_tls_count __attribute__((unused));
const enum tls_drop *unused_tls_drop __attribute__((unused));

/* An OpenSSL handshake pending this long since its last attempt is stale
 * (its SSL object was freed unseen): a new one on the same SSL* restarts. */
const volatile __u64 max_idle_ns = 60000000000ULL;
/* Walk the user stack at most once per this interval and call site (direct
 * caller, side, library); handshakes entered in between are attributed to
 * the stack last walked from the same call site. 0 walks every time. */
const volatile __u64 stack_interval_ns = 0;
/* Set by user space once every probe is attached (bpf_ktime_get_ns clock). */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 4096);

/* perfprobe's own connections (tls.h): LRU, user space adds one per
 * connection and the oldest go. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct own_key);
	__type(value, struct own_value);
	__uint(max_entries, 1024);
} own_conns SEC(".maps");

WINDOW_MAP();

/* LRU: entries of handshakes that never end (a panic unwinding past the
 * function) are evicted by newer ones instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct go_key);
	__type(value, struct inflight);
	__uint(max_entries, 16384);
} go_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ssl_key);
	__type(value, struct inflight);
	__uint(max_entries, 16384);
} ssl_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct walk_key);
	__type(value, struct walk_value);
	__uint(max_entries, 1024);
} walks SEC(".maps");

/* Side of each SSL object, from SSL_connect/SSL_accept/SSL_set_*_state. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ssl_key);
	__type(value, __u32);
	__uint(max_entries, 16384);
} ssl_side SEC(".maps");

/* The SSL* of the SSL_do_handshake call running on a thread (C code: a
 * call starts and ends on the same thread), for its uretprobe. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64); /* pid_tgid */
	__type(value, __u64);
	__uint(max_entries, 4096);
} ssl_call SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct stat_key);
	__type(value, struct stat_value);
	__uint(max_entries, 4096);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct hist);
	__uint(max_entries, 2 * HIST_MAX);
} hists SEC(".maps");

/* hists per target process (common.h). */
PID_HIST_MAP();

COUNTER_ARRAY(counters, 2 * COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

/* count bumps counter idx of window win. */
static __always_inline void count(__u32 win, __u32 idx)
{
	counter_add(&counters, win * COUNT_MAX + idx, 1);
}

/* user_stack walks the user stack, or reuses the one walked from the same
 * call site (three return addresses deep) less than stack_interval_ns ago:
 * a walk costs microseconds, the handshake's time and count stay exact
 * either way. */
static __always_inline __s32 user_stack(struct pt_regs *ctx, __u64 caller, __u32 side, __u32 lib, __u64 now)
{
	struct walk_key key = {.caller = caller, .side = side, .lib = lib};
	struct walk_value *w, init = {};
	struct {
		__u64 bp, ra;
	} frame = {.bp = ctx->bp};

	if (!stack_interval_ns || !caller)
		return stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	for (int i = 0; i < 2; i++) {
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)frame.bp))
			break;
		key.up[i] = frame.ra;
	}
	w = bpf_map_lookup_elem(&walks, &key);
	if (w && now - w->walked_ns < stack_interval_ns) {
		count(window_index(&window), COUNT_STACKS_REUSED);
		return w->user_stack;
	}
	init.walked_ns = now;
	init.user_stack = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	bpf_map_update_elem(&walks, &key, &init, BPF_ANY);
	return init.user_stack;
}

static __always_inline void inflight_init(struct pt_regs *ctx, struct inflight *in, __u64 id, __u32 side,
					  __u32 lib, bool caller_at_sp, __u64 now)
{
	in->caller = 0;
	if (caller_at_sp && bpf_probe_read_user(&in->caller, sizeof(in->caller), (void *)ctx->sp))
		in->caller = 0;
	in->start_ns = now;
	in->last_ns = 0;
	in->side = side < SIDE_MAX ? side : SIDE_UNKNOWN;
	in->tid = (__u32)id;
	in->attempts = 0;
	in->user_stack = user_stack(ctx, in->caller, in->side, lib, now);
}

/* done accounts one finished handshake that lasted end - in->start_ns, in
 * window win. */
static __always_inline void done(struct inflight *in, __u32 win, __u32 lib, bool failed, __u64 end)
{
	__u64 ws = window_start_ns, ns;
	__u32 side = in->side, idx;
	struct stat_key key = {};
	struct stat_value *v, init = {};

	if (!ws || in->start_ns < ws) {
		count(win, COUNT_BEFORE_WINDOW);
		return;
	}
	if (in->own) {
		count(win, COUNT_OWN);
		return;
	}
	if (side >= SIDE_MAX)
		side = SIDE_UNKNOWN;
	if (lib >= LIB_MAX)
		lib = LIB_GO;
	ns = end > in->start_ns ? end - in->start_ns : 0;
	idx = lib * SIDE_MAX + side;
	count(win, idx * 2 + (failed ? 1 : 0));
	hist_record(&hists, win * HIST_MAX + idx, ns);
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	if (pid_hists_on)
		pid_hist_record(&pid_hists, &pid_hist_zero, key.tgid, win * HIST_MAX + idx, ns, &drops,
				DROP_PID_HISTS_FULL);

	key.user_stack = in->user_stack;
	key.side = side;
	key.lib = lib;
	key.caller = in->caller;
	key.win = win;
	v = bpf_map_lookup_elem(&stats, &key);
	if (!v) {
		init.tid = in->tid;
		bpf_get_current_comm(&init.comm, sizeof(init.comm));
		v = lookup_or_init(&stats, &key, &init, &drops, DROP_STATS_FULL);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->ns, ns);
	__sync_fetch_and_add(&v->count, 1);
	if (failed)
		__sync_fetch_and_add(&v->failed, 1);
}

/* The kernel objects from a thread's file table to a socket's peer, as
 * much of them as own_conn reads (CO-RE: the ___pp suffix is dropped when
 * matching the kernel's types). */
struct fdtable___pp {
	unsigned int max_fds;
	struct file___pp **fd;
} __attribute__((preserve_access_index));
struct files_struct___pp {
	struct fdtable___pp *fdt;
} __attribute__((preserve_access_index));
struct task_struct___pp {
	struct files_struct___pp *files;
} __attribute__((preserve_access_index));
struct file___pp {
	void *private_data;
} __attribute__((preserve_access_index));
struct ns_common___pp {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct net___pp {
	struct ns_common___pp ns;
} __attribute__((preserve_access_index));
struct sock_common___pp {
	__be16 skc_dport;
	unsigned short skc_family;
	struct {
		struct net___pp *net;
	} skc_net;
} __attribute__((preserve_access_index));
struct sock___pp {
	struct sock_common___pp __sk_common;
} __attribute__((preserve_access_index));
struct socket___pp {
	struct file___pp *file;
	struct sock___pp *sk;
} __attribute__((preserve_access_index));

#define AF_INET_ 2
#define AF_INET6_ 10

/* own_conn reports whether the Go *tls.Conn c of the current process runs
 * on one of perfprobe's own connections, begun at now: c.conn (a net.Conn
 * whose data word points to a *net.TCPConn) -> conn.fd -> pfd.Sysfd ->
 * the thread's file table -> its socket -> the peer port and network
 * namespace, looked up in own_conns. Offsets come in the cookie (tls.h).
 * Every read is checked, and anything unexpected (another net.Conn type
 * whose words lead nowhere, a file that is not a socket, not TCP/IP) says
 * no: the handshake is then the target's. */
static __noinline bool own_conn(__u64 c, __u64 cookie, __u64 now)
{
	struct task_struct___pp *task = (void *)bpf_get_current_task();
	__u32 conn_off = (cookie >> COOKIE_CONN_SHIFT) & 0xff, fd_off = (cookie >> COOKIE_FD_SHIFT) & 0xff,
	      sysfd_off = (cookie >> COOKIE_SYSFD_SHIFT) & 0xffff;
	struct own_key key = {};
	struct fdtable___pp *fdt;
	struct file___pp *f, **fds;
	struct socket___pp *sock;
	struct sock___pp *sk;
	struct own_value *v;
	__u64 data, netfd;
	__s64 sysfd;
	__u16 family;

	if (!c || bpf_probe_read_user(&data, sizeof(data), (void *)(c + conn_off)) || !data ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(data + fd_off)) || !netfd ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + sysfd_off)))
		return false;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || sysfd < 0 || sysfd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[sysfd]) || !f)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f) /* not a socket */
		return false;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET_ && family != AF_INET6_)
		return false;
	if (!bpf_core_field_exists(sk->__sk_common.skc_net.net)) /* CONFIG_NET_NS=n */
		return false;
	key.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	key.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	v = bpf_map_lookup_elem(&own_conns, &key);
	return v && v->from_ns <= now && now <= v->until_ns;
}

/* Go: at the frame setup of the handshake function. */
SEC("uprobe")
int go_handshake_enter(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), id = current_target(), now;
	struct go_key key = {};
	struct inflight in = {};

	if (!id)
		return 0;
	key.tgid = id >> 32;
	key.g = ctx->r14;
	/* The same goroutine cannot be in two handshakes: an entry still
	 * there is one that never returned (a panic unwound past it). */
	if (bpf_map_lookup_elem(&go_inflight, &key))
		counter_add(&drops, DROP_EXPIRED, 1);
	now = bpf_ktime_get_ns();
	/* RAX: the receiver, c *Conn (register ABI). */
	if ((cookie & COOKIE_OWN_CHECK) && own_conn(ctx->ax, cookie, now)) {
		in.start_ns = now;
		in.side = SIDE_SERVER;
		in.tid = (__u32)id;
		in.own = 1;
	} else {
		inflight_init(ctx, &in, id, cookie & COOKIE_SIDE_MASK, LIB_GO, cookie & COOKIE_CALLER_AT_SP, now);
	}
	if (bpf_map_update_elem(&go_inflight, &key, &in, BPF_ANY))
		counter_add(&drops, DROP_INFLIGHT_FULL, 1);
	return 0;
}

/* Go: on each RET of the handshake function; RAX is the returned error's
 * type word, 0 for a nil error. Cookie: enum side (unused). */
SEC("uprobe")
int go_handshake_return(struct pt_regs *ctx)
{
	__u64 now, id = current_target();
	struct go_key key = {};
	struct inflight *in;
	__u32 win;

	if (!id)
		return 0;
	now = bpf_ktime_get_ns();
	key.tgid = id >> 32;
	key.g = ctx->r14;
	win = window_index(&window);
	in = bpf_map_lookup_elem(&go_inflight, &key);
	if (!in) {
		count(win, COUNT_UNPAIRED);
		return 0;
	}
	done(in, win, LIB_GO, ctx->ax != 0, now);
	bpf_map_delete_elem(&go_inflight, &key);
	return 0;
}

static __always_inline void ssl_set_side(__u64 ssl, __u32 side)
{
	__u64 id = current_target();
	struct ssl_key key = {.tgid = id >> 32, .ssl = ssl};

	if (id)
		bpf_map_update_elem(&ssl_side, &key, &side, BPF_ANY);
}

/* SSL_connect, SSL_set_connect_state: the SSL is a client. */
SEC("uprobe")
int ssl_client_side(struct pt_regs *ctx)
{
	ssl_set_side(ctx->di, SIDE_CLIENT);
	return 0;
}

/* SSL_accept, SSL_set_accept_state: the SSL is a server. */
SEC("uprobe")
int ssl_server_side(struct pt_regs *ctx)
{
	ssl_set_side(ctx->di, SIDE_SERVER);
	return 0;
}

SEC("uprobe")
int ssl_handshake_enter(struct pt_regs *ctx)
{
	__u64 now, ssl = ctx->di, id = current_target();
	struct ssl_key key = {.tgid = id >> 32, .ssl = ssl};
	struct inflight *in, init = {};
	__u32 *side;

	if (!id)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&ssl_call, &id, &ssl, BPF_ANY);
	in = bpf_map_lookup_elem(&ssl_inflight, &key);
	if (in) {
		__u64 last = in->last_ns ? in->last_ns : in->start_ns;

		if (now - last < max_idle_ns) { /* a retry after WANT_READ/WANT_WRITE */
			in->attempts++;
			return 0;
		}
		counter_add(&drops, DROP_EXPIRED, 1);
	}
	side = bpf_map_lookup_elem(&ssl_side, &key);
	inflight_init(ctx, &init, id, side ? *side : SIDE_UNKNOWN, LIB_OPENSSL, true, now); /* at the function's entry */
	init.attempts = 1;
	if (bpf_map_update_elem(&ssl_inflight, &key, &init, BPF_ANY))
		counter_add(&drops, DROP_INFLIGHT_FULL, 1);
	return 0;
}

SEC("uretprobe")
int ssl_handshake_return(struct pt_regs *ctx)
{
	__u64 *ssl, now, id = current_target();
	int ret = (int)ctx->ax;
	struct ssl_key key = {.tgid = id >> 32};
	struct inflight *in;
	__u32 win;

	if (!id)
		return 0;
	now = bpf_ktime_get_ns();
	win = window_index(&window);
	ssl = bpf_map_lookup_elem(&ssl_call, &id);
	if (!ssl) {
		count(win, COUNT_UNPAIRED);
		return 0;
	}
	key.ssl = *ssl;
	bpf_map_delete_elem(&ssl_call, &id);
	in = bpf_map_lookup_elem(&ssl_inflight, &key);
	if (!in) {
		count(win, COUNT_UNPAIRED);
		return 0;
	}
	if (ret < 0) { /* WANT_READ/WANT_WRITE, or an error SSL_free will tell */
		in->last_ns = now;
		count(win, COUNT_RETRIES);
		return 0;
	}
	done(in, win, LIB_OPENSSL, ret != 1, now);
	bpf_map_delete_elem(&ssl_inflight, &key);
	return 0;
}

/* SSL_free: a handshake still pending on this SSL failed. */
SEC("uprobe")
int ssl_free(struct pt_regs *ctx)
{
	__u64 id = current_target();
	struct ssl_key key = {.tgid = id >> 32, .ssl = ctx->di};
	struct inflight *in;

	if (!id)
		return 0;
	bpf_map_delete_elem(&ssl_side, &key);
	in = bpf_map_lookup_elem(&ssl_inflight, &key);
	if (!in)
		return 0;
	if (in->last_ns) /* it returned at least once and never succeeded */
		done(in, window_index(&window), LIB_OPENSSL, true, in->last_ns);
	bpf_map_delete_elem(&ssl_inflight, &key);
	return 0;
}
