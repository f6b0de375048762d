/*
 * csmallio writes a few bytes at a time with write(2), many thousand
 * times a second: the small-syscalls plant in C, built with frame
 * pointers (testtarget.CFlags).
 *
 * Known behaviour: one thread repeats a cycle of -cycle-ms (default 100)
 * milliseconds: -share-pct percent of it (default 50) in write_phase,
 * where emit_record calls write(2) of -size bytes (default 8) to a file
 * back to back (the file is rewound every 65536 writes, with lseek(2),
 * which is not an I/O syscall perfprobe counts, and removed at exit), the
 * rest in spin_phase, a busy loop on CPU. All of the write phase is the
 * write calls and the loop around them, so -share-pct percent of the
 * thread's CPU time is in write(2) of -size bytes.
 *
 * Usage: csmallio [-file PATH] [-size N] [-share-pct P] [-cycle-ms C]
 * [-duration-ms D] (D = 0: until SIGINT/SIGTERM). It prints
 * "ready pid=<pid> tid=<tid>" once it runs, and at the end one JSON line
 * {"writes":N,"bytes":B,"write_ns":..,"spin_ns":..,"cycles":..} and
 * exits 0 (1 on an I/O error).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile uint64_t sink;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* emit_record writes one record of size bytes. */
__attribute__((noinline)) static int emit_record(int fd, const char *rec, size_t size)
{
	return write(fd, rec, size) == (ssize_t)size ? 0 : -1;
}

/* write_phase writes records until end; it counts them in *writes. */
__attribute__((noinline)) static int write_phase(int fd, const char *rec, size_t size, int64_t end, uint64_t *writes)
{
	while (now_ns() < end) {
		for (int i = 0; i < 64; i++) {
			if (emit_record(fd, rec, size) < 0)
				return -1;
			if (++*writes % 65536 == 0 && lseek(fd, 0, SEEK_SET) < 0)
				return -1;
		}
	}
	return 0;
}

/* spin_phase keeps the CPU busy until end. */
__attribute__((noinline)) static void spin_phase(int64_t end)
{
	uint64_t x = sink;
	while (now_ns() < end)
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

static long arg(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return atol(argv[i + 1]);
	return def;
}

int main(int argc, char **argv)
{
	char path[256];
	snprintf(path, sizeof path, "/tmp/csmallio-%d", (int)getpid());
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-file") == 0)
			snprintf(path, sizeof path, "%s", argv[i + 1]);
	size_t size = (size_t)arg(argc, argv, "-size", 8);
	long share = arg(argc, argv, "-share-pct", 50);
	int64_t cycle = (int64_t)arg(argc, argv, "-cycle-ms", 100) * 1000000;
	int64_t duration = (int64_t)arg(argc, argv, "-duration-ms", 0) * 1000000;
	if (size == 0 || size > 4096 || share < 0 || share > 100 || cycle <= 0) {
		fprintf(stderr, "csmallio: need 0 < -size <= 4096, 0 <= -share-pct <= 100, -cycle-ms > 0\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror("csmallio: open");
		return 1;
	}
	char rec[4096];
	memset(rec, 'x', sizeof rec);
	printf("ready pid=%d tid=%ld\n", (int)getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);

	uint64_t writes = 0, cycles = 0;
	int64_t write_ns = 0, spin_ns = 0, begin = now_ns();
	int rc = 0;
	while (!stop && (duration == 0 || now_ns() - begin < duration)) {
		int64_t t0 = now_ns();
		if (write_phase(fd, rec, size, t0 + cycle * share / 100, &writes) < 0) {
			perror("csmallio: write");
			rc = 1;
			break;
		}
		int64_t t1 = now_ns();
		spin_phase(t0 + cycle);
		write_ns += t1 - t0;
		spin_ns += now_ns() - t1;
		cycles++;
	}
	close(fd);
	unlink(path);
	printf("{\"writes\":%llu,\"bytes\":%llu,\"write_ns\":%lld,\"spin_ns\":%lld,\"cycles\":%llu}\n",
	       (unsigned long long)writes, (unsigned long long)(writes * size), (long long)write_ns,
	       (long long)spin_ns, (unsigned long long)cycles);
	return rc;
}
