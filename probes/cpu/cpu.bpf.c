// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* On-CPU sampling: a perf_event program on the software CPU clock of every
 * CPU counts samples of the target's threads by {tid, user stack, kernel
 * stack}. */
#include "common.h"
#include "cpu.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
/* Set by user space once every probe is attached; samples before it are
 * ignored. */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sample_key);
	__type(value, struct sample_value);
	__uint(max_entries, 16384);
} counts SEC(".maps");

COUNTER_ARRAY(counters, COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

static __always_inline int sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sample_key key = {};
	struct sample_value *val, init = {};
	long err;

	if ((__u32)(id >> 32) != target_tgid || !window_start_ns)
		return 0;

	counter_add(&counters, COUNT_SAMPLES, 1);
	key.tid = (__u32)id;
	key.user_stack = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	key.kernel_stack = stack_id(ctx, &stacks, 0, &drops, DROP_KERNEL_STACK);

	val = bpf_map_lookup_elem(&counts, &key);
	if (val) {
		__sync_fetch_and_add(&val->count, 1);
		return 0;
	}
	init.count = 1;
	bpf_get_current_comm(&init.comm, sizeof(init.comm));
	err = bpf_map_update_elem(&counts, &key, &init, BPF_NOEXIST);
	if (err == -ERR_EXIST) { /* another CPU inserted it first */
		val = bpf_map_lookup_elem(&counts, &key);
		if (val)
			__sync_fetch_and_add(&val->count, 1);
	} else if (err) {
		counter_add(&drops, DROP_COUNTS_FULL, 1);
	}
	return 0;
}

SEC("perf_event")
int handle_cpu_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx);
}
