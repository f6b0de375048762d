/*
 * cleafblock: a C program built with frame pointers that blocks only
 * inside libc's syscall wrappers, which Debian builds without frame
 * pointers: the frameless-leaf plant.
 *
 * Known behaviour: the main thread repeats a cycle in which
 * hiddenNapA() sleeps -nap-us microseconds (default 7000) in nanosleep(3)
 * and hiddenReadB() blocks -read-us microseconds (default 3000) in
 * read(2) of a timerfd armed for that long; nothing else blocks. So the
 * thread's blocked time splits nap/(nap+read) (70%) in hiddenNapA's
 * nanosleep and the rest (30%) in hiddenReadB's read. A frame-pointer
 * walk from inside either wrapper skips the function that called it.
 *
 * Usage: cleafblock [-nap-us N] [-read-us N] [-duration-ms D]
 * (D = 0: until SIGINT/SIGTERM). It prints "ready pid=<pid> tid=<tid>"
 * once it runs and at the end {"cycles":N,"nap_ns":..,"read_ns":..}.
 *
 * Build: testtarget.CFlags (frame pointers), e.g. with -O2.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* hiddenNapA sleeps us microseconds in nanosleep. */
__attribute__((noinline)) int hiddenNapA(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	return nanosleep(&ts, NULL);
}

/* hiddenReadB arms timer fd for us microseconds and blocks in read until
 * it expires. */
__attribute__((noinline)) int hiddenReadB(int fd, long us)
{
	struct itimerspec it = {{0, 0}, {us / 1000000, (us % 1000000) * 1000}};
	uint64_t expirations;

	if (timerfd_settime(fd, 0, &it, NULL) != 0)
		return -1;
	return read(fd, &expirations, sizeof(expirations)) == sizeof(expirations) ? 0 : -1;
}

int main(int argc, char **argv)
{
	long nap = 7000, rd = 3000, duration = 0;
	int64_t napNs = 0, readNs = 0, cycles = 0, end, t0, t1, t2;
	int fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-nap-us") == 0)
			nap = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-read-us") == 0)
			rd = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-duration-ms") == 0)
			duration = atol(argv[i + 1]);
		else {
			fprintf(stderr, "usage: cleafblock [-nap-us N] [-read-us N] [-duration-ms D]\n");
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0) {
		perror("timerfd_create");
		return 1;
	}
	printf("ready pid=%d tid=%ld\n", getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);
	end = duration > 0 ? now_ns() + duration * 1000000 : INT64_MAX;
	while (!stop && now_ns() < end) {
		t0 = now_ns();
		hiddenNapA(nap);
		t1 = now_ns();
		if (hiddenReadB(fd, rd) != 0) {
			perror("read");
			return 1;
		}
		t2 = now_ns();
		napNs += t1 - t0;
		readNs += t2 - t1;
		cycles++;
	}
	printf("{\"cycles\":%lld,\"nap_ns\":%lld,\"read_ns\":%lld}\n", (long long)cycles, (long long)napNs, (long long)readNs);
	return 0;
}
