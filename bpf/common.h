/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by perfprobe's BPF programs: the set of target
 * processes, log2 histograms, drop and event counters, lookup-or-init.
 * Everything here aggregates in the kernel. */
#ifndef PERFPROBE_COMMON_H
#define PERFPROBE_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define TASK_COMM_LEN 16
#define MAX_STACK_DEPTH 127
#define HIST_SUB 4 /* sub-slots per power of two */
#define HIST_SLOTS (64 * HIST_SUB)

/* Errors bpf_get_stackid returns that are not drops. */
#define ERR_NO_STACK 14 /* EFAULT: no stack in this context (e.g. kernel stack of a user-mode sample) */
#define ERR_EXIST 17    /* EEXIST */

/* STACK_MAP declares a stack-trace map holding up to n stacks. */
#define STACK_MAP(name, n)                                                \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                    \
		__uint(key_size, sizeof(__u32));                           \
		__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));       \
		__uint(max_entries, n);                                    \
	} name SEC(".maps")

/* The processes a session profiles, by tgid: one map shared by every probe
 * of a session (user space creates it and loads each probe with it in
 * place of the probe's own), filled by user space (targets added while the
 * probes stay attached) and by probes/follow.bpf.c (children of followed
 * targets, at fork, before they run). A probe records a thread's events
 * only while its tgid is in it. */
#define MAX_TARGETS 4096

/* Flags of a target. */
#define TARGET_CHILDREN 1 /* its new child processes become targets at fork */
#define TARGET_FORKED 2   /* added in the kernel when a followed target forked it */

struct target_info {
	__u64 start_ns; /* became a target (bpf_ktime_get_ns); 0: before the window */
	__u64 exit_ns;  /* its last thread exited; 0 while it runs */
	__u32 flags;    /* TARGET_* */
	__u32 parent;   /* TARGET_FORKED: the tgid that forked it */
	__u32 execs;    /* execs since it became a target */
	__u32 pad;
	char comm[16];  /* at fork, exec and exit */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct target_info);
	__uint(max_entries, MAX_TARGETS);
} targets SEC(".maps");

/* target_of returns the target entry of tgid, NULL when it is no target. */
static __always_inline struct target_info *target_of(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid);
}

/* current_target returns the current pid_tgid when its process is a
 * target, else 0. */
static __always_inline __u64 current_target(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	return target_of(id >> 32) ? id : 0;
}

/* target_since returns when events of target t count from: the window
 * start, or later when it became a target during the window. */
static __always_inline __u64 target_since(const struct target_info *t, __u64 window_start)
{
	return t && t->start_ns > window_start ? t->start_ns : window_start;
}

/* Rolling windows (probes.Drainer): a probe keeps what it aggregates per
 * window, 0 or 1: per-CPU arrays hold one set of slots per window
 * (win * N + slot), hash keys carry the window. A program reads the
 * current window once, when it starts, from a one-slot map of maps whose
 * inner array holds it (WINDOW_MAP). To end a window, user space puts a
 * new inner array there holding the other one; that update returns once
 * no program still runs with the old window (the kernel waits for an RCU
 * grace period after updating a map of maps), so the old window's figures
 * are final when user space reads them, and it clears them before they are
 * used again, two windows later. */
struct window_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
};

/* WINDOW_MAP declares `window`, starting with window 0. */
#define WINDOW_MAP()                                                      \
	struct window_array window0 SEC(".maps");                         \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                  \
		__type(key, __u32);                                        \
		__uint(max_entries, 1);                                    \
		__array(values, struct window_array);                      \
	} window SEC(".maps") = {.values = {&window0}}

/* window_index returns the current window, 0 or 1, of a WINDOW_MAP. */
static __always_inline __u32 window_index(void *window)
{
	__u32 zero = 0, *w;
	void *inner = bpf_map_lookup_elem(window, &zero);

	if (!inner)
		return 0;
	w = bpf_map_lookup_elem(inner, &zero);
	return w ? *w & 1 : 0;
}

/* COUNTER_ARRAY declares a per-CPU array of n __u64 counters, summed by
 * user space (event counts, drops). */
#define COUNTER_ARRAY(name, n)                                            \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                   \
		__type(key, __u32);                                        \
		__type(value, __u64);                                      \
		__uint(max_entries, n);                                    \
	} name SEC(".maps")

/* A log-linear histogram of nanoseconds: each power of two [2^l, 2^(l+1))
 * is split in HIST_SUB equal slots (slot l*4 + s counts [(4+s)*2^(l-2),
 * (5+s)*2^(l-2))), so a slot is at most 25% wide and an interpolated
 * percentile is within a few percent; values 0..3 have a slot each. */
struct hist {
	__u64 slots[HIST_SLOTS];
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
};

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* hist_slot returns the slot of struct hist that ns falls in. */
static __always_inline __u32 hist_slot(__u64 ns)
{
	__u32 l = log2_u64(ns), slot = ns;

	if (ns >= HIST_SUB)
		slot = l * HIST_SUB + ((ns >> (l - 2)) & (HIST_SUB - 1));

	if (slot >= HIST_SLOTS)
		slot = HIST_SLOTS - 1;
	return slot;
}

static __always_inline void hist_add(struct hist *h, __u64 ns)
{
	__u32 slot = hist_slot(ns);

	h->slots[slot]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* counter_add bumps slot idx of a per-CPU array of __u64. */
static __always_inline void counter_add(void *map, __u32 idx, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);

	if (c)
		*c += v;
}

/* hist_record adds ns to slot idx of a per-CPU array of struct hist. */
static __always_inline void hist_record(void *hists, __u32 idx, __u64 ns)
{
	struct hist *h = bpf_map_lookup_elem(hists, &idx);

	if (h)
		hist_add(h, ns);
}

/* lookup_or_init returns map[key], inserting *init first when it is missing
 * (if another CPU inserts it first, that entry); NULL when the map is full,
 * counted in slot drop_idx of drops. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init, void *drops, __u32 drop_idx)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -ERR_EXIST) {
		counter_add(drops, drop_idx, 1);
		return 0;
	}
	return bpf_map_lookup_elem(map, key);
}

/* Per-target histograms: beside a probe's histograms for the whole
 * session, the same ones per target process, keyed by its tgid and the
 * histogram's index in the session's array (win * N + hist, so that they
 * follow the same windows; user space deletes a window's entries once it
 * has read them). Bounded: a full map drops the per-target record, counted,
 * never the event or the session's histograms. */
#define PID_HISTS_MAX 1024

struct pid_hist_key {
	__u32 tgid;
	__u32 idx; /* the histogram's index in the probe's session array */
};

/* PID_HIST_MAP declares `pid_hists`, `pid_hist_zero`, the value its
 * entries start from (a struct hist does not fit on the BPF stack), and
 * `pid_hists_on`, the knob user space sets before load: off, the verifier
 * removes every pid_hist_record behind `if (pid_hists_on)` and user space
 * shrinks the map to one entry. A HASH shared by every CPU with atomic
 * adds, not a PERCPU_HASH: its memory (2 KiB an entry, preallocated) does
 * not grow with the CPUs. */
#define PID_HIST_MAP()                                                    \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_HASH);                           \
		__type(key, struct pid_hist_key);                          \
		__type(value, struct hist);                                \
		__uint(max_entries, PID_HISTS_MAX);                        \
	} pid_hists SEC(".maps");                                          \
	const struct hist pid_hist_zero = {};                              \
	const volatile bool pid_hists_on = false

/* hist_add_atomic is hist_add for a histogram several CPUs update at once:
 * slots, count and sum are exact; max_ns is best effort (no compare and
 * swap before BPF v3: two CPUs raising it together may keep the lower). */
static __always_inline void hist_add_atomic(struct hist *h, __u64 ns)
{
	__u32 slot = hist_slot(ns);

	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* pid_hist_record adds ns to histogram idx of process tgid in map (a
 * PID_HIST_MAP, zero its pid_hist_zero); a full map is counted in slot
 * drop_idx of drops. */
static __always_inline void pid_hist_record(void *map, const struct hist *zero, __u32 tgid, __u32 idx, __u64 ns,
					    void *drops, __u32 drop_idx)
{
	struct pid_hist_key key = {.tgid = tgid, .idx = idx};
	struct hist *h = lookup_or_init(map, &key, zero, drops, drop_idx);

	if (h)
		hist_add_atomic(h, ns);
}

/* stack_id records a stack and counts the drop when the map refused it. */
static __always_inline __s32 stack_id(void *ctx, void *stacks, __u64 flags, void *drops, __u32 drop_idx)
{
	long id = bpf_get_stackid(ctx, stacks, flags);

	if (id < 0 && id != -ERR_NO_STACK)
		counter_add(drops, drop_idx, 1);
	return id;
}

#endif
