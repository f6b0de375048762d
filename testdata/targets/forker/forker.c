/*
 * forker: a C program that forks child processes which spin in a known
 * function, one after another.
 *
 * Known behaviour: prints "ready pid=<pid>", then waits for a line on stdin
 * (so a probe can attach first). It then forks -children N processes (not
 * threads), one at a time; each spins in child_spin() (global, noinline)
 * for -duration SECONDS and exits, or, with -exec PATH, execs
 * "PATH -duration SECONDS" instead, after spinning -exec-after SECONDS
 * (default 0) in child_spin. The parent blocks in
 * parent_wait() (wait4) until each child is gone, and takes each child's
 * CPU time from the kernel's accounting of it. At the end it prints
 * {"children":[<pid>,...],"cpu_ns":[<user+system ns of each child>,...]}
 * and exits 0.
 *
 * Usage: forker [-children N] [-duration SECONDS] [-exec PATH [-exec-after SECONDS]]
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void child_spin(double duration)
{
	volatile unsigned long acc = 0;
	double start = now();
	while (now() - start < duration)
		for (unsigned long i = 0; i < (1UL << 16); i++)
			acc += i ^ (acc >> 3);
	sink += acc;
}

__attribute__((noinline)) int parent_wait(pid_t pid, struct rusage *ru)
{
	int status;
	if (wait4(pid, &status, 0, ru) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: forker [-children N] [-duration SECONDS] [-exec PATH [-exec-after SECONDS]]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int n = 1;
	const char *duration = "1", *exe = NULL;
	double exec_after = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "-children") == 0)
			n = atoi(argv[++i]);
		else if (strcmp(argv[i], "-duration") == 0)
			duration = argv[++i];
		else if (strcmp(argv[i], "-exec") == 0)
			exe = argv[++i];
		else if (strcmp(argv[i], "-exec-after") == 0)
			exec_after = strtod(argv[++i], NULL);
		else
			return usage();
	}
	if (n < 1 || n > MAX_CHILDREN)
		return usage();

	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;

	pid_t pids[MAX_CHILDREN];
	long long cpu[MAX_CHILDREN];
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			if (exe) {
				if (exec_after > 0)
					child_spin(exec_after);
				execl(exe, exe, "-duration", duration, (char *)NULL);
				perror("exec");
				_exit(1);
			}
			child_spin(strtod(duration, NULL));
			_exit(0);
		}
		struct rusage ru;
		if (parent_wait(pid, &ru) != 0) {
			fprintf(stderr, "child %d failed\n", (int)pid);
			return 1;
		}
		pids[i] = pid;
		cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	}

	printf("{\"children\":[");
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)pids[i]);
	printf("],\"cpu_ns\":[");
	for (int i = 0; i < n; i++)
		printf("%s%lld", i ? "," : "", cpu[i]);
	printf("]}\n");
	return 0;
}
