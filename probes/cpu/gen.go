package cpu

//go:generate go tool bpf2go -tags linux -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type cpu_count -type cpu_drop cpu cpu.bpf.c -- -I../../bpf -I.
