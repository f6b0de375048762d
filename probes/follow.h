/* SPDX-License-Identifier: GPL-2.0 */
/* ABI shared by follow.bpf.c and follow.go. */
#ifndef PERFPROBE_FOLLOW_H
#define PERFPROBE_FOLLOW_H

enum follow_count {
	FOLLOW_COUNT_CHILDREN, /* child processes that became targets at fork */
	FOLLOW_COUNT_MAX,
};

enum follow_drop {
	FOLLOW_DROP_TARGETS_FULL, /* targets map full: a child of a followed target is not profiled */
	FOLLOW_DROP_MAX,
};

#endif
