// Package cpu is the on-CPU probe: a perf_event program on the software CPU
// clock of every online CPU samples the target's threads at a fixed
// frequency and counts, in the kernel, each {thread, user stack, kernel
// stack}. Each sample stands for one sampling period of CPU time.
package cpu
