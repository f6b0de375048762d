// Package probes owns the kernel side of a capture: the Targets being
// profiled, the Probe interface each eBPF probe implements (probes/cpu,
// probes/sched, ...), the registry that names them, and the Session that
// loads, attaches, watches and finally detaches them, returning a
// profile.Capture of raw stacks, histograms, counters, drops and self-cost.
// One set of programs serves every target of a session: they filter by one
// BPF map of target processes the session shares among the probes and
// updates while they stay attached (AddTarget, RemoveTarget, and children
// of followed targets, added in the kernel at fork: follow.bpf.c).
package probes
