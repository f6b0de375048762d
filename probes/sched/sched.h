/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by sched.bpf.c and probe.go. */
#ifndef PERFPROBE_SCHED_H
#define PERFPROBE_SCHED_H

/* Where an off-CPU interval of one thread began; keyed by tid. off_ns is 0
 * when the thread was already off-CPU when the capture began. */
struct offcpu_start {
	__u64 off_ns;
	__u64 wake_ns; /* 0 until woken; == off_ns when preempted (still runnable) */
	__s32 user_stack;
	__s32 kernel_stack;
};

struct offcpu_key {
	__u32 tid;
	__s32 user_stack;
	__s32 kernel_stack;
	__u32 pad;
};

struct offcpu_value {
	__u64 blocked_ns;
	__u64 runq_ns;
	__u64 blocked_count;
	__u64 runq_count;
	char comm[16];
};

/* Per-thread time accounting over the capture window. */
struct thread_value {
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 runq_ns;
	__u64 in_ns; /* last switch-in; 0 while off-CPU */
	__u64 voluntary;
	__u64 involuntary;
	char comm[16];
};

enum sched_hist {
	HIST_RUNQ,    /* wakeup or preemption until switch-in */
	HIST_BLOCKED, /* switch-out until wakeup */
	HIST_MAX,
};

enum sched_count {
	COUNT_VOLUNTARY,   /* switched out while blocking */
	COUNT_INVOLUNTARY, /* switched out while still runnable (preempted) */
	COUNT_WAKEUPS,
	COUNT_NEW_THREADS,
	COUNT_MAX,
};

enum sched_drop {
	DROP_USER_STACK,   /* user stack not recorded (stack map full or collision) */
	DROP_KERNEL_STACK, /* kernel stack not recorded */
	DROP_START_FULL,   /* start map full: one off-CPU interval lost */
	DROP_OFFCPU_FULL,  /* offcpu map full: one interval not attributed to a stack */
	DROP_THREADS_FULL, /* threads map full: a thread's accounting lost */
	DROP_MAX,
};

#endif
