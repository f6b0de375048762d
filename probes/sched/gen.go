package sched

//go:generate go tool bpf2go -tags linux -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type kind -type interval -type sched_hist -type sched_count -type sched_drop -type go_cost_slot sched sched.bpf.c -- -I../../bpf -I.
