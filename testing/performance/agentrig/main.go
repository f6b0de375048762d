// Command agentrig measures `perfprobe agent`'s own cost over a long run:
// its CPU (user+system, in percent of one CPU), its RSS, the kernel's time
// in its BPF programs, the windows written, the store's bytes per
// target-hour and the bytes a push of one window takes. Scenarios: one
// target (the demo service under load), twenty targets, and 200
// short-lived processes a minute. Run as root from the repository root:
//
//	go run ./testing/performance/agentrig                       # 10 min per scenario
//	go run ./testing/performance/agentrig -d 2m -only one,churn
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/store"
)

func main() {
	d := flag.Duration("d", 10*time.Minute, "how long each scenario runs")
	only := flag.String("only", "one,twenty,churn", "scenarios to run")
	hz := flag.Int("hz", 19, "the agent's sampling rate")
	interval := flag.Duration("interval", 15*time.Second, "the agent's window")
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("agentrig attaches BPF probes: run it as root")
	}
	tmp, err := os.MkdirTemp("", "agentrig-")
	check(err)
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "perfprobe")
	build(bin, "./cmd/perfprobe")
	demo := filepath.Join(tmp, "demo")
	build(demo, "./testdata/targets/demo")
	sleeper, err := testtarget.BuildInto(tmp, "sleeper")
	check(err)
	spinner, err := testtarget.BuildInto(tmp, "spinner")
	check(err)

	fmt.Printf("# perfprobe agent cost, %s, %v per scenario at %d Hz, %v windows\n\n", machine(), *d, *hz, *interval)
	fmt.Println("| scenario | targets | agent CPU (% of one CPU) | RSS mean / max | BPF time (% of one CPU) | windows | store bytes per target-hour | push bytes per window (mean) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, sc := range strings.Split(*only, ",") {
		var targets []*exec.Cmd
		var sel []string
		var churn func(ctx context.Context)
		switch sc {
		case "one":
			c := exec.Command(demo, "-load", "1")
			targets = append(targets, c)
			sel = []string{"--comm", "^demo$"}
		case "twenty":
			for range 20 {
				targets = append(targets, exec.Command(sleeper, "-interval", "5ms"))
			}
			sel = []string{"--comm", "^" + filepath.Base(sleeper)[:12]}
		case "churn":
			// 200 processes a minute, each spinning 100 ms.
			sel = []string{"--comm", "^" + filepath.Base(spinner)[:12]}
			churn = func(ctx context.Context) {
				tick := time.NewTicker(300 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						c := exec.Command(spinner, "-duration", "100ms")
						if c.Start() == nil {
							go c.Wait()
						}
					}
				}
			}
		default:
			fatal("unknown scenario " + sc)
		}
		for _, c := range targets {
			c.Stdout, c.Stderr = io.Discard, io.Discard
			check(c.Start())
		}
		r := measure(bin, sel, *d, *hz, *interval, filepath.Join(tmp, "store-"+sc), churn)
		for _, c := range targets {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		n := len(targets)
		if n == 0 {
			n = 200 * int(d.Minutes())
		}
		fmt.Printf("| %s | %d | %.2f%% | %.1f / %.1f MB | %.3f%% | %d | %.1f MB | %.1f KB |\n",
			sc, n, r.cpuPct, r.rssMean/1e6, r.rssMax/1e6, r.bpfPct, r.windows, r.storePerTargetHour/1e6, r.pushPerWindow/1e3)
	}
}

type result struct {
	cpuPct, rssMean, rssMax, bpfPct float64
	windows                         int
	storePerTargetHour              float64
	pushPerWindow                   float64
}

// measure runs the agent for d and samples its CPU, RSS and BPF time.
func measure(bin string, sel []string, d time.Duration, hz int, interval time.Duration, dir string, churn func(context.Context)) result {
	addr := freeAddr()
	args := append([]string{"agent", "--store", dir, "--hz", strconv.Itoa(hz), "--interval", interval.String(), "--metrics-addr", addr, "--max-cpu", "0", "-q"}, sel...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	ctx, cancel := context.WithCancel(context.Background())
	if churn != nil {
		go churn(ctx)
	}
	// Warm up one window, then measure.
	time.Sleep(interval + 2*time.Second)
	cpu0, bpf0 := cpuOf(cmd.Process.Pid), bpfSeconds(addr)
	start := time.Now()
	var rss []float64
	for time.Since(start) < d {
		time.Sleep(5 * time.Second)
		rss = append(rss, rssOf(cmd.Process.Pid))
	}
	el := time.Since(start)
	cpu1, bpf1 := cpuOf(cmd.Process.Pid), bpfSeconds(addr)
	cancel()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	r := result{cpuPct: 100 * (cpu1 - cpu0).Seconds() / el.Seconds(), bpfPct: 100 * (bpf1 - bpf0) / el.Seconds()}
	for _, v := range rss {
		r.rssMean += v / float64(len(rss))
		r.rssMax = max(r.rssMax, v)
	}
	s, err := store.OpenReadOnly(dir)
	check(err)
	ws, err := s.List(store.Query{Labels: true, From: time.Unix(0, 0), To: time.Now().Add(time.Hour)})
	check(err)
	r.windows = len(ws)
	var bytes, secs, push float64
	var pushed int
	for i, w := range ws {
		bytes += float64(w.Bytes)
		secs += w.End.Sub(w.Start).Seconds()
		if i%10 != 0 {
			continue // one window in ten is converted, for the push size
		}
		p, _, err := s.Load(store.Query{Service: w.Service, PID: w.PID, From: w.Start, To: w.Start.Add(time.Millisecond)})
		if err != nil {
			continue
		}
		series, err := pyroscope.Series(w.Labels, p, nil)
		if err != nil {
			continue
		}
		for _, se := range series {
			for _, smp := range se.Samples {
				push += float64(len(smp.RawProfile))
			}
		}
		pushed++
	}
	if secs > 0 {
		r.storePerTargetHour = bytes / secs * 3600
	}
	if pushed > 0 {
		r.pushPerWindow = push / float64(pushed)
	}
	return r
}

// cpuOf is a process's user+system CPU time.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ = 100
}

// rssOf is a process's resident set in bytes.
func rssOf(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb * 1024
		}
	}
	return 0
}

// bpfSeconds sums perfprobe_probe_bpf_run_seconds_total from /metrics.
func bpfSeconds(addr string) float64 {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var sum float64
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "perfprobe_probe_bpf_run_seconds_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

func build(out, pkg string) {
	c := exec.Command("go", "build", "-o", out, pkg)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	check(c.Run())
}

func machine() string {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	return fmt.Sprintf("linux %s, %d CPUs", rel, runtime.NumCPU())
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "agentrig:", msg)
	os.Exit(1)
}
