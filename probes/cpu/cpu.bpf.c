// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* On-CPU sampling: a perf_event program on the software CPU clock of every
 * CPU counts samples of the targets' threads by {tgid, tid, user stack,
 * kernel stack}. */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include "cpu.h"

char LICENSE[] SEC("license") = "GPL";

/* Never read: they put the enums of cpu.h in BTF, from which bpf2go -type
 * generates their Go mirrors (gen.go). */
const enum cpu_count *unused_cpu_count __attribute__((unused));
const enum cpu_drop *unused_cpu_drop __attribute__((unused));

/* Set by user space once every probe is attached; samples before it are
 * ignored. */
volatile __u64 window_start_ns = 0;
/* bpf_task_pt_regs (Linux 5.15+) gives the user registers of a sample
 * taken in the kernel; without it only user-mode samples record leaf
 * words. */
const volatile bool have_task_pt_regs = true;

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

/* Signal frames (x86-64). A handler is entered with rsp at the kernel's
 * struct rt_sigframe { char *pretcode; struct ucontext uc; ... }, whose
 * pretcode, the handler's return address, is the restorer (glibc's and
 * musl's __restore_rt, Go's runtime.sigreturn__sigaction: all
 * "mov $15,%rax; syscall", i.e. rt_sigreturn). So the handler's outermost
 * frame record {saved rbp, return address} sits just below the sigframe
 * (sigframe = record + 8), and before the handler has made it, rsp is the
 * sigframe. uc is at 8 in rt_sigframe, uc_mcontext (struct sigcontext) at
 * 40 in ucontext, in it rbp at 80, rsp at 120, rip at 128 (UAPI; checked
 * against this kernel's BTF): SIG_TO_RBP is rbp's offset from the
 * sigframe. */
#define SIG_WALK_FRAMES 32
#define SIG_TO_RBP (8 + 40 + 80)
#define SIGRETURN_MOVQ 0x0f0000000fc0c748ULL /* 48 c7 c0 0f 00 00 00 0f: mov $15,%rax; syscall */
#define SIGRETURN_MOVL 0x050f0000000fb8ULL   /* b8 0f 00 00 00 0f 05: mov $15,%eax; syscall */

struct task_struct___sig {
	struct {
		unsigned long sig[1];
	} blocked;
} __attribute__((preserve_access_index));

/* For bpf_core_enum_value_exists: which helpers the kernel has. */
enum bpf_func_id___sig {
	BPF_FUNC_get_current_task_btf___sig = 158, /* Linux 5.11 */
	BPF_FUNC_task_pt_regs___sig = 175,         /* Linux 5.15 */
};

/* sig_at fills key when frame is a signal frame: its pretcode, ret, is at
 * an rt_sigreturn trampoline and its saved rbp is bp, the rbp the handler
 * was entered with. depth: where the interrupted pc goes in the user
 * stack. */
static __always_inline bool sig_at(__u64 frame, __u64 ret, __u64 bp, __u32 depth, struct sample_key *key)
{
	__u64 code, sc[7]; /* sc[0] = rbp ... sc[5] = rsp, sc[6] = rip */

	/* the saved registers first: ret may be any word at the entry checks,
	 * and reading at a bad address costs a fault */
	if (bpf_probe_read_user(sc, sizeof(sc), (void *)(frame + SIG_TO_RBP)) || sc[0] != bp || !sc[6] ||
	    bpf_probe_read_user(&code, sizeof(code), (void *)ret) ||
	    (code != SIGRETURN_MOVQ && (code & 0xffffffffffffffULL) != SIGRETURN_MOVL))
		return false;
	key->sig_ip = sc[6];
	key->sig_depth = depth;
	counter_add(&counters, COUNT_SIG_FRAMES, 1);
	return true;
}

/* sig_frame fills key->sig_ip and key->sig_depth when a sample was taken
 * in a signal handler: at the handler's entry or in the trampoline (rsp
 * at the sigframe, or 8 past it: the interrupted pc goes after the leaf,
 * index 0), or further in, found by walking the user frame pointers as
 * bpf_get_stackid does, up to SIG_WALK_FRAMES records, for one whose
 * return address is the trampoline (user stack {ip, ret of record 0, ...}:
 * the pc goes after the trampoline, index i + 1). Cheap when no handler
 * runs: a thread running one has signals blocked (the handled one at
 * least, all of them in Go); with none blocked there is no walk. Not seen:
 * handlers installed with SA_NODEFER and an empty mask, and (before Linux
 * 5.15) samples taken in the kernel. */
static __always_inline void sig_frame(struct bpf_perf_event_data *ctx, struct sample_key *key)
{
	struct pt_regs *regs = (struct pt_regs *)ctx; /* bpf_perf_event_data starts with the regs */
	struct task_struct___sig *task;
	struct pt_regs *uregs;
	__u64 bp, sp, rec[2]; /* a frame record: saved rbp, return address */
	unsigned long blocked = 0;
	int i;

	if (bpf_core_enum_value_exists(enum bpf_func_id___sig, BPF_FUNC_get_current_task_btf___sig)) {
		task = (void *)bpf_get_current_task_btf();
		blocked = task->blocked.sig[0]; /* a BTF pointer: a plain load */
	} else {
		task = (void *)bpf_get_current_task();
		bpf_core_read(&blocked, sizeof(blocked), &task->blocked.sig[0]);
	}
	if (!blocked)
		return;
	if ((regs->cs & 3) == 3) {
		bp = regs->bp;
		sp = regs->sp;
	} else if (bpf_core_enum_value_exists(enum bpf_func_id___sig, BPF_FUNC_task_pt_regs___sig)) {
		/* kernel mode (a syscall of the handler): the user registers, as
		 * bpf_get_stackid walks them; Linux 5.15+, else left as is */
		uregs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		bpf_core_read(&bp, sizeof(bp), &uregs->bp);
		bpf_core_read(&sp, sizeof(sp), &uregs->sp);
	} else {
		return;
	}
	/* at the handler's entry, rsp is the sigframe; in the trampoline
	 * (rt_sigreturn), the handler has popped pretcode off it */
	for (i = 0; i < 2; i++)
		if (!bpf_probe_read_user(&rec[1], sizeof(rec[1]), (void *)(sp - 8 * i)) &&
		    sig_at(sp - 8 * i, rec[1], bp, 0, key))
			return;
	for (i = 0; i < SIG_WALK_FRAMES; i++) {
		if (!bp || bpf_probe_read_user(rec, sizeof(rec), (void *)bp))
			return;
		if (sig_at(bp + 8, rec[1], rec[0], i + 1, key))
			return;
		bp = rec[0];
	}
}

/* sample_leaf records the words at the user SP of the sampled thread
 * (leaf.h): from the interrupted registers in user mode, else from the
 * registers it entered the kernel with. */
static __always_inline void sample_leaf(struct bpf_perf_event_data *ctx, struct sample_key *key)
{
	struct pt_regs *regs = (struct pt_regs *)ctx;
	__u64 sp = 0;

	if (key->user_stack < 0)
		return;
	if (regs->cs & 3)
		sp = regs->sp;
	else if (have_task_pt_regs) {
		struct pt_regs *u = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

		if (u)
			sp = BPF_CORE_READ(u, sp);
	}
	leaf_read(&key->leaf, key->tgid, sp);
}

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
	sig_frame(ctx, &key);
	sample_leaf(ctx, &key);

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
