// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* The session's own programs on the `targets` map (bpf/common.h): a child
 * process forked by a target that follows its children becomes a target at
 * fork, before it first runs, so the probes miss nothing it does; execs
 * and exits of targets are noted in their entries, where user space reads
 * them (Session.Poll). A new thread is not a new process: it is a target
 * through its tgid already. */
#include "common.h"
#include "follow.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of follow.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum follow_count *unused_follow_count __attribute__((unused));
const enum follow_drop *unused_follow_drop __attribute__((unused));

COUNTER_ARRAY(counters, FOLLOW_COUNT_MAX);

COUNTER_ARRAY(drops, FOLLOW_DROP_MAX);

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct target_info *p, init = {};
	__u32 tgid = child->tgid;

	if (child->pid != tgid) /* a thread */
		return 0;
	p = target_of(parent->tgid);
	if (!p || !(p->flags & TARGET_CHILDREN))
		return 0;
	init.start_ns = bpf_ktime_get_ns();
	init.flags = TARGET_CHILDREN | TARGET_FORKED;
	init.parent = parent->tgid;
	bpf_probe_read_kernel_str(&init.comm, sizeof(init.comm), child->comm);
	if (bpf_map_update_elem(&targets, &tgid, &init, BPF_NOEXIST) == 0)
		counter_add(&counters, FOLLOW_COUNT_CHILDREN, 1);
	else if (!target_of(tgid))
		counter_add(&drops, FOLLOW_DROP_TARGETS_FULL, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_sched_process_exec, struct task_struct *p)
{
	struct target_info *t = target_of(p->tgid);

	if (!t)
		return 0;
	__sync_fetch_and_add(&t->execs, 1);
	bpf_probe_read_kernel_str(&t->comm, sizeof(t->comm), p->comm);
	return 0;
}

/* Every exiting thread passes here; the one that leaves no live thread in
 * its process marks the target exited. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_sched_process_exit, struct task_struct *p)
{
	struct target_info *t = target_of(p->tgid);

	if (!t || p->signal->live.counter > 0)
		return 0;
	bpf_probe_read_kernel_str(&t->comm, sizeof(t->comm), p->comm);
	t->exit_ns = bpf_ktime_get_ns();
	return 0;
}
