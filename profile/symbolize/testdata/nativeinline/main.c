// Test program for inlined frames of native code (nativeinline_test.go,
// and profile's TestToPprofNativeInlined): planted_mix is inlined into
// planted_step, itself inlined into the noinline planted_outer. The
// tests find lines by the MARK comments. It prints planted_outer's
// address, then waits for a line on stdin.
#include <stdio.h>

static inline __attribute__((always_inline)) unsigned planted_mix(unsigned x) {
	unsigned h = x; // MARK mix first
	for (int i = 0; i < 37; i++)
		h = h * 2654435761u + (h >> 13) + (unsigned)i; // MARK mix loop
	return h ^ (h >> 17); // MARK mix last
}

static inline __attribute__((always_inline)) unsigned planted_step(unsigned x) {
	unsigned y = planted_mix(x ^ 0x9e37u); // MARK call mix
	return y + (y >> 7);
}

__attribute__((noinline)) unsigned planted_outer(unsigned n) {
	unsigned acc = 0;
	for (unsigned k = 0; k < n; k++)
		acc += planted_step(acc + k); // MARK call step
	return acc;
}

int main(int argc, char **argv) {
	(void)argv;
	printf("%p\n", (void *)planted_outer);
	fflush(stdout);
	unsigned r = planted_outer((unsigned)argc * 1000u);
	getchar();
	return (int)(r & 1);
}
