// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* I/O-stall probe. For the targets' threads: the latency of each I/O
 * syscall (log2 histogram, calls, bytes, errors per syscall), and the
 * syscalls at or over a threshold attributed to the user stack that made
 * them. For every disk: the latency of block requests from the moment they
 * are built from a bio until their last byte completed, split by who
 * submitted them (a target or any other context).
 *
 * A syscall's entry time lives in task storage (no map insert or delete
 * per call, freed with the thread); the user stack is walked at exit and
 * only for slow calls, since it does not change during the syscall.
 *
 * Rolling windows (common.h, WINDOW_MAP): a syscall counts in the window
 * where it returns, a block request in the one where it completes, whole;
 * the in-flight state (task storage, requests) goes on across windows. */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include "iostall.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of iostall.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum origin *unused_origin __attribute__((unused));
const enum iostall_count *unused_iostall_count __attribute__((unused));
const enum iostall_drop *unused_iostall_drop __attribute__((unused));

/* Not in the shared vmlinux.h subset. */
#define MAP_TYPE_TASK_STORAGE 29 /* BPF_MAP_TYPE_TASK_STORAGE */
#define MAP_F_NO_PREALLOC 1      /* BPF_F_NO_PREALLOC */
#define STORAGE_GET_F_CREATE 1   /* BPF_LOCAL_STORAGE_GET_F_CREATE */

/* -ERESTARTSYS .. -ERESTART_RESTARTBLOCK: the call is restarted, not over. */
#define ERESTART_FIRST 512
#define ERESTART_LAST 516

/* Syscalls taking at least this long are attributed to their user stack;
 * 0 attributes every traced syscall. */
const volatile __u64 threshold_ns = 0;
/* 1 + the slot in `syscalls` of each traced syscall number, 0 for the rest;
 * filled by user space before load. */
const volatile __u8 sc_slot[SC_NR_MAX] = {};
/* Set by user space once every probe is attached (bpf_ktime_get_ns clock),
 * and back to 0 at detach; events outside the window are ignored. */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 4096);

WINDOW_MAP();

struct {
	__uint(type, MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, MAP_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct sc_value);
	__uint(max_entries, 2 * SC_MAX);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct iowait_key);
	__type(value, struct iowait_value);
	__uint(max_entries, 8192);
} iowait SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct rq_inflight);
	__uint(max_entries, 16384);
} requests SEC(".maps");

/* Requests being built, by the address of their first bio (before 6.5). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);
	__type(value, struct rq_inflight);
	__uint(max_entries, 16384);
} bios SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct disk_key);
	__type(value, struct disk_value);
	__uint(max_entries, 1024);
} disks SEC(".maps");

/* syscalls' histograms per target process (common.h), at win * SC_MAX + slot. */
PID_HIST_MAP();

COUNTER_ARRAY(counters, 2 * COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

/* A zero disk_value to insert from: it does not fit on the BPF stack. */
const struct disk_value disk_zero = {};

/* syscall_slot returns 1 + the slot of syscall nr, or 0 if it is not traced. */
static __always_inline __u32 syscall_slot(long nr)
{
	if ((unsigned long)nr >= SC_NR_MAX)
		return 0;
	return sc_slot[nr];
}

/* sys_enter and sys_exit run for the targets' threads only. */
static __always_inline void sys_enter(long nr)
{
	struct sc_inflight *in;
	__u32 slot;

	if (!window_start_ns)
		return;
	slot = syscall_slot(nr);
	if (!slot)
		return;
	in = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, STORAGE_GET_F_CREATE);
	if (!in) {
		counter_add(&drops, DROP_INFLIGHT, 1);
		return;
	}
	/* The thread's previous traced call never exited as far as the probe
	 * saw: its exit program did not run (a PREEMPT_RT kernel skips a
	 * tracepoint's programs while another one is preempted on that CPU).
	 * That call is lost, counted. */
	if (in->start_ns)
		counter_add(&counters, window_index(&window) * COUNT_MAX + COUNT_UNPAIRED_ENTRIES, 1);
	in->slot = slot;
	in->start_ns = bpf_ktime_get_ns();
}

/* count bumps counter idx of window win. */
static __always_inline void count(__u32 win, __u32 idx)
{
	counter_add(&counters, win * COUNT_MAX + idx, 1);
}

/* slow adds one slow syscall to the thread's user stack in window win. */
static __always_inline void slow(void *ctx, __u32 win, __u32 idx, __u64 ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct iowait_key key = {.tid = (__u32)id, .tgid = id >> 32, .slot = idx, .win = win};
	struct iowait_value *v, init = {};

	count(win, COUNT_SLOW);
	key.user_stack = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	v = bpf_map_lookup_elem(&iowait, &key);
	if (!v) {
		bpf_get_current_comm(&init.comm, sizeof(init.comm));
		v = lookup_or_init(&iowait, &key, &init, &drops, DROP_IOWAIT_FULL);
	}
	if (!v)
		return;
	/* The key holds the thread, which runs on one CPU at a time. */
	v->ns += ns;
	v->count++;
}

static __always_inline void sys_exit(void *ctx, long nr, long ret)
{
	struct sc_inflight *in;
	struct sc_value *v;
	__u32 slot, idx, win;
	__u64 ns;

	if (!window_start_ns)
		return;
	slot = syscall_slot(nr);
	if (!slot)
		return;
	win = window_index(&window);
	in = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (!in || !in->start_ns || in->slot != slot) {
		count(win, COUNT_UNPAIRED_EXITS);
		return;
	}
	ns = bpf_ktime_get_ns() - in->start_ns;
	in->start_ns = 0;
	if (ret <= -ERESTART_FIRST && ret >= -ERESTART_LAST) {
		count(win, COUNT_RESTARTED);
		return;
	}
	idx = slot - 1;
	slot = win * SC_MAX + idx;
	v = bpf_map_lookup_elem(&syscalls, &slot);
	if (v) {
		hist_add(&v->hist, ns);
		if (ret > 0)
			v->bytes += ret;
		else if (ret < 0)
			v->errors++;
		if (pid_hists_on)
			pid_hist_record(&pid_hists, &pid_hist_zero, bpf_get_current_pid_tgid() >> 32, slot, ns,
					&drops, DROP_PID_HISTS_FULL);
	}
	if (ns >= threshold_ns)
		slow(ctx, win, idx, ns);
}

/* Two ways to see the syscalls, one attached (probe.go says which and
 * why). The raw tracepoints run for every syscall of every process. */
SEC("tp_btf/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	if (current_target())
		sys_enter(id);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	if (current_target())
		sys_exit(ctx, regs->orig_ax, ret);
	return 0;
}

/* The per-syscall tracepoints (syscalls:sys_enter_NAME, sys_exit_NAME)
 * run only for the syscalls they are attached to; the program is attached
 * to each. Their records, as tracefs describes them: */
struct syscall_enter_args {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct syscall_exit_args {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_enter_fsync")
int handle_syscall_enter(struct syscall_enter_args *ctx)
{
	if (current_target())
		sys_enter(ctx->nr);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fsync")
int handle_syscall_exit(struct syscall_exit_args *ctx)
{
	if (current_target())
		sys_exit(ctx, ctx->nr, ctx->ret);
	return 0;
}

/* rq_dev returns major << 20 | minor of the disk a request goes to, 0 if
 * it has none. */
static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = 0;

	if (bpf_core_field_exists(rq->q->disk))
		disk = rq->q->disk;
	else if (bpf_core_field_exists(((struct request___rq_disk *)rq)->rq_disk))
		disk = ((struct request___rq_disk *)rq)->rq_disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

/* rq_start records a request in flight from in (start time and origin). */
static __always_inline void rq_start(struct request *rq, struct rq_inflight *in)
{
	__u64 key = (__u64)rq;

	in->dev = rq_dev(rq);
	if (!in->dev)
		return;
	in->op = rq->cmd_flags & REQ_OP_MASK;
	if (bpf_map_update_elem(&requests, &key, in, BPF_ANY))
		counter_add(&drops, DROP_REQUESTS_FULL, 1);
}

/* Block requests are timed from when they are built from a bio, in the
 * submitter's context, until block_rq_complete has reported all of their
 * bytes. Linux 6.5+ says so with block_io_start. block_io_done is not
 * used: it does not fire when the queue keeps no I/O statistics, and it
 * sees no byte count. */
SEC("tp_btf/block_io_start")
int BPF_PROG(handle_block_io_start, struct request *rq)
{
	struct rq_inflight in = {};

	if (!window_start_ns)
		return 0;
	in.start_ns = bpf_ktime_get_ns();
	in.origin = current_target() ? ORIGIN_TARGET : ORIGIN_OTHER;
	rq_start(rq, &in);
	return 0;
}

/* Before 6.5, block_getrq fires at the same point with only the bio, in
 * the submitter's context; the request is found from its first bio when
 * block_rq_issue hands it to the driver. */
SEC("tp_btf/block_getrq")
int BPF_PROG(handle_block_getrq, struct bio *bio)
{
	struct rq_inflight in = {};
	__u64 key = (__u64)bio;

	if (!window_start_ns)
		return 0;
	in.start_ns = bpf_ktime_get_ns();
	in.origin = current_target() ? ORIGIN_TARGET : ORIGIN_OTHER;
	bpf_map_update_elem(&bios, &key, &in, BPF_ANY);
	return 0;
}

/* join_built records request rq in flight if block_getrq saw it built
 * from its first bio, and says whether it did. */
static __always_inline bool join_built(struct request *rq)
{
	struct rq_inflight in = {}, *built;
	__u64 key = (__u64)rq->bio;

	built = key ? bpf_map_lookup_elem(&bios, &key) : 0;
	if (!built)
		return false;
	in.start_ns = built->start_ns;
	in.origin = built->origin;
	bpf_map_delete_elem(&bios, &key);
	rq_start(rq, &in);
	return true;
}

/* A request whose bio is a bare preflush is never issued itself (the
 * flush machinery issues one of its own): it is joined at completion. */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(handle_block_rq_issue, struct request *rq)
{
	/* Built before the window, requeued, or made by the block layer itself
	 * (flushes): block_io_start does not see those either. */
	if (window_start_ns && !join_built(rq))
		count(window_index(&window), COUNT_BLOCK_ISSUE_UNBUILT);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(handle_block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct disk_key dk = {};
	struct disk_value *v;
	struct rq_inflight *in;
	__u64 key = (__u64)rq, ns;
	__u32 win;

	if (!window_start_ns)
		return 0;
	win = window_index(&window);
	in = bpf_map_lookup_elem(&requests, &key);
	if (!in && join_built(rq))
		in = bpf_map_lookup_elem(&requests, &key);
	if (!in) {
		count(win, COUNT_BLOCK_UNPAIRED);
		return 0;
	}
	in->bytes += nr_bytes;
	if (error)
		in->error = 1;
	if (nr_bytes < rq->__data_len) { /* more of the request to come */
		count(win, COUNT_BLOCK_PARTIAL);
		return 0;
	}
	ns = bpf_ktime_get_ns() - in->start_ns;
	dk.dev = in->dev;
	dk.origin = in->origin;
	dk.win = win;
	v = bpf_map_lookup_elem(&disks, &dk);
	if (!v) {
		bpf_map_update_elem(&disks, &dk, &disk_zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&disks, &dk);
	}
	if (v) {
		hist_add(&v->hist, ns);
		if (in->op == REQ_OP_READ) {
			v->reads++;
			v->read_bytes += in->bytes;
		} else if (in->op == REQ_OP_WRITE && in->bytes) {
			v->writes++;
			v->write_bytes += in->bytes;
		} else if (in->op == REQ_OP_WRITE || in->op == REQ_OP_FLUSH) {
			v->flushes++;
		} else {
			v->others++;
		}
		if (in->error)
			v->errors++;
	} else {
		counter_add(&drops, DROP_DISKS_FULL, 1);
	}
	bpf_map_delete_elem(&requests, &key);
	return 0;
}
