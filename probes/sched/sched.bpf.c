// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/* Scheduler probe: for the targets' threads, splits off-CPU time per stack
 * into blocked (switch-out until wakeup) and runnable-waiting (wakeup or
 * preemption until switch-in), keeps log2 histograms of both, counts
 * voluntary and involuntary switches and accounts each thread's time.
 *
 * Everything about a thread lives in one entry of the current window's
 * `threads` map, so a context switch costs two hash lookups and no map
 * insert or delete; time per stack is accumulated there and flushed to
 * `offcpu` when the thread's stacks are walked anew.
 *
 * Rolling windows (probe.go, Drain): each window has its own threads map.
 * User space puts the new window's map in `windows` (WINDOW_CUR; the old
 * one is WINDOW_PREV); the update returns once no program still writes the
 * old one, which user space then reads as it stands. A thread's first event
 * in the new window carries its entry over (carry): its open interval and
 * stacks go on, its time starts from the window's start, so an interval
 * open at the boundary is split there; user space carries the threads that
 * have no event yet the same way, whichever comes first, and then makes
 * the new map WINDOW_PREV too. Histograms record an interval whole when it
 * ends, in the window where it ends. */
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
const enum go_cost_slot *unused_go_cost_slot __attribute__((unused));

/* Walk a thread's stacks at most once per this interval and kind of
 * switch-out (blocking or preempted); switch-outs in between reuse the last
 * stacks walked for that kind, blocking ones only when they block from the
 * same call site (call_site) and syscall. 0 walks on every switch-out. */
const volatile __u64 stack_interval_ns = 0;
/* bpf_task_pt_regs (Linux 5.15+) tells where a blocking thread entered the
 * kernel; without it, blocking switch-outs reuse stacks by time alone. */
const volatile bool have_task_pt_regs = true;
/* Set by user space once every probe is attached (bpf_ktime_get_ns clock);
 * events before it are ignored. */
volatile __u64 window_start_ns = 0;

STACK_MAP(stacks, 16384);

/* The threads of one window by tid, and the window itself at WINDOW_KEY. */
struct threads_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct thread_value);
	__uint(max_entries, THREADS_MAX + 1);
} threads SEC(".maps");

/* The current window's threads map and the previous one's, which is the
 * current one again once Drain has carried every thread over. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, WINDOW_SLOTS);
	__array(values, struct threads_map);
} windows SEC(".maps") = {
	.values = {&threads, &threads},
};

/* Where a new thread entry is built before it is inserted whole (it does
 * not fit on the BPF stack beside the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct thread_value);
	__uint(max_entries, 1);
} scratch SEC(".maps");

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
	__uint(max_entries, 2 * HIST_MAX);
} hists SEC(".maps");

/* hists per target process (common.h). */
PID_HIST_MAP();

COUNTER_ARRAY(counters, 2 * COUNT_MAX);

COUNTER_ARRAY(drops, DROP_MAX);

/* elapsed returns to - from, 0 when from is later: a program that read the
 * clock just before the window changed. */
static __always_inline __u64 elapsed(__u64 to, __u64 from)
{
	return to > from ? to - from : 0;
}

/* counted returns x, or the window's start when x is earlier: where the
 * window's part of an interval begins. */
static __always_inline __u64 counted(const struct thread_value *t, __u64 x)
{
	return x > t->from_ns ? x : t->from_ns;
}

static __always_inline void window_count(__u32 win, __u32 idx)
{
	counter_add(&counters, (win & 1) * COUNT_MAX + idx, 1);
}

/* window_of returns the index of the window whose threads map is cur. */
static __always_inline __u32 window_of(void *cur)
{
	__u32 key = WINDOW_KEY;
	struct thread_value *w = bpf_map_lookup_elem(cur, &key);

	return w ? w->win : 0;
}

/* carry turns n, a copy of a thread's entry in the previous window, into
 * its entry in window w: the open interval, the switch-in and the stacks
 * go on; the time, counts and accumulated time start from zero at the
 * window's start. carry in probe.go does the same. */
static __always_inline void carry(struct thread_value *n, const struct thread_value *w)
{
	n->oncpu_ns = n->blocked_ns = n->runq_ns = n->dstate_ns = 0;
	n->voluntary = n->involuntary = 0;
	for (int i = 0; i < KIND_MAX; i++) {
		n->acc_blocked_ns[i] = n->acc_runq_ns[i] = 0;
		n->acc_blocked_count[i] = n->acc_runq_count[i] = 0;
	}
	n->from_ns = w->from_ns;
	n->win = w->win;
}

/* insert puts n in cur as tid's entry unless one is there already (user
 * space or another CPU carried or created it first) and returns the entry. */
static __always_inline struct thread_value *insert(void *cur, __u32 tid, struct thread_value *n, bool *created)
{
	struct thread_value *t;

	if (bpf_map_update_elem(cur, &tid, n, BPF_NOEXIST) == 0)
		*created = true;
	t = bpf_map_lookup_elem(cur, &tid);
	if (!t)
		counter_add(&drops, DROP_THREADS_FULL, 1);
	return t;
}

/* thread_find returns tid's entry in the current window (threads map cur),
 * carried over from the previous window on its first event; NULL when the
 * thread has none. */
static __always_inline struct thread_value *thread_find(void *cur, __u32 tid)
{
	__u32 zero = 0, slot = WINDOW_PREV, key = WINDOW_KEY;
	struct thread_value *t, *old, *w, *n;
	bool created;
	void *prev;

	t = bpf_map_lookup_elem(cur, &tid);
	if (t)
		return t;
	prev = bpf_map_lookup_elem(&windows, &slot);
	old = prev ? bpf_map_lookup_elem(prev, &tid) : 0;
	if (!old)
		return 0;
	w = bpf_map_lookup_elem(cur, &key);
	n = bpf_map_lookup_elem(&scratch, &zero);
	if (!w || !n)
		return 0;
	__builtin_memcpy(n, old, sizeof(*n));
	carry(n, w);
	return insert(cur, tid, n, &created);
}

/* thread_get returns tid's entry in the current window, creating it for a
 * thread not seen before (its time then counts from the window's start, or
 * from when its process became a target, target ti); *created says if it
 * is new. */
static __always_inline struct thread_value *thread_get(void *cur, struct task_struct *task,
						       const struct target_info *ti, bool *created)
{
	__u32 tid = task->pid, zero = 0, key = WINDOW_KEY;
	struct thread_value *t, *w, *n;

	*created = false;
	t = thread_find(cur, tid);
	if (t)
		return t;
	w = bpf_map_lookup_elem(cur, &key);
	n = bpf_map_lookup_elem(&scratch, &zero);
	if (!w || !n)
		return 0;
	__builtin_memset(n, 0, sizeof(*n));
	for (int i = 0; i < KIND_MAX; i++) {
		n->user_stack[i] = -1;
		n->kernel_stack[i] = -1;
	}
	n->tgid = task->tgid;
	bpf_probe_read_kernel_str(&n->comm, sizeof(n->comm), task->comm);
	n->from_ns = target_since(ti, w->from_ns);
	n->win = w->win;
	return insert(cur, tid, n, created);
}

/* flush adds the time accumulated for stacks[k] to the offcpu map. */
static __always_inline void flush(__u32 tid, struct thread_value *t, __u32 k)
{
	struct offcpu_key key = {.tid = tid, .tgid = t->tgid, .win = t->win};
	struct offcpu_value *v, init = {};

	if (k >= KIND_MAX || (!t->acc_blocked_count[k] && !t->acc_runq_count[k]))
		return;
	key.user_stack = t->user_stack[k];
	key.kernel_stack = t->kernel_stack[k];
	key.leaf = t->leaf[k];
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

/* Measuring (tests, benchmarks): when set at load, the time of each target
 * switch-out's work is added to go_cost, apart for switch-outs that walked
 * a locked goroutine's stack (GO_COST_WALKED) and the others. Off, the
 * verifier drops the code. */
const volatile bool measure_switch_out = false;

enum go_cost_slot { GO_COST_WALKED_NS, GO_COST_WALKED, GO_COST_OTHER_NS, GO_COST_OTHER, GO_COST_FLAG, GO_COST_MAX };

COUNTER_ARRAY(go_cost, GO_COST_MAX);

static __always_inline __u64 cost_start(void)
{
	__u32 flag = GO_COST_FLAG;
	__u64 *f;

	if (!measure_switch_out)
		return 0;
	f = bpf_map_lookup_elem(&go_cost, &flag);
	if (f)
		*f = 0;
	return bpf_ktime_get_ns();
}

static __always_inline void cost_end(__u64 t0)
{
	__u32 flag = GO_COST_FLAG;
	__u64 *f, ns;

	if (!measure_switch_out)
		return;
	ns = bpf_ktime_get_ns() - t0;
	f = bpf_map_lookup_elem(&go_cost, &flag);
	if (f && *f) {
		counter_add(&go_cost, GO_COST_WALKED_NS, ns);
		counter_add(&go_cost, GO_COST_WALKED, 1);
	} else {
		counter_add(&go_cost, GO_COST_OTHER_NS, ns);
		counter_add(&go_cost, GO_COST_OTHER, 1);
	}
}

/* Per Go target (tgid): where the runtime keeps g.m, g.sched, m.g0 and
 * m.lockedg (sched.h). Targets without an entry are never looked into. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct go_offsets);
	__uint(max_entries, MAX_TARGETS);
} go_offsets SEC(".maps");

/* Locked goroutines' stacks, keyed by a hash of their pcs (GO_STACK_FLAG
 * apart); like stack ids they stay valid across windows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct go_stack);
	__uint(max_entries, GO_STACKS_MAX);
} go_stacks SEC(".maps");

/* Where a goroutine stack is walked (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct go_stack);
	__uint(max_entries, 1);
} go_scratch SEC(".maps");

/* The saved context of the goroutine locked to a thread. */
struct go_locked {
	__u64 sp, pc, bp, stack_hi;
};

static __always_inline __u64 go_read(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (const void *)addr))
		return 0;
	return v;
}

/* go_locked_ctx fills *l and returns true when task, a thread of a Go
 * target switched out by itself, runs on its g0 stack (the scheduler's)
 * while a goroutine is locked to it: the current g is m.g0 and m.lockedg
 * is set. Idle threads (no locked goroutine) and threads running a
 * goroutine return false. The locked g must name itself in its saved
 * context and its frame pointer lie in its stack, or the thread counts as
 * DROP_GO_LOCKED_INVALID (wrong offsets for this Go version). Runs in
 * task's own context (sched_switch), so its user memory is current. */
static __always_inline bool go_locked_ctx(struct task_struct *task, struct go_locked *l)
{
	__u32 tgid = task->tgid;
	struct go_offsets *o = bpf_map_lookup_elem(&go_offsets, &tgid);
	__u64 fsbase, g, m, lg;

	if (!o || !bpf_core_field_exists(task->thread.fsbase)) /* x86-64 only */
		return false;
	fsbase = BPF_CORE_READ(task, thread.fsbase);
	if (!fsbase || !(g = go_read(fsbase + (__s64)o->tls_g)) || !(m = go_read(g + o->g_m)))
		return false;
	if (go_read(m + o->m_g0) != g || !(lg = go_read(m + o->m_lockedg)))
		return false;
	l->sp = go_read(lg + o->g_sched_sp);
	l->pc = go_read(lg + o->g_sched_pc);
	l->bp = go_read(lg + o->g_sched_bp);
	l->stack_hi = go_read(lg + o->g_stack_hi);
	if (go_read(lg + o->g_sched_g) != lg || !l->pc || !l->sp || l->sp >= l->stack_hi ||
	    (l->bp && (l->bp < l->sp || l->bp >= l->stack_hi))) {
		counter_add(&drops, DROP_GO_LOCKED_INVALID, 1);
		return false;
	}
	return true;
}

/* go_stack_id walks the locked goroutine's stack from its saved context by
 * frame pointers (return address at bp+8, the caller's bp at bp, each
 * frame higher on the stack than the last), stores it in go_stacks and
 * returns its id (GO_STACK_FLAG set); -1 when it could not be stored (the
 * drop is counted), and the caller walks the thread's own stack. A global
 * function: the verifier checks its loops once, not once per path of
 * sched_switch. */
__attribute__((noinline)) int go_stack_id(const struct go_locked *l)
{
	__u32 zero = 0, h = 2166136261u, key, d = 1;
	struct go_stack *st = bpf_map_lookup_elem(&go_scratch, &zero), *old;
	__u64 bp, ret;

	if (!st || !l)
		return -1;
	bp = l->bp;
	__builtin_memset(st, 0, sizeof(*st));
	st->pcs[0] = l->pc;
	for (int i = 1; i < GO_STACK_DEPTH; i++) {
		if (!bp || bp + 16 > l->stack_hi)
			break;
		ret = go_read(bp + 8);
		if (!ret)
			break;
		st->pcs[i] = ret;
		d = i + 1;
		ret = go_read(bp);
		if (ret <= bp) /* frames go up the stack: stop at a loop or the end */
			break;
		bp = ret;
	}
	st->depth = d;
	for (int i = 0; i < GO_STACK_DEPTH; i++) {
		h = (h ^ (__u32)st->pcs[i]) * 16777619u;
		h = (h ^ (__u32)(st->pcs[i] >> 32)) * 16777619u;
	}
	key = h & (GO_STACK_FLAG - 1);
	old = bpf_map_lookup_elem(&go_stacks, &key);
	if (old) {
		for (int i = 0; i < GO_STACK_DEPTH; i++) {
			if (old->pcs[i] != st->pcs[i]) {
				counter_add(&drops, DROP_GO_STACK_COLLISION, 1);
				return -1;
			}
		}
	} else if (bpf_map_update_elem(&go_stacks, &key, st, BPF_NOEXIST) && !bpf_map_lookup_elem(&go_stacks, &key)) {
		counter_add(&drops, DROP_GO_STACKS_FULL, 1);
		return -1;
	}
	if (measure_switch_out)
		counter_add(&go_cost, GO_COST_FLAG, 1);
	return (int)(key | GO_STACK_FLAG);
}

/* Frames whose return addresses join the instruction pointer in a
 * blocking switch-out's call site (call_site). */
#define CALL_SITE_FRAMES 4

/* call_site returns a fingerprint of where user space blocked: ip hashed
 * with the return addresses of the innermost CALL_SITE_FRAMES frames on the
 * frame-pointer chain from bp. The instruction pointer alone does not tell
 * call paths apart: every futex wait of a Go program enters the kernel at
 * the one syscall instruction of runtime.futex, from runtime.lock2 as from
 * an idle thread's runtime.notesleep, and reusing the stacks walked at the
 * first for the second filed an idle thread's seconds under the lock. A
 * chain that cannot be read ends the walk: the fingerprint is then coarser,
 * never wrong for the same path. A global function: the verifier checks its
 * loop once. */
__attribute__((noinline)) __u64 call_site(__u64 ip, __u64 bp)
{
	__u64 h = ip, frame[2]; /* frame[0]: the caller's bp, frame[1]: return address */

	for (int i = 0; i < CALL_SITE_FRAMES; i++) {
		if (!bp || bpf_probe_read_user(frame, sizeof(frame), (const void *)bp) || !frame[1])
			break;
		h = (h ^ frame[1]) * 1099511628211ull;
		if (frame[0] <= bp) /* frames go up the stack: stop at a loop or the end */
			break;
		bp = frame[0];
	}
	return h;
}

/* switch_out_leaf records the words at prev's user SP beside its
 * stacks[k] (leaf.h); prev is the current task. */
static __always_inline void switch_out_leaf(struct thread_value *t, __u32 k, struct task_struct *prev)
{
	struct pt_regs *regs;

	if (k >= KIND_MAX)
		return;
	__builtin_memset(&t->leaf[k], 0, sizeof(t->leaf[k]));
	if (!have_task_pt_regs || t->user_stack[k] < 0 || (t->user_stack[k] & GO_STACK_FLAG))
		return; /* a locked goroutine's stack: the words at SP are the thread's */
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (regs)
		leaf_read(&t->leaf[k], t->tgid, regs->sp);
}

static __always_inline void switch_out(void *ctx, void *cur, bool preempt, struct task_struct *prev,
				       unsigned int prev_state, __u64 now, const struct target_info *ti)
{
	bool runnable = preempt || prev_state == TASK_RUNNING, created;
	struct thread_value *t = thread_get(cur, prev, ti, &created);
	__u32 k;

	if (!t)
		return;
	window_count(t->win, runnable ? COUNT_INVOLUNTARY : COUNT_VOLUNTARY);
	if (t->in_ns)
		t->oncpu_ns += elapsed(now, counted(t, t->in_ns));
	else if (created) /* on CPU since before the window (or before it became a target) */
		t->oncpu_ns += elapsed(now, t->from_ns);
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
	/* A blocked thread's user registers say where it entered the kernel
	 * and from which call path (call_site); a preempted one's point
	 * anywhere in running code, so preemptions reuse by time alone. */
	__u64 ip = 0, sys = 0;
	if (k != KIND_PREEMPTED && have_task_pt_regs) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);

		if (regs) {
			ip = call_site(regs->ip, regs->bp);
			sys = regs->orig_ax;
		}
	}
	/* A thread waiting for its locked goroutine blocks where idle threads
	 * do: the goroutine's saved context tells them apart for stack reuse
	 * (its pc alone is where every park resumes). */
	struct go_locked gl;
	bool locked = k != KIND_PREEMPTED && go_locked_ctx(prev, &gl);
	if (locked)
		ip = call_site(gl.pc, gl.bp);
	if (t->stack_ns[k] && now - t->stack_ns[k] < stack_interval_ns &&
	    t->stack_ip[k] == ip && t->stack_sys[k] == sys) {
		window_count(t->win, COUNT_STACKS_REUSED); /* keep the last walked stacks */
		return;
	}
	flush(prev->pid, t, k);
	t->stack_ns[k] = now;
	t->stack_ip[k] = ip;
	t->stack_sys[k] = sys;
	t->user_stack[k] = locked ? go_stack_id(&gl) : -1;
	if (t->user_stack[k] < 0)
		t->user_stack[k] = stack_id(ctx, &stacks, BPF_F_USER_STACK, &drops, DROP_USER_STACK);
	t->kernel_stack[k] = stack_id(ctx, &stacks, 0, &drops, DROP_KERNEL_STACK);
	switch_out_leaf(t, k, prev);
}

/* switch_in closes the thread's open interval. Its parts before the
 * window's start were counted in earlier windows (user space split them
 * there); the histograms get the whole interval, and each part's count goes
 * to the window where that part ended. */
static __always_inline void switch_in(void *cur, struct task_struct *next, __u64 now, const struct target_info *ti)
{
	bool created;
	struct thread_value *t = thread_get(cur, next, ti, &created);
	__u64 blocked = 0, runq = 0, blocked_part = 0, runq_part = 0, end;
	__u32 win;

	if (!t)
		return;
	win = t->win & 1;
	if (t->open != OFF_NONE) {
		if (t->wake_ns) {
			runq = elapsed(now, t->wake_ns);
			runq_part = elapsed(now, counted(t, t->wake_ns));
		}
		end = t->wake_ns ? t->wake_ns : now; /* the wakeup was not seen: blocked until now */
		if (t->open == OFF_STACK) {
			blocked = elapsed(end, t->off_ns);
			blocked_part = elapsed(end, counted(t, t->off_ns));
		}
		hist_record(&hists, win * HIST_MAX + HIST_RUNQ, runq);
		if (blocked)
			hist_record(&hists, win * HIST_MAX + HIST_BLOCKED, blocked);
		if (pid_hists_on) {
			pid_hist_record(&pid_hists, &pid_hist_zero, t->tgid, win * HIST_MAX + HIST_RUNQ, runq,
					&drops, DROP_PID_HISTS_FULL);
			if (blocked)
				pid_hist_record(&pid_hists, &pid_hist_zero, t->tgid, win * HIST_MAX + HIST_BLOCKED,
						blocked, &drops, DROP_PID_HISTS_FULL);
		}
		t->blocked_ns += blocked_part;
		t->runq_ns += runq_part;
		if (t->kind == KIND_DSTATE)
			t->dstate_ns += blocked_part;
		if (t->open == OFF_STACK) {
			__u32 k = t->kind;

			if (k >= KIND_MAX)
				k = KIND_SLEEP;
			if (blocked && end > t->from_ns) { /* the blocked part ended in this window */
				t->acc_blocked_ns[k] += blocked_part;
				t->acc_blocked_count[k]++;
			}
			if (runq) {
				t->acc_runq_ns[k] += runq_part;
				t->acc_runq_count[k]++;
			}
		}
		t->open = OFF_NONE;
	}
	t->in_ns = now;
}

static __always_inline void wakeup(void *cur, struct task_struct *p, bool new_thread, const struct target_info *ti)
{
	__u32 tid = p->pid, count = new_thread ? COUNT_NEW_THREADS : COUNT_WAKEUPS;
	__u64 now = bpf_ktime_get_ns();
	struct thread_value *t;
	bool created;

	t = thread_find(cur, tid);
	if (t && t->open != OFF_NONE) {
		window_count(t->win, count);
		if (!t->wake_ns)
			t->wake_ns = now;
		return;
	}
	if ((t && t->in_ns) || (!new_thread && p->on_cpu)) {
		/* woken before it got off the CPU: never blocked */
		window_count(t ? t->win : window_of(cur), count);
		return;
	}

	/* Blocked since before the window (or before its process became a
	 * target), or a new thread: account its time from then; there is no
	 * stack to attribute it to. */
	t = thread_get(cur, p, ti, &created);
	if (!t)
		return;
	window_count(t->win, count);
	if (created && !new_thread)
		t->blocked_ns += elapsed(now, t->from_ns);
	t->open = OFF_NO_STACK;
	t->wake_ns = now;
}

static __always_inline void sched_switch(void *ctx, bool preempt, struct task_struct *prev,
					struct task_struct *next, unsigned int prev_state)
{
	struct target_info *out, *in;
	__u32 slot = WINDOW_CUR;
	void *cur;
	__u64 now;

	if (!window_start_ns)
		return;
	out = target_of(prev->tgid);
	in = next->tgid == prev->tgid ? out : target_of(next->tgid);
	if (out) {
		if (!(cur = bpf_map_lookup_elem(&windows, &slot)))
			return;
		now = bpf_ktime_get_ns();
		__u64 t0 = cost_start();
		switch_out(ctx, cur, preempt, prev, prev_state, now, out);
		cost_end(t0);
	} else if (in) {
		if (!(cur = bpf_map_lookup_elem(&windows, &slot)))
			return;
		now = bpf_ktime_get_ns();
	} else {
		return;
	}
	if (in)
		switch_in(cur, next, now, in);
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
	__u32 slot = WINDOW_CUR;
	struct target_info *t;
	void *cur;

	if (!window_start_ns || !(t = target_of(p->tgid)))
		return;
	cur = bpf_map_lookup_elem(&windows, &slot);
	if (cur)
		wakeup(cur, p, new_thread, t);
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
