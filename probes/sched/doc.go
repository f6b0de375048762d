// Package sched is the scheduler probe: from sched_switch, sched_wakeup and
// sched_wakeup_new (tp_btf) it splits each of the target's off-CPU
// intervals into blocked time (switch-out until wakeup) and run-queue time
// (wakeup or preemption until switch-in), attributes both to the stack the
// thread left the CPU with, keeps log2 histograms of each, counts voluntary
// and involuntary context switches, and accounts every thread's on-CPU,
// blocked and run-queue time over the window. All of it is aggregated in
// the kernel.
package sched
