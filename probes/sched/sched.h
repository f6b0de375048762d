/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by sched.bpf.c and probe.go. */
#ifndef PERFPROBE_SCHED_H
#define PERFPROBE_SCHED_H

#include "leaf.h"

struct offcpu_key {
	__u32 tid;
	/* A stack id of the stacks map, negative for none; or, with
	 * GO_STACK_FLAG set, a locked goroutine's stack in go_stacks, keyed by
	 * the other bits. thread_value.user_stack holds the same. */
	__s32 user_stack;
	__s32 kernel_stack;
	__u32 tgid;
	__u32 win; /* the window (thread_value.win) the time belongs to */
	__u32 pad;
	struct leaf_words leaf; /* words at the user SP beside user_stack (leaf.h) */
};

struct offcpu_value {
	__u64 blocked_ns;
	__u64 runq_ns;
	__u64 blocked_count;
	__u64 runq_count;
	__u64 dstate_ns; /* the part of blocked_ns spent uninterruptible (D state) */
	__u64 dstate_count;
	char comm[16];
};

/* Why a thread left the CPU. */
enum kind {
	KIND_SLEEP,     /* blocked, interruptible */
	KIND_PREEMPTED, /* still runnable */
	KIND_DSTATE,    /* blocked, uninterruptible (D state: usually I/O) */
	KIND_MAX,
};

/* Threads followed at most (the threads map holds one more entry: the
 * window's own, at key WINDOW_KEY). */
#define THREADS_MAX 8192

/* Key of the window's own entry in a threads map: from_ns is when the
 * window starts, win its index. No target has a thread 0 (the idle task). */
#define WINDOW_KEY 0

/* Slots of the windows map: the threads of the current window and of the
 * one before it. */
#define WINDOW_CUR 0
#define WINDOW_PREV 1
#define WINDOW_SLOTS 2

/* One thread in one window: its time in the window and its open off-CPU
 * interval, which may have begun in an earlier window: only its part from
 * from_ns on counts here. */
struct thread_value {
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 runq_ns;
	__u64 in_ns;    /* last switch-in; 0 while off-CPU */
	__u64 off_ns;   /* switch-out of the open interval (OFF_STACK only) */
	__u64 wake_ns;  /* wakeup of the open interval; == off_ns when preempted; 0 until woken */
	__u64 voluntary;
	__u64 involuntary;
	/* Last walked stacks per kind of switch-out (enum kind), and when;
	 * the open interval uses stacks[kind]. */
	__u64 stack_ns[KIND_MAX];
	__s32 user_stack[KIND_MAX];
	__s32 kernel_stack[KIND_MAX];
	/* Where user space entered the kernel when stacks[kind] were walked:
	 * the call site (call_site in sched.bpf.c: the instruction pointer and
	 * the innermost return addresses) and the syscall number. A blocking
	 * switch-out from another place or call path walks anew even inside
	 * the interval. */
	__u64 stack_ip[KIND_MAX];
	__u64 stack_sys[KIND_MAX];
	/* Words at the user SP when stacks[kind] were walked (leaf.h). */
	struct leaf_words leaf[KIND_MAX];
	/* Off-CPU time not yet added to the offcpu map, per kind, for
	 * stacks[kind]: flushed when that kind's stacks are walked anew (and
	 * by user space at the end), so most switches touch no other map. */
	__u64 acc_blocked_ns[KIND_MAX];
	__u64 acc_runq_ns[KIND_MAX];
	__u64 acc_blocked_count[KIND_MAX];
	__u64 acc_runq_count[KIND_MAX];
	__u64 dstate_ns; /* total blocked uninterruptible */
	__u64 from_ns;   /* time counts from here: the window's start, or when the thread was first seen in it */
	__u32 open;      /* enum interval */
	__u32 kind;      /* enum kind of the open interval */
	__u32 tgid;
	__u32 win;       /* the window's index, 0 or 1: its slots in hists and counters, its offcpu keys */
	char comm[16];
};

enum interval {
	OFF_NONE,     /* on CPU, or gone */
	OFF_STACK,    /* switched out while followed: off_ns and the stacks are valid */
	OFF_NO_STACK, /* woken after blocking since before it was first seen, or new: no stack */
};

/* Indexes of the hists array, one set per window: win * HIST_MAX + hist. */
enum sched_hist {
	HIST_RUNQ,    /* wakeup or preemption until switch-in */
	HIST_BLOCKED, /* switch-out until wakeup */
	HIST_MAX,
};

/* Indexes of the counters array, one set per window: win * COUNT_MAX + count. */
enum sched_count {
	COUNT_VOLUNTARY,   /* switched out while blocking */
	COUNT_INVOLUNTARY, /* switched out while still runnable (preempted) */
	COUNT_WAKEUPS,
	COUNT_NEW_THREADS,
	COUNT_STACKS_REUSED, /* switch-outs attributed to the thread's last walked stack */
	COUNT_MAX,
};

enum sched_drop {
	DROP_USER_STACK,   /* user stack not recorded (stack map full or collision) */
	DROP_KERNEL_STACK, /* kernel stack not recorded */
	DROP_OFFCPU_FULL,  /* offcpu map full: one interval not attributed to a stack */
	DROP_THREADS_FULL, /* threads map full: a thread's events lost */
	DROP_UNPAIRED,     /* a switch-out whose switch-in was not seen */
	DROP_PID_HISTS_FULL, /* pid_hists full: an interval not in its process's histograms */
	DROP_GO_STACKS_FULL, /* go_stacks full: a locked goroutine's stack not recorded (the thread's own stack kept) */
	DROP_GO_STACK_COLLISION, /* two locked goroutine stacks with the same hash: the later one kept the thread's own stack */
	DROP_GO_LOCKED_INVALID, /* on g0 with a locked goroutine whose saved context did not check out (offsets wrong?) */
	DROP_MAX,          /* drops count over the session: user space takes differences */
};

/* Locked goroutines (Go targets only). A thread that blocks on its g0
 * stack while a goroutine is locked to it (runtime.LockOSThread; the
 * thread waits in stoplockedm for that goroutine to be runnable) has its
 * off-CPU time attributed to the locked goroutine's stack, walked from its
 * saved context (g.sched) by frame pointers. User space puts the runtime's
 * field offsets of each Go target in go_offsets (internal/goruntime). */
struct go_offsets {
	__s32 tls_g;      /* the current g's address is at fsbase + tls_g (-8 unless cgo) */
	__u32 g_m;        /* g.m */
	__u32 g_stack_hi; /* g.stack.hi */
	__u32 g_sched_sp; /* g.sched.sp */
	__u32 g_sched_pc; /* g.sched.pc */
	__u32 g_sched_g;  /* g.sched.g */
	__u32 g_sched_bp; /* g.sched.bp */
	__u32 m_g0;       /* m.g0 */
	__u32 m_lockedg;  /* m.lockedg */
	__u32 pad;
};

#define GO_STACK_DEPTH 64        /* frames of a locked goroutine's stack walked at most */
#define GO_STACKS_MAX 4096       /* distinct locked goroutine stacks kept */
#define GO_STACK_FLAG 0x40000000 /* in a user stack id: the other bits key go_stacks */

struct go_stack {
	__u64 pcs[GO_STACK_DEPTH]; /* leaf first: g.sched.pc, then return addresses */
	__u32 depth;
	__u32 pad;
};

#endif
