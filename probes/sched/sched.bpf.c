// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* Scheduler probe: for the targets' threads, splits off-CPU time per stack
 * into blocked (switch-out until wakeup) and runnable-waiting (wakeup or
 * preemption until switch-in), keeps log2 histograms of both, counts
 * voluntary and involuntary switches and accounts each thread's time.
 *
 * Everything about a thread lives in one long-lived entry of `threads`, so
 * a context switch costs two hash lookups and no map insert or delete; time
 * per stack is accumulated there and flushed to `offcpu` when the thread's
 * stacks are walked anew. */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include "sched.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of sched.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum kind *unused_kind __attribute__((unused));
const enum interval *unused_interval __attribute__((unused));
const enum sched_hist *unused_sched_hist __attribute__((unused));
const enum sched_count *unused_sched_count __attribute__((unused));
const enum sched_drop *unused_sched_drop __attribute__((unused));

/* Walk a thread's stacks at most once per this interval and kind of
 * switch-out (blocking or preempted); switch-outs in between reuse the last
 * stacks walked for that kind, blocking ones only when they block from the
 * same user instruction and syscall. 0 walks on every switch-out. */
const volatile __u64 stack_interval_ns = 0;
/* bpf_task_pt_regs (Linux 5.15+) tells where a blocking thread entered the
 * kernel; without it, blocking switch-outs reuse stacks by time alone. */
const volatile bool have_task_pt_regs = true;
/* Set by user space once every probe is attached (bpf_ktime_get_ns clock);
 * events before it are ignored. */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct thread_value);
	__uint(max_entries, 8192);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_value);
	__uint(max_entries, 16384);
} offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct hist);
	__uint(max_entries, HIST_MAX);
} hists SEC(".maps");

COUNTER_ARRAY(counters, COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

/* thread_get returns tid's entry, creating it; *created says if it is new. */
static __always_inline struct thread_value *thread_get(struct task_struct *task, bool *created)
{
	__u32 tid = task->pid;
	struct thread_value *t, init = {};

	*created = false;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t)
		return t;
	for (int i = 0; i < KIND_MAX; i++) {
		init.user_stack[i] = -1;
		init.kernel_stack[i] = -1;
	}
	init.tgid = task->tgid;
	bpf_probe_read_kernel_str(&init.comm, sizeof(init.comm), task->comm);
	if (bpf_map_update_elem(&threads, &tid, &init, BPF_NOEXIST) == 0)
		*created = true;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t)
		counter_add(&drops, DROP_THREADS_FULL, 1);
	return t;
}

/* flush adds the time accumulated for stacks[k] to the offcpu map. */
static __always_inline void flush(__u32 tid, struct thread_value *t, __u32 k)
{
	struct offcpu_key key = {.tid = tid, .tgid = t->tgid};
	struct offcpu_value *v, init = {};

	if (k >= KIND_MAX || (!t->acc_blocked_count[k] && !t->acc_runq_count[k]))
		return;
	key.user_stack = t->user_stack[k];
	key.kernel_stack = t->kernel_stack[k];
	v = bpf_map_lookup_elem(&offcpu, &key);
	if (!v) {
		__builtin_memcpy(init.comm, t->comm, sizeof(init.comm));
		v = lookup_or_init(&offcpu, &key, &init, &drops, DROP_OFFCPU_FULL);
	}
	if (v) {
		v->blocked_ns += t->acc_blocked_ns[k];
		v->blocked_count += t->acc_blocked_count[k];
		if (k == KIND_DSTATE) {
			v->dstate_ns += t->acc_blocked_ns[k];
			v->dstate_count += t->acc_blocked_count[k];
		}
		v->runq_ns += t->acc_runq_ns[k];
		v->runq_count += t->acc_runq_count[k];
	}
	t->acc_blocked_ns[k] = t->acc_runq_ns[k] = 0;
	t->acc_blocked_count[k] = t->acc_runq_count[k] = 0;
}

static __always_inline void switch_out(void *ctx, bool preempt, struct task_struct *prev,
				       unsigned int prev_state, __u64 now, __u64 since)
{
	bool runnable = preempt || prev_state == TASK_RUNNING, created;
	struct thread_value *t = thread_get(prev, &created);
	__u32 k;

	counter_add(&counters, runnable ? COUNT_INVOLUNTARY : COUNT_VOLUNTARY, 1);
	if (!t)
		return;
	if (t->in_ns)
		t->oncpu_ns += now - t->in_ns;
	else if (created) /* on CPU since before the window (or before it became a target) */
		t->oncpu_ns += now - since;
	else /* its switch-in was not seen: leave the time unexplained */
		counter_add(&drops, DROP_UNPAIRED, 1);
	t->in_ns = 0;
	if (runnable)
		t->involuntary++;
	else
		t->voluntary++;
	if (prev_state & TASK_DEAD) { /* exiting: it never comes back */
		t->open = OFF_NONE;
		return;
	}
	t->open = OFF_STACK;
	t->off_ns = now;
	t->wake_ns = runnable ? now : 0; /* preempted: still runnable */
	k = runnable ? KIND_PREEMPTED : (prev_state & TASK_UNINTERRUPTIBLE) ? KIND_DSTATE : KIND_SLEEP;
	t->kind = k;
	/* A blocked thread's user registers say where it entered the kernel;
	 * a preempted one's point anywhere in running code, so preemptions
	 * reuse by time alone. */
	__u64 ip = 0, sys = 0;
	if (k != KIND_PREEMPTED && have_task_pt_regs) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);

		if (regs) {
			ip = regs->ip;
			sys = regs->orig_ax;
		}
	}
	if (t->stack_ns[k] && now - t->stack_ns[k] < stack_interval_ns &&
	    t->stack_ip[k] == ip && t->stack_sys[k] == sys) {
		counter_add(&counters, COUNT_STACKS_REUSED, 1); /* keep the last walked stacks */
		return;
	}
	flush(prev->pid, t, k);
	t->stack_ns[k] = now;
	t->stack_ip[k] = ip;
	t->stack_sys[k] = sys;
	t->user_stack[k] = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	t->kernel_stack[k] = stack_id(ctx, &stacks, 0, &drops, DROP_KERNEL_STACK);
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	bool created;
	struct thread_value *t = thread_get(next, &created);
	__u64 blocked = 0, runq = 0;

	if (!t)
		return;
	if (t->open != OFF_NONE) {
		if (t->wake_ns) {
			runq = now - t->wake_ns;
			if (t->open == OFF_STACK)
				blocked = t->wake_ns - t->off_ns;
		} else if (t->open == OFF_STACK) {
			blocked = now - t->off_ns; /* the wakeup was not seen */
		}
		hist_record(&hists, HIST_RUNQ, runq);
		if (blocked)
			hist_record(&hists, HIST_BLOCKED, blocked);
		t->blocked_ns += blocked;
		t->runq_ns += runq;
		if (t->kind == KIND_DSTATE)
			t->dstate_ns += blocked;
		if (t->open == OFF_STACK) {
			__u32 k = t->kind;

			if (k >= KIND_MAX)
				k = KIND_SLEEP;
			if (blocked) {
				t->acc_blocked_ns[k] += blocked;
				t->acc_blocked_count[k]++;
			}
			if (runq) {
				t->acc_runq_ns[k] += runq;
				t->acc_runq_count[k]++;
			}
		}
		t->open = OFF_NONE;
	}
	t->in_ns = now;
}

static __always_inline void wakeup(struct task_struct *p, bool new_thread, __u64 since)
{
	__u32 tid = p->pid;
	__u64 now = bpf_ktime_get_ns();
	struct thread_value *t;
	bool created;

	counter_add(&counters, new_thread ? COUNT_NEW_THREADS : COUNT_WAKEUPS, 1);
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t && t->open != OFF_NONE) {
		if (!t->wake_ns)
			t->wake_ns = now;
		return;
	}
	if ((t && t->in_ns) || (!new_thread && p->on_cpu))
		return; /* woken before it got off the CPU: never blocked */

	/* Blocked since before the window (or before its process became a
	 * target), or a new thread: account its time from then; there is no
	 * stack to attribute it to. */
	t = thread_get(p, &created);
	if (!t)
		return;
	if (created && !new_thread)
		t->blocked_ns += now - since;
	t->open = OFF_NO_STACK;
	t->wake_ns = now;
}

static __always_inline void sched_switch(void *ctx, bool preempt, struct task_struct *prev,
					struct task_struct *next, unsigned int prev_state)
{
	struct target_info *out, *in;
	__u64 now;

	if (!window_start_ns)
		return;
	out = target_of(prev->tgid);
	in = next->tgid == prev->tgid ? out : target_of(next->tgid);
	if (out) {
		now = bpf_ktime_get_ns();
		switch_out(ctx, preempt, prev, prev_state, now, target_since(out, window_start_ns));
	} else if (in) {
		now = bpf_ktime_get_ns();
	} else {
		return;
	}
	if (in)
		switch_in(next, now);
}

/* One of the two sched_switch programs is loaded, by the tracepoint's
 * arguments in this kernel: Linux 5.18+ passes the state prev leaves in. */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	sched_switch(ctx, preempt, prev, next, prev_state);
	return 0;
}

/* Before 5.18 the state is read from the task, still the one it leaves in
 * (task_struct.state before 5.14). */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch_task_state, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	unsigned int state;

	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else
		state = BPF_CORE_READ((struct task_struct___state *)prev, state);
	sched_switch(ctx, preempt, prev, next, state);
	return 0;
}

static __always_inline void wakeup_target(struct task_struct *p, bool new_thread)
{
	struct target_info *t;

	if (window_start_ns && (t = target_of(p->tgid)))
		wakeup(p, new_thread, target_since(t, window_start_ns));
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_sched_wakeup, struct task_struct *p)
{
	wakeup_target(p, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_sched_wakeup_new, struct task_struct *p)
{
	wakeup_target(p, true);
	return 0;
}
