// Command rig measures perfprobe's own cost on this machine and prints the
// figures PERFORMANCE.md records:
//
//   - attach latency: from starting `perfprobe attach` to its "attached"
//     line (median of -attach-runs);
//   - overhead: throughput of context-switch-heavy targets (pipe ping-pong
//     pinned to one CPU and free; the demo HTTP service under loopback
//     load) without and with `attach` (cpu+sched at the default 97 Hz), interleaved
//     pairs in one run, as ratios;
//   - perfprobe's peak RSS, CPU time and BPF run time over a -long capture
//     of that workload;
//   - with -against REV: the same perfprobe against the one built from git
//     revision REV, in the same run: attach latency and overhead on the
//     pinned ping-pong, interleaved, as ratios.
//
// Run as root from the repository root: go run ./testing/performance/rig
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/perf/benchmath"
)

func main() {
	attachRuns := flag.Int("attach-runs", 10, "attach latency runs")
	pairs := flag.Int("pairs", 6, "overhead pairs (baseline, probed)")
	runFor := flag.Duration("run", 5*time.Second, "counted time of each overhead run")
	long := flag.Duration("long", 30*time.Second, "length of the self-cost capture")
	against := flag.String("against", "", "also compare with perfprobe built from this git revision (A/B in this run), e.g. HEAD~1")
	only := flag.Bool("only-against", false, "with -against: run the A/B comparison alone")
	resultsFile := flag.String("results", "", "also write attach latency and the overhead ratios as perfprobe gate's simple JSON to this file")
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("the rig attaches eBPF probes: run it as root")
	}
	dir, err := os.MkdirTemp("", "perfprobe-rig-")
	check(err)
	defer os.RemoveAll(dir)
	perfprobe := filepath.Join(dir, "perfprobe")
	pingpong := filepath.Join(dir, "pingpong")
	spinner := filepath.Join(dir, "spinner")
	demo := filepath.Join(dir, "demo")
	build(perfprobe, "./cmd/perfprobe")
	build(pingpong, "./testdata/targets/pingpong")
	build(spinner, "./testdata/targets/spinner")
	build(demo, "./testdata/targets/demo")
	fmt.Printf("# perfprobe rig, %s, %s\n\n", time.Now().UTC().Format(time.RFC3339), machine())
	if *against != "" {
		old := filepath.Join(dir, "perfprobe-old")
		buildAt(*against, old, dir)
		compare(old, perfprobe, *against, spinner, pingpong, dir, *attachRuns, *pairs, *runFor)
		if *only {
			return
		}
	}

	// Attach latency.
	var lat []float64
	for i := range *attachRuns {
		target := start(spinner)
		began := time.Now()
		cmd := exec.Command(perfprobe, "attach", "-q", "-d", "500ms", "-o", filepath.Join(dir, fmt.Sprint("lat", i)), fmt.Sprint(target.Process.Pid))
		stderr, _ := cmd.StderrPipe()
		check(cmd.Start())
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "attached to pid") {
				lat = append(lat, time.Since(began).Seconds()*1000)
				break
			}
		}
		for sc.Scan() {
		}
		check(cmd.Wait())
		target.Process.Kill()
		target.Wait()
	}
	res.add("attach latency, default probes", "s", "latency", false, scale(lat, 1e-3))
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(lat, &benchmath.DefaultThresholds), 0.95)
	fmt.Printf("## Attach latency (start of `perfprobe attach` with the default probes to \"attached\", %d runs)\n\n", len(lat))
	fmt.Printf("median %.0f ms, 95%% CI [%.0f, %.0f] ms, min %.0f ms, max %.0f ms\n\n", s.Center, s.Lo, s.Hi, minOf(lat), maxOf(lat))

	// Overhead on context-switch-heavy targets, interleaved pairs.
	workloads := []struct {
		name   string
		probes string
		run    func(attach func(pid int) *exec.Cmd) float64
		// goProfiles leaves attach's default fetch of the Go runtime's
		// profiles on (CPU profile, fgprof, mutex/block, goroutines); the
		// other rows measure the eBPF probes alone.
		goProfiles bool
	}{
		{"pipe ping-pong, 2 threads pinned to CPU 0 (round trips/s)", "cpu,sched", func(a func(int) *exec.Cmd) float64 {
			return pingpongRun([]string{"taskset", "-c", "0", pingpong}, "1s", *runFor, a)
		}, false},
		{"pipe ping-pong, 2 threads free on all CPUs (round trips/s)", "cpu,sched", func(a func(int) *exec.Cmd) float64 {
			return pingpongRun([]string{pingpong}, "1s", *runFor, a)
		}, false},
		{"demo HTTP service with 4 loopback clients (requests/s)", "cpu,sched", func(a func(int) *exec.Cmd) float64 {
			return demoRun(demo, *runFor, a)
		}, false},
		{"demo HTTP service with 4 loopback clients (requests/s)", "cpu,iostall,sched,tls", func(a func(int) *exec.Cmd) float64 {
			return demoRun(demo, *runFor, a)
		}, false},
		{"demo HTTP service with 4 loopback clients (requests/s)", "cpu,sched + Go profiles", func(a func(int) *exec.Cmd) float64 {
			return demoRun(demo, *runFor, a)
		}, true},
	}
	fmt.Printf("## Overhead: throughput without vs with `perfprobe attach` (97 Hz), %d interleaved pairs of %s each\n\n", *pairs, *runFor)
	fmt.Printf("| workload | probes | without (median, 95%% CI) | with attach | ratio with/without (median of pairs, 95%% CI) | slowdown | test |\n|---|---|---|---|---|---|---|\n")
	for wi, w := range workloads {
		var base, probed, ratios []float64
		for i := range *pairs {
			withProbe := func() float64 {
				return w.run(func(pid int) *exec.Cmd {
					args := []string{"attach", "-q", "-d", "0", "-p", strings.TrimSuffix(w.probes, " + Go profiles"), "-o", filepath.Join(dir, fmt.Sprint("ovh", wi, "-", i))}
					if !w.goProfiles {
						args = append(args, "--no-go-profiles")
					}
					return exec.Command(perfprobe, append(args, fmt.Sprint(pid))...)
				})
			}
			// Alternate the order so drift of the machine cancels out.
			var b, p float64
			if i%2 == 0 {
				b, p = w.run(nil), withProbe()
			} else {
				p, b = withProbe(), w.run(nil)
			}
			base, probed = append(base, b), append(probed, p)
			ratios = append(ratios, p/b)
		}
		res.add(fmt.Sprintf("overhead ratio: %s, %s", w.name, w.probes), "ratio", "other", true, ratios)
		bs := benchmath.AssumeNothing.Summary(benchmath.NewSample(base, &benchmath.DefaultThresholds), 0.95)
		ps := benchmath.AssumeNothing.Summary(benchmath.NewSample(probed, &benchmath.DefaultThresholds), 0.95)
		rs := benchmath.AssumeNothing.Summary(benchmath.NewSample(ratios, &benchmath.DefaultThresholds), 0.95)
		cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(base, &benchmath.DefaultThresholds), benchmath.NewSample(probed, &benchmath.DefaultThresholds))
		fmt.Printf("| %s | %s | %.0f [%.0f, %.0f] | %.0f [%.0f, %.0f] | %.3f [%.3f, %.3f] | %.1f%% | %s |\n",
			w.name, w.probes, bs.Center, bs.Lo, bs.Hi, ps.Center, ps.Lo, ps.Hi, rs.Center, rs.Lo, rs.Hi, 100*(1-rs.Center), cmp)
	}
	fmt.Println()
	if *resultsFile != "" {
		res.write(*resultsFile)
	}

	// Self-cost of a long capture of the same workload.
	out := filepath.Join(dir, "long")
	pingpongRun([]string{pingpong}, "0s", *long+2*time.Second, func(pid int) *exec.Cmd {
		return exec.Command(perfprobe, "attach", "-q", "-d", long.String(), "-p", "cpu,sched", "--no-go-profiles", "-o", out, fmt.Sprint(pid))
	})
	var rep struct {
		Window struct {
			DurationSeconds float64 `json:"duration_seconds"`
		} `json:"window"`
		Counts   map[string]uint64 `json:"counts"`
		SelfCost struct {
			BPFRunNs     uint64  `json:"bpf_run_ns"`
			BPFRunCount  uint64  `json:"bpf_run_count"`
			UserCPUNs    uint64  `json:"user_cpu_ns"`
			SystemCPUNs  uint64  `json:"system_cpu_ns"`
			PeakRSSBytes uint64  `json:"peak_rss_bytes"`
			Attach       float64 `json:"attach_seconds"`
		} `json:"self_cost"`
	}
	b, err := os.ReadFile(filepath.Join(out, "capture.json"))
	check(err)
	check(json.Unmarshal(b, &rep))
	sc := rep.SelfCost
	win := rep.Window.DurationSeconds
	fmt.Printf("## Self-cost of a %s capture of the ping-pong workload\n\n", *long)
	fmt.Printf("| figure | value |\n|---|---|\n")
	fmt.Printf("| context switches of the target | %d (%.0f/s) |\n", rep.Counts["voluntary_switches"]+rep.Counts["involuntary_switches"],
		float64(rep.Counts["voluntary_switches"]+rep.Counts["involuntary_switches"])/win)
	fmt.Printf("| perfprobe peak RSS | %.1f MiB |\n", float64(sc.PeakRSSBytes)/(1<<20))
	fmt.Printf("| perfprobe CPU (user+sys) | %.3f s (%.2f%% of one CPU) |\n", float64(sc.UserCPUNs+sc.SystemCPUNs)/1e9, 100*float64(sc.UserCPUNs+sc.SystemCPUNs)/1e9/win)
	fmt.Printf("| BPF programs run time | %.3f s (%.2f%% of one CPU), %d runs, %.0f ns/run |\n", float64(sc.BPFRunNs)/1e9, 100*float64(sc.BPFRunNs)/1e9/win, sc.BPFRunCount, float64(sc.BPFRunNs)/float64(max(sc.BPFRunCount, 1)))
}

// pingpongRun runs the ping-pong workload and returns round trips per
// second. Pinned to one CPU both threads switch on it, the densest and
// steadiest context-switch load; free, the rate depends on placement.
func pingpongRun(argv []string, warmup string, d time.Duration, attach func(pid int) *exec.Cmd) float64 {
	var res struct {
		RoundTrips float64 `json:"round_trips"`
		Seconds    float64 `json:"seconds"`
	}
	workload(append(argv, "-warmup", warmup, "-duration", d.String()), attach, &res)
	return res.RoundTrips / res.Seconds
}

// demoRun runs the demo service with its loopback load generator and
// returns requests served per second.
func demoRun(bin string, d time.Duration, attach func(pid int) *exec.Cmd) float64 {
	var res struct {
		Requests map[string]float64 `json:"requests"`
		Seconds  float64            `json:"seconds"`
	}
	workload([]string{bin, "-load", "4", "-duration", d.String()}, attach, &res)
	var n float64
	for _, v := range res.Requests {
		n += v
	}
	return n / res.Seconds
}

// workload runs a target to completion, with a perfprobe command (when
// attach is not nil) started right after its ready line, and decodes the
// target's JSON summary line into res.
func workload(argv []string, attach func(pid int) *exec.Cmd, res any) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // a killed rig leaves no load behind
	stdout, _ := cmd.StdoutPipe()
	check(cmd.Start())
	sc := bufio.NewScanner(stdout)
	sc.Scan() // ready line
	var pp *exec.Cmd
	if attach != nil {
		pp = attach(cmd.Process.Pid)
		check(pp.Start())
	}
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "{") {
			check(json.Unmarshal(sc.Bytes(), res))
		}
	}
	check(cmd.Wait())
	if pp != nil {
		check(pp.Wait())
	}
}

// buildAt builds cmd/perfprobe as of git revision rev into out.
func buildAt(rev, out, tmp string) {
	src := filepath.Join(tmp, "src-"+strings.NewReplacer("/", "_", "~", "_", "^", "_").Replace(rev))
	if b, err := exec.Command("git", "worktree", "add", "--detach", src, rev).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("checking out %s: %v\n%s", rev, err, b))
	}
	defer exec.Command("git", "worktree", "remove", "--force", src).Run()
	cmd := exec.Command("go", "build", "-o", out, "./cmd/perfprobe")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("building perfprobe at %s: %v\n%s", rev, err, b))
	}
}

// compare measures perfprobe old against new in interleaved, order-
// alternating pairs: attach latency, and the pinned ping-pong's throughput
// under each (cpu,sched at 97 Hz).
func compare(old, cur, rev, spinner, pingpong, dir string, attachRuns, pairs int, runFor time.Duration) {
	latency := func(bin string, i int) float64 {
		target := start(spinner)
		defer func() { target.Process.Kill(); target.Wait() }()
		began := time.Now()
		cmd := exec.Command(bin, "attach", "-q", "-d", "500ms", "-o", filepath.Join(dir, fmt.Sprint("ab-lat", i)), fmt.Sprint(target.Process.Pid))
		stderr, _ := cmd.StderrPipe()
		check(cmd.Start())
		sc := bufio.NewScanner(stderr)
		var ms float64
		for sc.Scan() {
			if ms == 0 && strings.Contains(sc.Text(), "attached to pid") {
				ms = time.Since(began).Seconds() * 1000
			}
		}
		check(cmd.Wait())
		return ms
	}
	pp := func(bin string, i int) float64 {
		return pingpongRun([]string{"taskset", "-c", "0", pingpong}, "1s", runFor, func(pid int) *exec.Cmd {
			return exec.Command(bin, "attach", "-q", "-d", "0", "-p", "cpu,sched", "--no-go-profiles", "-o", filepath.Join(dir, fmt.Sprint("ab-ovh", i)), fmt.Sprint(pid))
		})
	}
	fmt.Printf("## This perfprobe (B) against %s (A), same run, interleaved pairs, order alternating\n\n", rev)
	fmt.Printf("| figure | A (median, 95%% CI) | B | ratio B/A (median of pairs, 95%% CI) | test |\n|---|---|---|---|---|\n")
	row := func(name string, n int, measure func(bin string, i int) float64) {
		var a, b, r []float64
		for i := range n {
			var x, y float64
			if i%2 == 0 {
				x, y = measure(old, 2*i), measure(cur, 2*i+1)
			} else {
				y, x = measure(cur, 2*i+1), measure(old, 2*i)
			}
			a, b, r = append(a, x), append(b, y), append(r, y/x)
		}
		as := benchmath.AssumeNothing.Summary(benchmath.NewSample(a, &benchmath.DefaultThresholds), 0.95)
		bs := benchmath.AssumeNothing.Summary(benchmath.NewSample(b, &benchmath.DefaultThresholds), 0.95)
		rs := benchmath.AssumeNothing.Summary(benchmath.NewSample(r, &benchmath.DefaultThresholds), 0.95)
		cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(a, &benchmath.DefaultThresholds), benchmath.NewSample(b, &benchmath.DefaultThresholds))
		fmt.Printf("| %s | %.0f [%.0f, %.0f] | %.0f [%.0f, %.0f] | %.3f [%.3f, %.3f] | %s |\n", name, as.Center, as.Lo, as.Hi, bs.Center, bs.Lo, bs.Hi, rs.Center, rs.Lo, rs.Hi, cmp)
	}
	row("attach latency, default probes (ms)", attachRuns, latency)
	row("pinned ping-pong under attach, cpu,sched (round trips/s)", pairs, pp)
	fmt.Println()
}

// results are the figures perfprobe gate compares with the rig's
// baseline (make perf-gate-rig), in its simple JSON of named samples.
type results struct {
	Version int      `json:"perfprobe_results"`
	Results []result `json:"results"`
}

type result struct {
	Name           string    `json:"name"`
	Unit           string    `json:"unit"`
	Kind           string    `json:"kind"`
	HigherIsBetter bool      `json:"higher_is_better"`
	Samples        []float64 `json:"samples"`
}

var res = results{Version: 1}

func (r *results) add(name, unit, kind string, higher bool, samples []float64) {
	r.Results = append(r.Results, result{name, unit, kind, higher, samples})
}

func (r *results) write(path string) {
	b, err := json.MarshalIndent(r, "", "  ")
	check(err)
	check(os.WriteFile(path, append(b, '\n'), 0o644))
}

func scale(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

func start(bin string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := cmd.StdoutPipe()
	check(cmd.Start())
	bufio.NewScanner(stdout).Scan()
	return cmd
}

func build(out, pkg string) {
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("building %s: %v\n%s", pkg, err, b))
	}
}

func machine() string {
	b, _ := exec.Command("uname", "-r").Output()
	n, _ := exec.Command("nproc").Output()
	return fmt.Sprintf("Linux %s, %s CPUs", strings.TrimSpace(string(b)), strings.TrimSpace(string(n)))
}

func minOf(v []float64) float64 { s := append([]float64(nil), v...); sort.Float64s(s); return s[0] }
func maxOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)-1]
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "rig:", msg)
	os.Exit(1)
}
