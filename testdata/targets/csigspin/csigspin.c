/*
 * csigspin: a C program that spends half of its CPU time in a signal
 * handler, so that where the handler's samples go can be checked.
 *
 * Known behaviour: the main thread calls interrupted_spin() (global,
 * noinline, frame pointers) in a loop. setitimer(ITIMER_PROF) sends it
 * SIGPROF every -period-us microseconds of CPU time (default 2000), and
 * the handler on_prof() (installed with sigaction, so glibc's __restore_rt
 * is its return address) calls handler_spin(), which spins until the
 * thread's CPU clock has advanced by -handler-us (default 1000). So
 * about handler/period (50%) of the CPU time is in handler_spin, on top of
 * interrupted_spin, and the rest in interrupted_spin alone: the
 * interrupted function is on the stack of essentially every sample.
 *
 * Usage: csigspin [-period-us N] [-handler-us N] [-duration SECONDS]
 * (0 or absent = until killed; SIGINT/SIGTERM also stop it)
 * Prints "ready pid=<pid>" when spinning starts and, at the end,
 * {"seconds":s,"signals":n,"handler_cpu_seconds":s,"cpu_seconds":s}.
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile unsigned long signals;
static volatile double handler_cpu;
static long handler_ns = 1000000;
volatile unsigned long sink;

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* handler_spin spins until the thread has run ns more nanoseconds. */
__attribute__((noinline)) void handler_spin(long ns)
{
	double end = clock_s(CLOCK_THREAD_CPUTIME_ID) + ns / 1e9;
	volatile unsigned long acc = 0;
	while (clock_s(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 1000; i++)
			acc += i ^ (acc >> 3);
	sink += acc;
}

__attribute__((noinline)) void on_prof(int sig)
{
	double start = clock_s(CLOCK_THREAD_CPUTIME_ID);
	(void)sig;
	handler_spin(handler_ns);
	handler_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - start;
	signals++;
}

/* interrupted_spin is the code the signals interrupt. */
__attribute__((noinline)) void interrupted_spin(unsigned long n)
{
	volatile unsigned long acc = 0;
	for (unsigned long i = 0; i < n; i++)
		acc += i ^ (acc >> 5);
	sink += acc;
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: csigspin [-period-us N] [-handler-us N] [-duration SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	double duration = 0;
	long period_us = 2000;
	for (int i = 1; i + 1 < argc || (i < argc && usage()); i += 2) {
		char *end;
		double v = strtod(argv[i + 1], &end);
		if (end == argv[i + 1] || (*end != '\0' && strcmp(end, "s") != 0))
			return usage();
		if (strcmp(argv[i], "-period-us") == 0)
			period_us = (long)v;
		else if (strcmp(argv[i], "-handler-us") == 0)
			handler_ns = (long)(v * 1000);
		else if (strcmp(argv[i], "-duration") == 0)
			duration = v;
		else
			return usage();
	}
	if (period_us <= 0 || handler_ns < 0)
		return usage();

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	struct itimerval it = {{period_us / 1000000, period_us % 1000000}, {period_us / 1000000, period_us % 1000000}};
	setitimer(ITIMER_PROF, &it, NULL);

	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	double start = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	while (!stop && (duration <= 0 || clock_s(CLOCK_MONOTONIC) - start < duration))
		interrupted_spin(1UL << 18);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, NULL);
	printf("{\"seconds\":%.3f,\"signals\":%lu,\"handler_cpu_seconds\":%.3f,\"cpu_seconds\":%.3f}\n",
	       clock_s(CLOCK_MONOTONIC) - start, signals, handler_cpu, clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
	return 0;
}
