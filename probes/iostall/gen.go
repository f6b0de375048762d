package iostall

//go:generate go tool bpf2go -tags linux -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type origin -type iostall_count -type iostall_drop iostall iostall.bpf.c -- -I../../bpf -I.
