/*
 * chash: a C program with hashing planted beside a neutral busy loop.
 *
 * Known behaviour: the main thread alternates in cycles of random length
 * (2 to 8 ms, so no sampler at a fixed frequency aliases with them): the
 * first -share percent of each cycle's wall time runs plant_hashing(),
 * SHA-256 over 8 KiB with this file's own implementation (its block
 * function sha256_transform, called from sha256_update), the rest runs
 * neutral_work(), integer mixing; the thread's CPU time is read at every
 * switch between the two. With one thread and no runtime beside it, the
 * planted share of the process's on-CPU time is the share of wall time,
 * -share percent (default 50); the summary's expected_share is the
 * measured one: planted_fraction (the plant's part of the thread's CPU
 * time) times the thread's CPU time over the process's.
 *
 * At start it checks its SHA-256 of "abc" against FIPS 180-4's example
 * and exits 1 if it differs.
 *
 * Usage: chash [-share PERCENT] [-duration SECONDS]
 * (a trailing "s" is accepted; 0 or absent = until killed; SIGINT/SIGTERM
 * also stop it). Prints "ready pid=<pid>" when the loop starts and, at
 * the end, {"share":..,"seconds":..,"planted_seconds":..,
 * "neutral_seconds":..,"planted_fraction":..,"thread_cpu_seconds":..,
 * "process_cpu_seconds":..,"expected_share":..,"units":..}. The figures
 * cover the time from the start to the end, or, when it got SIGUSR1, from
 * the last SIGUSR1 to the SIGUSR2 after it (or the end), at the next
 * cycle's start: a test brackets its capture window with them.
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop, restart, finish;
volatile uint64_t sink;

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t used;    /* bytes in block */
	uint64_t total; /* bytes hashed */
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* sha256_transform compresses one 64-byte block into h. */
__attribute__((noinline)) void sha256_transform(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, k;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, iv, sizeof iv);
	s->used = 0;
	s->total = 0;
}

__attribute__((noinline)) void sha256_update(struct sha256 *s, const uint8_t *p, size_t n)
{
	s->total += n;
	while (n > 0) {
		size_t take = 64 - s->used < n ? 64 - s->used : n;
		memcpy(s->block + s->used, p, take);
		s->used += take, p += take, n -= take;
		if (s->used == 64) {
			sha256_transform(s->h, s->block);
			s->used = 0;
		}
	}
}

__attribute__((noinline)) void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	sha256_update(s, &pad, 1);
	while (s->used != 56)
		sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, len, 8);
	for (int i = 0; i < 8; i++)
		out[4 * i] = s->h[i] >> 24, out[4 * i + 1] = s->h[i] >> 16, out[4 * i + 2] = s->h[i] >> 8, out[4 * i + 3] = s->h[i];
}

static uint8_t buf[8 << 10];

/* plant_hashing chains SHA-256 over 8 KiB. */
__attribute__((noinline)) void plant_hashing(void)
{
	struct sha256 s;
	uint8_t sum[32];
	sha256_init(&s);
	sha256_update(&s, buf, sizeof buf);
	sha256_final(&s, sum);
	memcpy(buf, sum, sizeof sum);
}

/* neutral_work is ~20 us of integer mixing that no hashing rule matches. */
__attribute__((noinline)) uint64_t neutral_work(uint64_t x)
{
	for (int i = 0; i < 1 << 14; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		restart = 1;
	else if (sig == SIGUSR2)
		finish = 1;
	else
		stop = 1;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int self_test(void)
{
	static const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	struct sha256 s;
	uint8_t sum[32];
	sha256_init(&s);
	sha256_update(&s, (const uint8_t *)"abc", 3);
	sha256_final(&s, sum);
	return memcmp(sum, want, sizeof want) == 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: chash [-share PERCENT] [-duration SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	double duration = 0, share = 50;
	for (int i = 1; i < argc; i++) {
		double *dst;
		char *end;
		if (strcmp(argv[i], "-duration") == 0 && i + 1 < argc)
			dst = &duration;
		else if (strcmp(argv[i], "-share") == 0 && i + 1 < argc)
			dst = &share;
		else
			return usage();
		const char *v = argv[++i];
		*dst = strtod(v, &end);
		if (end == v || (*end != '\0' && strcmp(end, "s") != 0))
			return usage();
	}
	if (share < 0 || share > 100)
		return usage();
	if (!self_test()) {
		fprintf(stderr, "chash: SHA-256(\"abc\") is wrong\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);

	/* The measured interval: from the start (or the last SIGUSR1) to the
	 * end (or the SIGUSR2 after it). */
	double begin = clock_s(CLOCK_MONOTONIC), start = begin, planted = 0, neutral = 0;
	double proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), end = 0, proc1 = 0;
	int counting = 1;
	uint64_t x = 1, units = 0, rng = 88172645463325252ULL;
	double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
	while (!stop && (duration <= 0 || clock_s(CLOCK_MONOTONIC) - begin < duration)) {
		if (restart) {
			restart = finish = 0;
			counting = 1;
			planted = neutral = 0;
			units = 0;
			start = clock_s(CLOCK_MONOTONIC);
			proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		}
		if (finish && counting) {
			counting = 0;
			end = clock_s(CLOCK_MONOTONIC);
			proc1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		}
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		double cycle = 2e-3 + (rng % 6000) * 1e-6;
		double t0 = clock_s(CLOCK_MONOTONIC), now = t0;
		uint64_t n = 0;
		while (now - t0 < cycle * share / 100) {
			plant_hashing();
			n++;
			now = clock_s(CLOCK_MONOTONIC);
		}
		double mid = clock_s(CLOCK_THREAD_CPUTIME_ID);
		while (now - t0 < cycle) {
			x = neutral_work(x);
			now = clock_s(CLOCK_MONOTONIC);
		}
		double next = clock_s(CLOCK_THREAD_CPUTIME_ID);
		if (counting) {
			planted += mid - cpu;
			neutral += next - mid;
			units += n;
		}
		cpu = next;
	}
	sink = x;
	if (counting) {
		end = clock_s(CLOCK_MONOTONIC);
		proc1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	}
	double thread_cpu = planted + neutral, proc_cpu = proc1 - proc0;
	double fraction = planted / (thread_cpu > 0 ? thread_cpu : 1);
	printf("{\"share\":%.0f,\"seconds\":%.3f,\"planted_seconds\":%.3f,\"neutral_seconds\":%.3f,\"planted_fraction\":%.4f,"
	       "\"thread_cpu_seconds\":%.3f,\"process_cpu_seconds\":%.3f,\"expected_share\":%.4f,\"units\":%llu}\n",
	       share, end - start, planted, neutral, fraction, thread_cpu, proc_cpu,
	       fraction * thread_cpu / (proc_cpu > 0 ? proc_cpu : 1), (unsigned long long)units);
	return 0;
}
