/*
 * cspin: a C program that spins on one thread in a known function.
 *
 * Known behaviour: the main thread calls hot_spin() (global, noinline, with a
 * volatile accumulator so the loop cannot be optimised away) in ~2ms chunks,
 * so hot_spin is on the stack essentially all the time and the process uses
 * ~1 CPU-second per wall-clock second.
 *
 * With -func alpha or -func beta it spins in spin_alpha() or spin_beta()
 * instead (the same loop under another name), so that two copies of the
 * program are told apart by their function.
 *
 * Usage: cspin [-duration SECONDS] [-func hot|alpha|beta]
 * (also -duration=SECONDS; a trailing "s" is accepted; 0 or absent = until
 * killed; SIGINT/SIGTERM also stop it)
 * Prints "ready pid=<pid>" when spinning starts and, at the end,
 * {"seconds":<wall seconds>,"chunks":<hot_spin calls>}.
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
volatile unsigned long sink;

__attribute__((noinline)) void hot_spin(unsigned long n)
{
	volatile unsigned long acc = 0;
	for (unsigned long i = 0; i < n; i++)
		acc += i ^ (acc >> 3);
	sink += acc;
}

__attribute__((noinline)) void spin_alpha(unsigned long n)
{
	volatile unsigned long acc = 0;
	for (unsigned long i = 0; i < n; i++)
		acc += i ^ (acc >> 3);
	sink += acc;
}

__attribute__((noinline)) void spin_beta(unsigned long n)
{
	volatile unsigned long acc = 1;
	for (unsigned long i = 0; i < n; i++)
		acc += i ^ (acc >> 5);
	sink += acc;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: cspin [-duration SECONDS] [-func hot|alpha|beta]\n");
	return 2;
}

int main(int argc, char **argv)
{
	double duration = 0;
	void (*spin)(unsigned long) = hot_spin;
	for (int i = 1; i < argc; i++) {
		const char *v;
		char *end;
		if (strcmp(argv[i], "-func") == 0 && i + 1 < argc) {
			const char *f = argv[++i];
			if (strcmp(f, "hot") == 0)
				spin = hot_spin;
			else if (strcmp(f, "alpha") == 0)
				spin = spin_alpha;
			else if (strcmp(f, "beta") == 0)
				spin = spin_beta;
			else
				return usage();
			continue;
		}
		if (strcmp(argv[i], "-duration") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "-duration=", 10) == 0)
			v = argv[i] + 10;
		else
			return usage();
		duration = strtod(v, &end);
		if (end == v || (*end != '\0' && strcmp(end, "s") != 0))
			return usage();
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);

	double start = now();
	unsigned long chunks = 0;
	while (!stop && (duration <= 0 || now() - start < duration)) {
		spin(1UL << 20);
		chunks++;
	}
	printf("{\"seconds\":%.3f,\"chunks\":%lu}\n", now() - start, chunks);
	return 0;
}
