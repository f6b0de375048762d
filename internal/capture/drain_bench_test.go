package capture_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// benchWindow is how long each window of BenchmarkDrain runs (not timed).
const benchWindow = 100 * time.Millisecond

// BenchmarkDrain measures one switch of rolling windows for 1, 20 and 200
// processes (sleepers, each thread waking every 10 ms) in one session with
// cpu, iostall and sched (tls finds no TLS code in them): "probes" is
// probes.Session.Drain, the hand-over from the kernel; "result" is
// capture.Session.Drain, which also symbolizes, builds the pprof profile
// and diagnoses. Each op drains a window of benchWindow. Besides time and
// Go allocations it reports the window's threads and stacks and the
// kernel memory of the session's BPF maps after the drain (map-MiB, the
// maps' memlock as the kernel reports it).
func BenchmarkDrain(b *testing.B) {
	bpftest.Require(b)
	bin := testtarget.Build(b, "sleeper")
	for _, n := range []int{1, 20, 200} {
		b.Run(fmt.Sprintf("procs=%d", n), func(b *testing.B) {
			var ts []*probes.Target
			for range n {
				p := testtarget.Start(b, bin, "-interval", "10ms")
				tg, err := probes.OpenTarget(p.PID)
				if err != nil {
					b.Fatal(err)
				}
				defer tg.Close()
				ts = append(ts, tg)
			}
			s, err := capture.StartTargets(ts, capture.FromConfig(probes.Config{Probes: []string{"cpu", "iostall", "sched"}}))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for _, level := range []string{"probes", "result"} {
				b.Run(level, func(b *testing.B) {
					var c *profile.Capture
					b.ReportAllocs()
					for range b.N {
						b.StopTimer()
						time.Sleep(benchWindow)
						b.StartTimer()
						if level == "probes" {
							c, err = s.Probes().Drain()
						} else {
							var r *capture.Result
							r, err = s.Drain()
							if r != nil {
								c = r.Capture
							}
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(len(c.Threads)), "threads")
					b.ReportMetric(float64(len(c.Stacks)), "stacks")
					b.ReportMetric(float64(mapBytes(b))/(1<<20), "map-MiB")
				})
			}
		})
	}
}

// mapBytes sums the memlock of the BPF maps this process holds open, from
// /proc/self/fdinfo.
func mapBytes(b *testing.B) uint64 {
	fds, err := filepath.Glob("/proc/self/fdinfo/*")
	if err != nil {
		b.Fatal(err)
	}
	var total uint64
	for _, fd := range fds {
		f, err := os.Open(fd)
		if err != nil {
			continue
		}
		var isMap bool
		var memlock uint64
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "map_type":
				isMap = true
			case "memlock":
				memlock, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
		f.Close()
		if isMap {
			total += memlock
		}
	}
	return total
}
