/* SPDX-License-Identifier: GPL-2.0 */
/* The few kernel types perfprobe's BPF programs read, declared with
 * preserve_access_index so CO-RE relocates every field against the running
 * kernel's BTF. A full bpftool dump is 3 MB; we need a handful of fields. */
#ifndef PERFPROBE_VMLINUX_H
#define PERFPROBE_VMLINUX_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };
typedef int pid_t;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

enum {
	BPF_F_USER_STACK = 256,
};

#define TASK_RUNNING 0x0000
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_DEAD 0x0080

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t live; /* threads not yet in do_exit */
};

/* x86-64: the thread's saved FS base, where its thread-local storage
 * begins (sched probe: a Go thread's current g is at a fixed offset from
 * it). Kept up to date by arch_prctl(ARCH_SET_FS) and clone(CLONE_SETTLS). */
struct thread_struct {
	unsigned long fsbase;
};

struct task_struct {
	unsigned int __state;
	int on_cpu;
	pid_t pid;
	pid_t tgid;
	char comm[16];
	struct signal_struct *signal;
	struct thread_struct thread;
};

/* Before Linux 5.14 the task's state was a long named state. */
struct task_struct___state {
	long state;
};

/* x86-64 registers, as uprobes and sys_enter/sys_exit see them. */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

struct bpf_perf_event_data {
	__u64 sample_period;
	__u64 addr;
};

#pragma clang attribute pop

/* Block layer (iostall probe): a request, its queue and its disk, as
 * the block tracepoints see them. */
typedef __u32 blk_opf_t;
typedef __u8 blk_status_t;

#define REQ_OP_MASK 0xff
#define REQ_OP_READ 0
#define REQ_OP_WRITE 1
#define REQ_OP_FLUSH 2

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct gendisk {
	int major;
	int first_minor;
};

struct request_queue {
	struct gendisk *disk;
};

struct bio;

struct request {
	struct request_queue *q;
	blk_opf_t cmd_flags;
	unsigned int __data_len;
	struct bio *bio; /* the first bio of the request */
};

/* Before Linux 5.18 a request named its disk itself. */
struct request___rq_disk {
	struct gendisk *rq_disk;
};

#pragma clang attribute pop

#endif
