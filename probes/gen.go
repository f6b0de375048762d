package probes

//go:generate go tool bpf2go -tags linux -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type follow_count -type follow_drop follow follow.bpf.c -- -I../bpf -I.
