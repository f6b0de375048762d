/* SPDX-License-Identifier: GPL-2.0 */
/* Frameless leaves: a frame-pointer walk (bpf_get_stackid) skips the
 * caller of a leaf that has not pushed a frame (libc's syscall wrappers,
 * Go leaf functions). With each user stack a probe records a few words
 * found at the user stack pointer that look like return addresses (they
 * fall in the target's code, leaf_text, filled by user space per process),
 * with their index; user space (profile/symbolize/unwind.go) puts the
 * caller back from them where the leaf's unwind rule says its return
 * address lies. Return addresses are stable per call site, so the words
 * keep the kernel's aggregation by key. */
#ifndef PERFPROBE_LEAF_H
#define PERFPROBE_LEAF_H

#define LEAF_READ 32  /* words read at the user SP (256 bytes) */
#define LEAF_SHORT 8  /* words read when LEAF_READ cross an unmapped page */
#define LEAF_KEEP 4   /* code-looking words kept */
#define LEAF_RANGES 8 /* text ranges per process */

/* The code of one process: [start, end) ranges, unused ones empty, and
 * their hull [lo, hi). */
struct leaf_text {
	__u64 lo, hi;
	__u64 start[LEAF_RANGES];
	__u64 end[LEAF_RANGES];
};

/* The kept words: word[i] was at SP + 8 * idx[i], for i < n. */
struct leaf_words {
	__u64 word[LEAF_KEEP];
	__u8 idx[LEAF_KEEP];
	__u32 n;
};

/* Allocated as filled (BPF_F_NO_PREALLOC = 1): most sessions have a few
 * targets, and only user space writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct leaf_text);
	__uint(max_entries, MAX_TARGETS);
	__uint(map_flags, 1);
} leaf_text SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64[LEAF_READ]);
	__uint(max_entries, 1);
} leaf_buf SEC(".maps");

/* leaf_in_text reports whether w is in one of t's ranges. */
static __always_inline bool leaf_in_text(const struct leaf_text *t, __u64 w)
{
	if (w < t->lo || w >= t->hi)
		return false;
	for (int j = 0; j < LEAF_RANGES; j++)
		if (w >= t->start[j] && w < t->end[j])
			return true;
	return false;
}

/* leaf_read fills out (zeroed by the caller) with the first LEAF_KEEP
 * words at user stack pointer sp of process tgid that fall in its code.
 * A global function, so that the verifier checks its loops once, not once
 * per path of each caller; and the scan zeroes the words that are not code
 * in the buffer (memory the verifier does not track) before the first
 * LEAF_KEEP are kept, so that its states do not differ by what was found
 * (the two made most of the probes' load time: ~100k instructions checked
 * per program, now ~2k). */
__attribute__((noinline)) int leaf_read(struct leaf_words *out, __u32 tgid, __u64 sp)
{
	const struct leaf_text *t = bpf_map_lookup_elem(&leaf_text, &tgid);
	__u32 zero = 0, n = 0;
	__u64 *buf;

	if (!out || !t || !sp)
		return 0;
	buf = bpf_map_lookup_elem(&leaf_buf, &zero);
	if (!buf)
		return 0;
	/* a failed read zeroes buf, and zero is no code address */
	if (bpf_probe_read_user(buf, LEAF_READ * sizeof(__u64), (void *)sp) &&
	    bpf_probe_read_user(buf, LEAF_SHORT * sizeof(__u64), (void *)sp))
		return 0;
	for (__u32 i = 0; i < LEAF_READ; i++)
		if (!leaf_in_text(t, buf[i]))
			buf[i] = 0;
	for (__u32 i = 0; i < LEAF_READ; i++) {
		/* n counts the words found without a branch on them, so that
		 * it stays one range to the verifier rather than a value per
		 * path (the barriers keep the compiler from branching) */
		__u64 w = buf[i], neg = -w;
		__u32 nz, slot;

		asm volatile("" : "+r"(neg));
		nz = (w | neg) >> 63; /* w != 0 */
		asm volatile("" : "+r"(nz));
		n += nz;
		slot = n - 1;
		if (nz && slot < LEAF_KEEP) {
			out->word[slot] = w;
			out->idx[slot] = i;
		}
	}
	if (n > LEAF_KEEP)
		n = LEAF_KEEP;
	out->n = n;
	return n;
}

#endif
