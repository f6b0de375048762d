// Package probes owns the kernel side of a capture: the Target being
// profiled, the Probe interface each eBPF probe implements (probes/cpu,
// probes/sched, ...), the registry that names them, and the Session that
// loads, attaches, watches and finally detaches them, returning a
// profile.Capture of raw stacks, histograms, counters, drops and self-cost.
package probes
