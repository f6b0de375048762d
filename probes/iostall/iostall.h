/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by iostall.bpf.c and probe.go. */
#ifndef PERFPROBE_IOSTALL_H
#define PERFPROBE_IOSTALL_H

/* Syscall numbers below this are looked up in sc_slot; others are ignored. */
#define SC_NR_MAX 512
/* Slots of the syscalls array: one per traced syscall. */
#define SC_MAX 32

/* One traced syscall over a window; a per-CPU array slot (win * SC_MAX +
 * slot). */
struct sc_value {
	struct hist hist; /* entry until exit, every call */
	__u64 bytes;      /* sum of positive returns (bytes for the read/write family) */
	__u64 errors;     /* negative returns */
};

/* A thread's syscall in flight (task storage). */
struct sc_inflight {
	__u64 start_ns; /* entry; 0 when none in flight */
	__u32 slot;     /* sc_slot of the syscall */
	__u32 pad;
};

/* Slow syscalls of one thread at one user stack. */
struct iowait_key {
	__u32 tid;
	__s32 user_stack;
	__u32 slot;
	__u32 tgid;
	__u32 win; /* the window the calls ended in */
};

struct iowait_value {
	__u64 ns;
	__u64 count;
	char comm[16];
};

/* Who started a block request. */
enum origin {
	ORIGIN_TARGET, /* a thread of a target submitted it */
	ORIGIN_OTHER,  /* any other context (writeback, journal, other processes) */
	ORIGIN_MAX,
};

/* A block request in flight, keyed by its address. */
struct rq_inflight {
	__u64 start_ns; /* built from a bio: block_io_start or block_getrq */
	__u64 bytes;    /* completed so far */
	__u32 dev;      /* major << 20 | minor of the disk */
	__u8 origin;    /* enum origin */
	__u8 op;        /* REQ_OP_* */
	__u8 error;     /* a completion reported an error */
	__u8 pad;
};

struct disk_key {
	__u32 dev; /* major << 20 | minor */
	__u32 origin;
	__u32 win; /* the window the requests completed in */
};

/* One disk and origin over a window; per-CPU hash values. */
struct disk_value {
	struct hist hist; /* built until the last byte completed */
	__u64 reads;
	__u64 writes;
	__u64 flushes;     /* flush requests and empty writes (a bare preflush) */
	__u64 others;      /* discards, write-zeroes, zone and driver requests */
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 errors;
};

/* Indexes of the counters array, one set per window: win * COUNT_MAX + count. */
enum iostall_count {
	COUNT_UNPAIRED_EXITS,   /* syscall exits whose entry was not seen (in flight at the window start) */
	COUNT_RESTARTED,        /* syscalls interrupted to be restarted (-ERESTART*): not recorded */
	COUNT_SLOW,             /* syscalls at or over the threshold */
	COUNT_BLOCK_PARTIAL,    /* partial completions of block requests */
	COUNT_BLOCK_UNPAIRED,   /* block completions whose start was not seen */
	COUNT_BLOCK_ISSUE_UNBUILT, /* block_getrq path: requests issued whose building was not seen (not timed) */
	COUNT_UNPAIRED_ENTRIES, /* syscall entries that found the thread's previous call unfinished: its exit was not seen */
	COUNT_MAX,
};

enum iostall_drop {
	DROP_USER_STACK,      /* user stack not recorded (stack map full or collision) */
	DROP_IOWAIT_FULL,     /* iowait map full: a slow syscall not attributed to a stack */
	DROP_INFLIGHT,        /* no task storage for a thread: its syscall is not timed */
	DROP_REQUESTS_FULL,   /* requests map full: a block request is not timed */
	DROP_DISKS_FULL,      /* disks map full: a block request is not recorded */
	DROP_PID_HISTS_FULL,  /* pid_hists full: a syscall not in its process's histograms */
	DROP_MAX,             /* drops count over the session: user space takes differences */
};

#endif
