package iostall

import (
	"fmt"
	"io"
	"sort"
	"strings"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/text"
)

func init() {
	probes.Register(probes.Description{
		Name: "iostall", Default: true, Rank: 30,
		Doc: "I/O syscall latency by the stack that made the call, and block-device latency per disk",
		New: func() probes.Probe { return &Probe{} },
		SampleTypes: []profile.SampleType{{Name: profile.TypeIOWait, Unit: "nanoseconds", Rank: 30,
			Desc: "Time inside slow I/O syscalls, at the stack that entered them"}},
		EventUnit: "events",
		Counts: []probes.Fact{
			{Name: "syscall_*_calls", Desc: "calls of one I/O syscall"},
			{Name: "syscall_*_bytes", Desc: "bytes one I/O syscall moved"},
			{Name: "syscall_*_errors", Desc: "calls of one I/O syscall that failed"},
			{Name: "syscall_*_in_flight", Desc: "threads inside one I/O syscall when the window ended"},
			{Name: "syscalls_unpaired_exits", Desc: "syscall exits without their entry in the window"},
			{Name: "syscalls_unpaired_entries", Desc: "syscall entries that found the thread's previous traced call unfinished (its exit not seen): that call is not recorded"},
			{Name: "syscalls_restarted", Desc: "syscalls restarted after a signal"},
			{Name: "syscalls_slow", Desc: "syscalls over the I/O threshold (their stacks are kept)"},
			{Name: "block_partial_completions", Desc: "block requests completed in several parts"},
			{Name: "block_unpaired_completions", Desc: "block completions without their issue in the window"},
			{Name: "block_issued_unbuilt", Desc: "block requests issued without being seen built (the block_getrq path)"},
			{Name: "block_*_ios", Desc: "block requests of one disk (all, or _target_: submitted by the target)"},
			{Name: "block_*_reads", Desc: "read requests of one disk"},
			{Name: "block_*_writes", Desc: "write requests of one disk"},
			{Name: "block_*_flushes", Desc: "flush requests of one disk"},
			{Name: "block_*_others", Desc: "other requests of one disk (discard, zone, ...)"},
			{Name: "block_*_bytes", Desc: "bytes moved by one disk's requests (also _read_bytes, _write_bytes)"},
			{Name: "block_*_errors", Desc: "requests of one disk that failed"},
			{Name: "block_*_other_ios", Desc: "requests of one disk submitted by other processes"},
			{Name: "block_*_dev_*", Desc: "= 1: names the disk behind block_<major>_<minor>"},
		},
		Histograms: []probes.Fact{
			{Name: "syscall_*", Desc: "latency of one I/O syscall"},
			{Name: "block_*", Desc: "latency of one disk's requests, issue to completion (all, and _target)"},
		},
		Drops: []probes.Fact{
			{Name: "iostall_user_stack", Desc: "slow syscalls whose user stack could not be stored"},
			{Name: "iostall_iowait_full", Desc: "slow syscalls lost because the per-stack map was full"},
			{Name: "iostall_inflight", Desc: "syscalls not timed because the in-flight map was full"},
			{Name: "iostall_requests_full", Desc: "block requests not timed because the request map was full"},
			{Name: "iostall_disks_full", Desc: "block requests lost because the per-disk map was full"},
			{Name: "iostall_pid_hists_full", Desc: "syscalls left out of their process's histograms (the per-process map was full); the capture's histograms have them"},
		},
		Summary: summary,
	})
}

// summary prints the I/O syscalls and block devices the probe saw, and the
// stacks of the slow syscalls.
func summary(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nI/O: %s in slow syscalls (over the I/O threshold), by the stack that made them\n", text.Ns(profile.Total(p, profile.TypeIOWait)))
	var names []string
	for name, h := range c.Histograms {
		if (strings.HasPrefix(name, "syscall_") || strings.HasPrefix(name, "block_")) && h.Count > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintf(w, "  %-22s %8s %9s %9s %9s %10s %7s\n", "", "calls", "p50", "p99", "max", "bytes", "errors")
	}
	for _, name := range names {
		h := c.Histograms[name]
		fmt.Fprintf(w, "  %-22s %8d %9s %9s %9s %10s %7d\n", name, h.Count, text.Ns(int64(h.Percentile(.5))), text.Ns(int64(h.Percentile(.99))),
			text.Ns(int64(h.MaxNs)), text.Bytes(c.Counts[name+"_bytes"]), c.Counts[name+"_errors"])
	}
	text.TopStacks(w, p, profile.TypeIOWait, 5, false)
}
