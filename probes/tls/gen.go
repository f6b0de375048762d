package tls

//go:generate go tool bpf2go -tags linux -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type side -type lib -type tls_count -type tls_drop tls tls.bpf.c -- -I../../bpf -I.
