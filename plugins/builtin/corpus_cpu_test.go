package builtin_test

import (
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/builtin"
	_ "github.com/perfprobe/perfprobe/probes/cpu" // the probes perfprobe attach attaches
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
)

// summary is what testdata/targets/planted and chash measure of themselves
// (see their doc comments): expected_share is the planted share of the
// process's CPU time.
type summary struct {
	Mode            string  `json:"mode"`
	Seconds         float64 `json:"seconds"`
	PlantedFraction float64 `json:"planted_fraction"`
	WorkersCPU      float64 `json:"workers_cpu_seconds"`
	ThreadCPU       float64 `json:"thread_cpu_seconds"`
	ProcessCPU      float64 `json:"process_cpu_seconds"`
	GCShare         float64 `json:"gc_cpu_share"`
	GCSeconds       float64 `json:"gc_cpu_seconds"`
	Expected        float64 `json:"expected_share"`
	Goroutines      int     `json:"goroutines"`
}

// plant is one corpus case: a target run with a planted problem, the
// plugin that must find it, and the other plugins whose findings above
// info are inherent to that plant (with why).
type plant struct {
	name, target string
	args         []string
	plugin       string
	inherent     map[string]string
	// pick chooses the plugin's finding when it has several (nil: the
	// first).
	pick func(f plugins.Finding) bool
	// check asserts what the share cannot (nil: the share reproduces the
	// summary's expected_share within 10 points).
	check func(t *testing.T, f plugins.Finding, s summary)
}

// Shares reproduce within this many points (of 100). Sampling at sampleHz
// over the 3 s window gives ~1,500 samples of a busy worker thread, so the
// sampling error of a 50% share is under 1.5 points; the rest is left for
// what the target's clock counts as the plant but the plant's frames do
// not hold (the alloc plant's own loop, ~3 points) and for the target's
// interval, bracketed by signals, not matching the window exactly.
// Measured: within 2 points but alloc (5) and regexp (3).
const (
	shareTolerance = 0.10
	sampleHz       = 499
)

var corpus = []plant{
	{name: "hashing", target: "planted", args: []string{"-mode", "hashing"}, plugin: "hashing"},
	{name: "crypto", target: "planted", args: []string{"-mode", "crypto"}, plugin: "crypto"},
	{name: "json", target: "planted", args: []string{"-mode", "json"}, plugin: "serialization"},
	{name: "gzip", target: "planted", args: []string{"-mode", "gzip"}, plugin: "compression"},
	{name: "gc", target: "planted", args: []string{"-mode", "gc"}, plugin: "gc",
		inherent: map[string]string{"allocation": "the plant allocates the trees the GC collects; that is the allocation plugin's share"},
		check: func(t *testing.T, f plugins.Finding, s summary) {
			// The runtime counts marking (workers and assists) as GC
			// time, and sweeping and write barriers as the program's:
			// compare the plugin's marking with it.
			workers, _ := f.Figure("mark_workers_share")
			assists, _ := f.Figure("assists_share")
			marking := f.Share * (workers + assists) / 100
			goShare, _ := f.Figure("go_cpu_share")
			t.Logf("gc: measured share %.1f%% (go_cpu %.1f%%), of it marking %.1f%%; the runtime's GC time %.2f s, %.1f%% of the process's CPU", 100*f.Share, goShare, 100*marking, s.GCSeconds, 100*s.GCShare)
			if math.Abs(marking-s.GCShare) > shareTolerance {
				t.Errorf("gc marking share %.1f%%, the runtime's %.1f%%: more than %.0f points apart", 100*marking, 100*s.GCShare, 100*shareTolerance)
			}
		}},
	{name: "alloc", target: "planted", args: []string{"-mode", "alloc"}, plugin: "allocation",
		inherent: map[string]string{"gc": "sweeping the spans the allocations fill is GC work"}},
	{name: "regexp", target: "planted", args: []string{"-mode", "regexp"}, plugin: "regexp",
		inherent: map[string]string{
			"allocation": "compiling allocates: 15-19% of the CPU is the allocator under regexp.MustCompile",
			"gc":         "compiling allocates, and collecting it is GC work",
		},
		pick: func(f plugins.Finding) bool { return strings.Contains(f.Title, "compiles") },
		check: func(t *testing.T, f plugins.Finding, s summary) {
			// The plant compiles a pattern and matches one line with it:
			// compiling and matching together are the planted share,
			// and compiling is most of it.
			compile, _ := f.Figure("compile_share")
			match, _ := f.Figure("match_share")
			total := (compile + match) / 100
			t.Logf("regexp: measured share %.1f%% (compiling %.1f%%, matching %.1f%%), planted %.1f%% (nominal 50%%)", 100*total, compile, match, 100*s.Expected)
			if math.Abs(total-s.Expected) > shareTolerance {
				t.Errorf("regexp share %.1f%%, planted %.1f%%: more than %.0f points apart", 100*total, 100*s.Expected, 100*shareTolerance)
			}
			if compile < 4*match {
				t.Errorf("compiling %.1f%% is not most of the regexp time (matching %.1f%%)", compile, match)
			}
			if !strings.HasSuffix(f.Title, "in main.plantRegexp") {
				t.Errorf("title %q does not name the caller of regexp.MustCompile, main.plantRegexp", f.Title)
			}
		}},
	{name: "reflect", target: "planted", args: []string{"-mode", "reflect"}, plugin: "reflection"},
	{name: "fmt", target: "planted", args: []string{"-mode", "fmt"}, plugin: "fmt-logging"},
	{name: "goroutines", target: "planted", args: []string{"-mode", "goroutines", "-goroutines", "20000"}, plugin: "goroutine-growth",
		check: func(t *testing.T, f plugins.Finding, s summary) {
			n, _ := f.Figure("goroutines")
			top, _ := f.Figure("top_entry_goroutines")
			// The target's own goroutines besides the parked ones: main,
			// the workers, the HTTP server and the profile request.
			if n < 20000 || n > 20000+20 {
				t.Errorf("goroutines %v, want 20000 parked plus a few (the target counted %d at its end)", n, s.Goroutines)
			}
			if top != 20000 || !strings.Contains(f.Title, "main.parkedGoroutine") {
				t.Errorf("top start function holds %v in %q, want 20000 in main.parkedGoroutine", top, f.Title)
			}
		}},
	{name: "chash", target: "chash", plugin: "hashing"},
}

// machineWide are plugins whose findings depend on the machine's other
// load as much as on the program, on a shared 2-CPU machine: run-queue
// waits, and the BPF programs' run time, which every process's context
// switches and syscalls add to (another test's syscall loop took it to 7%
// of a CPU once).
var machineWide = map[string]bool{"cpu-saturation": true, "profiler-cost": true}

// Each planted problem, at 50% of one worker's time, is found by its
// plugin at warning or above with its planted share within 10 points, and
// nothing else is reported above info but what the plant implies.
func TestCorpusCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("captures 11 targets for 3 s each")
	}
	bpftest.Require(t)
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			res, s := capturePlant(t, c)
			var found *plugins.Finding
			for i, f := range res.Findings() {
				t.Logf("finding %s %s (score %d, share %.1f%%): %s | %s", f.Plugin, f.Severity, f.Score, 100*f.Share, f.Title, f.Detail)
				switch {
				case f.Plugin == c.plugin && found == nil && (c.pick == nil || c.pick(f)):
					found = &res.Findings()[i]
				case f.Severity > plugins.Info && f.Plugin != c.plugin && !machineWide[f.Plugin] && c.inherent[f.Plugin] == "":
					t.Errorf("unexpected %s finding from %s: %s", f.Severity, f.Plugin, f.Title)
				}
			}
			for _, st := range res.Diagnosis.Plugins {
				if st.Status == plugins.StatusFailed {
					t.Errorf("plugin %s failed: %s", st.Name, st.Reason)
				}
			}
			if found == nil {
				t.Fatalf("no %s finding for the planted %s", c.plugin, c.name)
			}
			if found.Severity < plugins.Warning {
				t.Errorf("%s finding is %s, want warning or above for a 50%% plant", c.plugin, found.Severity)
			}
			if c.check != nil {
				c.check(t, *found, s)
			} else {
				checkShare(t, *found, s)
			}
		})
	}
}

// minTargetCPU is the CPU time the target must get in the window for its
// findings to carry the absolute evidence a warning needs (200 ms of the
// plant); the machine is shared, and a target starved by other work is
// captured again, up to attempts times.
const (
	minTargetCPU = time.Second
	attempts     = 3
)

// capturePlant runs c's target and captures it for 3 s the way perfprobe
// attach does. The target measures itself over the same window: SIGUSR1
// before the attach starts its measurement, SIGUSR2 when the window ends
// (timed from the capture's first progress report) ends it.
func capturePlant(t *testing.T, c plant) (*capture.Result, summary) {
	t.Helper()
	bin := testtarget.Build(t, c.target)
	for attempt := 1; ; attempt++ {
		p := testtarget.Start(t, bin, c.args...)
		opts := capture.DefaultOptions()
		opts.Duration = 3 * time.Second
		opts.Hz = sampleHz
		var once sync.Once
		opts.Progress = func(pr capture.Progress) {
			once.Do(func() {
				time.AfterFunc(pr.Duration-pr.Elapsed, func() { p.Cmd.Process.Signal(syscall.SIGUSR2) })
			})
		}
		if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		res := bpftest.Attach(t, p.PID, opts)
		if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var s summary
		if err := p.Wait(&s); err != nil {
			t.Fatal(err)
		}
		t.Logf("target over %.2f s: expected share %.1f%% (planted fraction %.1f%%, workers' CPU %.2f s of the process's %.2f s, runtime GC share %.1f%%)",
			s.Seconds, 100*s.Expected, 100*s.PlantedFraction, s.WorkersCPU+s.ThreadCPU, s.ProcessCPU, 100*s.GCShare)
		got := time.Duration(s.ProcessCPU * float64(time.Second))
		if got >= minTargetCPU {
			return res, s
		}
		if attempt == attempts {
			t.Fatalf("the target got under %v of CPU in the window in %d attempts (%v the last time): the machine is too busy for this test", minTargetCPU, attempts, got)
		}
		t.Logf("attempt %d: the target got %v of CPU in the window (the machine is busy): capturing again", attempt, got)
	}
}

func checkShare(t *testing.T, f plugins.Finding, s summary) {
	t.Helper()
	t.Logf("%s: measured share %.1f%%, planted %.1f%% (nominal 50%%)", f.Plugin, 100*f.Share, 100*s.Expected)
	if math.Abs(f.Share-s.Expected) > shareTolerance {
		t.Errorf("%s share %.1f%%, planted %.1f%%: more than %.0f points apart", f.Plugin, 100*f.Share, 100*s.Expected, 100*shareTolerance)
	}
}
