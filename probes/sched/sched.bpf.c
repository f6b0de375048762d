// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* Scheduler probe: for the target's threads, splits off-CPU time per stack
 * into blocked (switch-out until wakeup) and runnable-waiting (wakeup or
 * preemption until switch-in), keeps log2 histograms of both, counts
 * voluntary and involuntary switches and accounts each thread's time. */
#include "common.h"
#include "sched.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
/* Set by user space once every probe is attached (bpf_ktime_get_ns clock);
 * events before it are ignored. */
volatile __u64 window_start_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct offcpu_start);
	__uint(max_entries, 16384);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_value);
	__uint(max_entries, 16384);
} offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct thread_value);
	__uint(max_entries, 8192);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct hist);
	__uint(max_entries, HIST_MAX);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, COUNT_MAX);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DROP_MAX);
} drops SEC(".maps");

static __always_inline void hist_record(__u32 idx, __u64 ns)
{
	struct hist *h = bpf_map_lookup_elem(&hists, &idx);

	if (h)
		hist_add(h, ns);
}

static __always_inline struct thread_value *thread_get(struct task_struct *t)
{
	__u32 tid = t->pid;
	struct thread_value *v, init = {};

	v = bpf_map_lookup_elem(&threads, &tid);
	if (v)
		return v;
	bpf_probe_read_kernel_str(&init.comm, sizeof(init.comm), t->comm);
	if (bpf_map_update_elem(&threads, &tid, &init, BPF_NOEXIST) && bpf_map_lookup_elem(&threads, &tid) == 0) {
		counter_add(&drops, DROP_THREADS_FULL, 1);
		return 0;
	}
	return bpf_map_lookup_elem(&threads, &tid);
}

static __always_inline void attribute(__u32 tid, struct offcpu_start *s, __u64 blocked, __u64 runq,
				      struct thread_value *t)
{
	struct offcpu_key key = {.tid = tid, .user_stack = s->user_stack, .kernel_stack = s->kernel_stack};
	struct offcpu_value *v, init = {};

	v = bpf_map_lookup_elem(&offcpu, &key);
	if (!v) {
		if (t)
			__builtin_memcpy(init.comm, t->comm, sizeof(init.comm));
		if (bpf_map_update_elem(&offcpu, &key, &init, BPF_NOEXIST) && !bpf_map_lookup_elem(&offcpu, &key)) {
			counter_add(&drops, DROP_OFFCPU_FULL, 1);
			return;
		}
		v = bpf_map_lookup_elem(&offcpu, &key);
		if (!v)
			return;
	}
	if (blocked) {
		v->blocked_ns += blocked;
		v->blocked_count++;
	}
	if (runq) {
		v->runq_ns += runq;
		v->runq_count++;
	}
}

static __always_inline void switch_out(void *ctx, bool preempt, struct task_struct *prev,
				       unsigned int prev_state, __u64 now)
{
	__u32 tid = prev->pid;
	bool runnable = preempt || prev_state == TASK_RUNNING;
	struct thread_value *t = thread_get(prev);
	struct offcpu_start s = {};

	if (t) {
		t->oncpu_ns += now - (t->in_ns ? t->in_ns : window_start_ns);
		t->in_ns = 0;
		if (runnable)
			t->involuntary++;
		else
			t->voluntary++;
	}
	counter_add(&counters, runnable ? COUNT_INVOLUNTARY : COUNT_VOLUNTARY, 1);

	if (prev_state & TASK_DEAD) { /* exiting: it never comes back */
		bpf_map_delete_elem(&start, &tid);
		return;
	}
	s.off_ns = now;
	s.wake_ns = runnable ? now : 0; /* preempted: still runnable */
	s.user_stack = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	s.kernel_stack = stack_id(ctx, &stacks, 0, &drops, DROP_KERNEL_STACK);
	if (bpf_map_update_elem(&start, &tid, &s, BPF_ANY))
		counter_add(&drops, DROP_START_FULL, 1);
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	__u32 tid = next->pid;
	struct thread_value *t = thread_get(next);
	struct offcpu_start *s = bpf_map_lookup_elem(&start, &tid);
	__u64 blocked = 0, runq = 0;

	if (t)
		t->in_ns = now;
	if (!s)
		return; /* off-CPU since before the capture and woken before we saw it */

	if (s->wake_ns) {
		runq = now - s->wake_ns;
		if (s->off_ns)
			blocked = s->wake_ns - s->off_ns;
	} else if (s->off_ns) {
		blocked = now - s->off_ns; /* the wakeup was not seen */
	}
	hist_record(HIST_RUNQ, runq);
	if (blocked)
		hist_record(HIST_BLOCKED, blocked);
	if (t) {
		t->blocked_ns += blocked;
		t->runq_ns += runq;
	}
	if (s->off_ns)
		attribute(tid, s, blocked, runq, t);
	bpf_map_delete_elem(&start, &tid);
}

static __always_inline void wakeup(struct task_struct *p, bool new_thread)
{
	__u32 tid = p->pid;
	__u64 now = bpf_ktime_get_ns();
	struct offcpu_start *s, init = {};
	struct thread_value *t;

	counter_add(&counters, new_thread ? COUNT_NEW_THREADS : COUNT_WAKEUPS, 1);
	s = bpf_map_lookup_elem(&start, &tid);
	if (s) {
		if (!s->wake_ns)
			s->wake_ns = now;
		return;
	}
	if (p->on_cpu)
		return; /* woken before it got off the CPU: never blocked */

	/* Blocked since before the capture (or a new thread): account the
	 * thread's time, no stack to attribute it to. */
	t = thread_get(p);
	if (t && !new_thread && !t->in_ns)
		t->blocked_ns += now - window_start_ns;
	init.wake_ns = now;
	init.user_stack = -1;
	init.kernel_stack = -1;
	if (bpf_map_update_elem(&start, &tid, &init, BPF_NOEXIST) == -ERR_EXIST) {
		s = bpf_map_lookup_elem(&start, &tid);
		if (s && !s->wake_ns)
			s->wake_ns = now;
	}
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();

	if (!window_start_ns)
		return 0;
	if (prev->tgid == target_tgid)
		switch_out(ctx, preempt, prev, prev_state, now);
	if (next->tgid == target_tgid)
		switch_in(next, now);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_sched_wakeup, struct task_struct *p)
{
	if (window_start_ns && p->tgid == target_tgid)
		wakeup(p, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_sched_wakeup_new, struct task_struct *p)
{
	if (window_start_ns && p->tgid == target_tgid)
		wakeup(p, true);
	return 0;
}
