// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* On-CPU sampling: a perf_event program on the software CPU clock of every
 * CPU counts samples of the targets' threads by {tgid, tid, user stack,
 * kernel stack}. */
#include "common.h"
#include "cpu.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of cpu.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum cpu_count *unused_cpu_count __attribute__((unused));
const enum cpu_drop *unused_cpu_drop __attribute__((unused));

/* Set by user space once every probe is attached; samples before it are
 * ignored. */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 16384);

struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sample_key);
	__type(value, struct sample_value);
	__uint(max_entries, 16384);
} counts SEC(".maps");

/* The counts of the current window: Drain puts a fresh map here and reads
 * the one it replaced, which no program writes once the update returns
 * (the kernel waits for the programs running on the old one). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 1);
	__array(values, struct counts_map);
} window SEC(".maps") = {
	.values = {&counts},
};

COUNTER_ARRAY(counters, COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

static __always_inline int sample(struct bpf_perf_event_data *ctx)
{
	struct sample_key key = {};
	struct sample_value *val, init = {};
	__u32 zero = 0;
	void *counts;
	__u64 id;

	if (!window_start_ns || !(id = current_target()))
		return 0;
	counts = bpf_map_lookup_elem(&window, &zero);
	if (!counts)
		return 0;

	counter_add(&counters, COUNT_SAMPLES, 1);
	key.tgid = id >> 32;
	key.tid = (__u32)id;
	key.user_stack = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	key.kernel_stack = stack_id(ctx, &stacks, 0, &drops, DROP_KERNEL_STACK);

	val = bpf_map_lookup_elem(counts, &key);
	if (!val) {
		bpf_get_current_comm(&init.comm, sizeof(init.comm));
		val = lookup_or_init(counts, &key, &init, &drops, DROP_COUNTS_FULL);
	}
	if (val)
		__sync_fetch_and_add(&val->count, 1);
	return 0;
}

SEC("perf_event")
int handle_cpu_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx);
}
