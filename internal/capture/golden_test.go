package capture

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/probes/cpu" // the probes whose sections the summary prints
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from what the code writes now")

// fixedSymbols names the fixture's addresses: 0x1000+n is user function
// fn<n>, 0xffff0000+n kernel function kfn<n>.
type fixedSymbols map[uint64]string

var (
	exeMapping    = &symbolize.Mapping{Start: 0x1000, Limit: 0x2000, Path: "/usr/bin/svc", BuildID: "5e5e"}
	kernelMapping = &symbolize.Mapping{Start: 0xffff0000, Limit: 0xffffffff, Path: "[kernel.kallsyms]", Kernel: true}
)

func (s fixedSymbols) User(addr uint64, _ bool) symbolize.Frame {
	return symbolize.Frame{Addr: addr, Function: s[addr], Mapping: exeMapping, Known: true}
}

func (s fixedSymbols) Kernel(addr uint64) symbolize.Frame {
	return symbolize.Frame{Addr: addr, Function: s[addr], Mapping: kernelMapping, Known: true}
}

// fixture is a capture of a made-up process whose figures are easy to
// check by eye: 2 s window, one thread spinning in main.hash 75% of the
// on-CPU time, one blocked in fsync.
func fixture() (*profile.Capture, fixedSymbols) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	syms := fixedSymbols{
		0x1001: "main.hash", 0x1002: "main.encode", 0x1003: "main.work", 0x1004: "main.main",
		0x1005: "syscall.fsync", 0x1006: "main.save",
		0xffff0001: "schedule", 0xffff0002: "do_fsync", 0xffff0003: "pick_next_task",
	}
	hist := func(values ...uint64) *profile.Histogram {
		h := &profile.Histogram{}
		for _, v := range values {
			h.Record(v)
		}
		return h
	}
	c := &profile.Capture{
		Target: profile.Target{PID: 4242, Comm: "svc", Exe: "/usr/bin/svc", Cmdline: []string{"/usr/bin/svc", "-port", "8080"}},
		Start:  start,
		End:    start.Add(2 * time.Second),
		Probes: []string{"cpu", "iostall", "sched"},
		SampleTypes: []string{profile.TypeOnCPU, profile.TypeIOWait, profile.TypeOffCPUBlocked,
			profile.TypeOffCPURunqueue, profile.TypeOffCPUUninterruptible},
		Kernel:   profile.Kernel{Release: "6.1.0-test", Paths: map[string]string{"iostall": "syscalls timed from raw tracepoints"}},
		Hz:       99,
		EndCause: EndDuration,
		Stacks: []profile.Stack{
			{Type: profile.TypeOnCPU, TID: 4242, Thread: "svc", User: []uint64{0x1001, 0x1003, 0x1004}, Value: 750_000_000, Count: 75},
			{Type: profile.TypeOnCPU, TID: 4242, Thread: "svc", User: []uint64{0x1002, 0x1003, 0x1004}, Value: 200_000_000, Count: 20},
			{Type: profile.TypeOnCPU, TID: 4243, Thread: "svc-io", User: []uint64{0x1006, 0x1004}, Value: 50_000_000, Count: 5},
			{Type: profile.TypeOffCPUBlocked, TID: 4243, Thread: "svc-io", User: []uint64{0x1005, 0x1006, 0x1004}, Kernel: []uint64{0xffff0001, 0xffff0002}, Value: 900_000_000, Count: 50},
			{Type: profile.TypeOffCPUUninterruptible, TID: 4243, Thread: "svc-io", User: []uint64{0x1005, 0x1006, 0x1004}, Kernel: []uint64{0xffff0001, 0xffff0002}, Value: 600_000_000, Count: 50},
			{Type: profile.TypeOffCPURunqueue, TID: 4242, Thread: "svc", User: []uint64{0x1001, 0x1003, 0x1004}, Kernel: []uint64{0xffff0003}, Value: 30_000_000, Count: 12},
			{Type: profile.TypeIOWait, TID: 4243, Thread: "svc-io", User: []uint64{0x1005, 0x1006, 0x1004}, Value: 880_000_000, Count: 50, Labels: map[string]string{"syscall": "fsync"}},
		},
		Histograms: map[string]*profile.Histogram{
			"runqueue":      hist(1_000_000, 2_000_000, 2_500_000, 3_000_000, 21_500_000),
			"syscall_fsync": hist(15_000_000, 16_000_000, 17_000_000, 18_000_000, 20_000_000),
		},
		Counts: map[string]uint64{"oncpu_samples": 100, "voluntary_switches": 50, "involuntary_switches": 12, "syscall_fsync_bytes": 4096 * 50},
		Drops:  map[string]uint64{"oncpu_stacks": 0, "sched_stacks": 2},
		Threads: map[uint32]*profile.Thread{
			4242: {TID: 4242, Name: "svc", OnCPUNs: 950_000_000, RunqueueNs: 30_000_000, BlockedNs: 1_000_000_000, Samples: 95},
			4243: {TID: 4243, Name: "svc-io", OnCPUNs: 50_000_000, BlockedNs: 1_900_000_000, UninterruptibleNs: 600_000_000, Samples: 5},
		},
		SelfCost: profile.SelfCost{BPFRunNs: 2_000_000, BPFRunCount: 5000, BPFPrograms: map[string]uint64{"cpu/on_cpu": 2_000_000},
			UserCPUNs: 30_000_000, SystemCPUNs: 10_000_000, PeakRSSBytes: 40 << 20, AttachSeconds: 0.25},
		Warnings: []string{"probe tls skipped: no TLS code in the target"},
	}
	c.Targets = []profile.Target{c.Target}
	return c, syms
}

// twoProcesses is the fixture with a second process, a worker whose
// stacks carry its own pid.
func twoProcesses() (*profile.Capture, fixedSymbols) {
	c, syms := fixture()
	worker := profile.Target{PID: 4250, Comm: "svc-worker", Exe: "/usr/bin/svc", Parent: 4242}
	c.Targets = append(c.Targets, worker)
	for i := range c.Stacks {
		c.Stacks[i].PID = 4242
	}
	c.Stacks = append(c.Stacks,
		profile.Stack{Type: profile.TypeOnCPU, PID: 4250, TID: 4250, Thread: "svc-worker", User: []uint64{0x1002, 0x1003, 0x1004}, Value: 500_000_000, Count: 50},
		profile.Stack{Type: profile.TypeOffCPUBlocked, PID: 4250, TID: 4250, Thread: "svc-worker", User: []uint64{0x1005, 0x1006, 0x1004}, Kernel: []uint64{0xffff0001}, Value: 100_000_000, Count: 10},
	)
	return c, syms
}

// TestGolden checks capture.json and the summary text of a fixed capture
// against testdata/ (no root needed). After a deliberate change to either
// output: go test ./internal/capture -run TestGolden -update, and read the
// diff before committing it.
func TestGolden(t *testing.T) {
	c, syms := fixture()
	checkGolden(t, c, syms, "")
}

// TestGoldenProcesses is TestGolden for two processes: the summary's
// table of processes, the targets list and per-process labels.
func TestGoldenProcesses(t *testing.T) {
	c, syms := twoProcesses()
	checkGolden(t, c, syms, "processes-")
}

func checkGolden(t *testing.T, c *profile.Capture, syms fixedSymbols, prefix string) {
	r := &Result{Capture: c}
	r.build(syms, nil)
	dir := t.TempDir()
	if err := r.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"profile.pb.gz", "capture.json", "flamegraph.html", "oncpu.folded", "offcpu_blocked.folded", "offcpu_runqueue.folded", "iowait.folded", "offcpu_uninterruptible.folded"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("WriteDir did not write %s: %v", name, err)
		}
	}
	report, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The one measured figure: what the diagnosis took on this machine.
	report = regexp.MustCompile(`"diagnosis_seconds": [0-9.e+-]+`).ReplaceAll(report, []byte(`"diagnosis_seconds": 0`))
	r.Dir = "perfprobe-4242-20261201-100000" // the summary names the directory
	var summary bytes.Buffer
	r.WriteSummary(&summary)
	golden(t, prefix+"capture.json.golden", report)
	golden(t, prefix+"summary.txt.golden", summary.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code writes now (go test ./internal/capture -run TestGolden -update rewrites it; check the diff):\n%s", path, firstDiff(want, got))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
