/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by cpu.bpf.c and probe.go. */
#ifndef PERFPROBE_CPU_H
#define PERFPROBE_CPU_H

#include "leaf.h"

struct sample_key {
	__u32 tid;
	__s32 user_stack;
	__s32 kernel_stack;
	__u32 tgid;
	/* Samples taken in a signal handler (sig_frame): the interrupted
	 * pc, read from the signal frame's saved registers, and the index in
	 * the user stack (leaf first) of the frame it is the caller of: the
	 * signal trampoline's, or 0 when the sample is at the handler's entry.
	 * Both 0 otherwise. */
	__u64 sig_ip;
	__u32 sig_depth;
	__u32 pad;
	struct leaf_words leaf; /* words at the user SP (leaf.h) */
};

struct sample_value {
	__u64 count;
	char comm[16];
};

/* Indexes of the counters array. */
enum cpu_count {
	COUNT_SAMPLES,    /* samples of the targets' threads */
	COUNT_SIG_FRAMES, /* of them, taken in a signal handler whose frame was crossed */
	COUNT_MAX,
};

/* Indexes of the drops array. */
enum cpu_drop {
	DROP_USER_STACK,   /* user stack not recorded (stack map full or collision) */
	DROP_KERNEL_STACK, /* kernel stack not recorded */
	DROP_COUNTS_FULL,  /* counts map full: the sample is lost */
	DROP_MAX,
};

#endif
