package abrun

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/gate"
)

// counter is a shell snippet that increments the count in file and sets
// $n to it.
func counter(file string) string {
	return `n=$(cat ` + file + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n > ` + file + `; `
}

func TestAlternationAndWarmup(t *testing.T) {
	dir := t.TempDir()
	o := Options{Base: "echo b >> log", Head: "echo h >> log", Pairs: 4, Warmup: 2, Dir: dir}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	// two warm-up rounds, then b h | h b | b h | h b
	if got, want := strings.ReplaceAll(string(log), "\n", ""), "bhbh"+"bhhbbhhb"; got != want {
		t.Errorf("runs ran in order %s, want %s", got, want)
	}
	if len(res.Pairs) != 4 || len(res.Runs) != 12 {
		t.Fatalf("%d pairs, %d runs; want 4 and 12", len(res.Pairs), len(res.Runs))
	}
	for i, p := range res.Pairs {
		if want := Side(i % 2); p.First != want {
			t.Errorf("pair %d: %s first, want %s", i, p.First, want)
		}
		for s, set := range p.Sets {
			// one sample per metric: the warm-up runs are not in it
			w := set.Metrics[MetricWall+" s"]
			if w == nil || len(w.Samples) != 1 || w.Kind != gate.KindTime {
				t.Fatalf("pair %d %s: wall metric %+v", i, Side(s), w)
			}
			if p.Runs[s].Pair != i || p.Runs[s].Side != Side(s) || p.Runs[s].FromOutput {
				t.Errorf("pair %d %s: timing %+v", i, Side(s), p.Runs[s])
			}
		}
	}
	for i, r := range res.Runs[:4] {
		if r.Pair != -1 {
			t.Errorf("run %d: pair %d, want -1 (warm-up)", i, r.Pair)
		}
	}
	if got := res.Sets(); len(got) != 4 || got[1][Head] != res.Pairs[1].Sets[Head] {
		t.Errorf("Sets() does not hold the pairs' sets base then head")
	}
}

func TestMetricsFromOutput(t *testing.T) {
	var names []string
	o := Options{
		Base: `printf 'BenchmarkX 1 100 ns/op\n'`, Head: `printf 'BenchmarkX 1 120 ns/op\n'`, Pairs: 2,
		// a stand-in for gate.ParseData: the plumbing is what is tested
		Parse: func(name string, data []byte, into *gate.Set) (bool, error) {
			names = append(names, name)
			var v float64
			if _, err := fmtSscan(string(data), &v); err != nil {
				return false, nil
			}
			into.Add("BenchmarkX", "sec/op", gate.KindTime, false, v*1e-9, name)
			return true, nil
		},
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if want := "base run 1,head run 1,head run 2,base run 2"; strings.Join(names, ",") != want {
		t.Errorf("parsed %v, want %s", names, want)
	}
	for i, p := range res.Pairs {
		for s, want := range []float64{100e-9, 120e-9} {
			set := p.Sets[s]
			m := set.Metrics["BenchmarkX sec/op"]
			if set.Len() != 1 || m == nil || math.Abs(m.Samples[0]/want-1) > 1e-9 || !p.Runs[s].FromOutput {
				t.Errorf("pair %d %s: %v, want only BenchmarkX %g from output", i, Side(s), set, want)
			}
		}
	}
}

// fmtSscan reads the ns/op figure of a one-line benchmark output.
func fmtSscan(s string, v *float64) (int, error) {
	f := strings.Fields(s)
	if len(f) < 4 || f[3] != "ns/op" {
		return 0, errors.New("not a benchmark line")
	}
	return 1, parseFloat(f[2], v)
}

func TestGoBenchOutputThroughGate(t *testing.T) {
	o := Options{Base: `printf 'BenchmarkX-2 \t 1000\t 100 ns/op\n'`, Head: `printf 'BenchmarkX-2 \t 1000\t 120 ns/op\n'`, Pairs: 2}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range []float64{100e-9, 120e-9} {
		set := res.Pairs[0].Sets[s]
		if !res.Pairs[0].Runs[s].FromOutput || set.Len() != 1 {
			t.Fatalf("%s: gate.ParseData did not read Go benchmark text: %v", Side(s), set)
		}
		m := set.List()[0]
		if m.Unit != "sec/op" || len(m.Samples) != 1 || m.Samples[0] < want*0.999 || m.Samples[0] > want*1.001 {
			t.Errorf("%s: %s %v, want sec/op [%g]", Side(s), m.Key(), m.Samples, want)
		}
	}
}

func TestFallbackWallCPURSS(t *testing.T) {
	// Two runs: the CPU figure is checked on a command that only burns
	// CPU, since touching 50 MB costs the helper another 0.1-0.3 s of CPU
	// in page faults (more or less depending on the machine's huge pages).
	run := func(base, head string) Pair {
		res, err := Run(context.Background(), Options{Base: base, Head: head, Pairs: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.Pairs[0]
	}
	get := func(p Pair, s Side, name string) float64 {
		for _, m := range p.Sets[s].List() {
			if m.Name == name {
				return m.Samples[0]
			}
		}
		t.Fatalf("%s: no %s metric in %v", s, name, p.Sets[s])
		return 0
	}
	p := run("sleep 0.3", helperCmd(t, "burn", 200))
	if w := get(p, Base, MetricWall); w < 0.3 || w > 0.45 {
		t.Errorf("sleep 0.3: wall %.3f s, want 0.3-0.45", w)
	}
	if c := get(p, Base, MetricCPU); c > 0.05 {
		t.Errorf("sleep 0.3: cpu %.3f s, want < 0.05", c)
	}
	// 200 ms burnt by one child of sh, plus a start of the test binary
	if c := get(p, Head, MetricCPU); c < 0.2*0.7 || c > 0.2*1.3 {
		t.Errorf("burning 0.2 s of CPU: cpu %.3f s, want 0.2 ±30%%", c)
	}
	if p.Sets[Head].Metrics[MetricCPU+" s"].Kind != gate.KindCPU {
		t.Errorf("kinds: %v", p.Sets[Head])
	}
	p = run("true", helperCmd(t, "alloc", 50))
	if r := get(p, Head, MetricMaxRSS); r < 50<<20 || r > 150<<20 {
		t.Errorf("touching 50 MB: max-rss %.1f MB, want 50-150 MB", r/(1<<20))
	}
	if p.Sets[Head].Metrics[MetricMaxRSS+" B"].Kind != gate.KindMemory {
		t.Errorf("kinds: %v", p.Sets[Head])
	}
}

func TestFailureKeepsPairs(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		Base:  "true",
		Head:  counter("c") + `echo "run $n" >&2; if [ $n -ge 3 ]; then echo first >&2; echo disk full >&2; echo giving up >&2; exit 3; fi`,
		Pairs: 5, Dir: dir,
	}
	res, err := Run(context.Background(), o)
	want := "head failed in pair 3: exit status 3: "
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q, want one line containing %q", err, want)
	}
	if !strings.HasSuffix(err.Error(), "first | disk full | giving up") {
		t.Errorf("error %q: want the last 3 stderr lines", err)
	}
	if len(res.Pairs) != 2 || len(res.Runs) != 6 || res.Runs[5].ExitCode != 3 {
		t.Errorf("%d pairs and %d runs kept (last exit %d), want 2, 6 and 3", len(res.Pairs), len(res.Runs), res.Runs[len(res.Runs)-1].ExitCode)
	}
}

func TestCancelKillsGroupKeepsPairs(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		Base:  "true",
		Head:  counter("c") + `if [ $n -ge 3 ]; then sleep 30 & echo $! > sleeper; wait; fi`,
		Pairs: 5, Dir: dir,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if b, err := os.ReadFile(filepath.Join(dir, "sleeper")); err == nil && len(b) > 0 {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	res, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted in head's pair 3") {
		t.Fatalf("error %v, want an interruption in head's pair 3", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned %s after the start, want < 5 s", d)
	}
	if len(res.Pairs) != 2 {
		t.Errorf("%d pairs kept, want 2", len(res.Pairs))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sleeper"))
	pid := strings.TrimSpace(string(b))
	time.Sleep(100 * time.Millisecond)
	if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("sleep 30 (pid %s), in the killed group, still runs: %s", pid, st)
	}
}

func TestTimeout(t *testing.T) {
	start := time.Now()
	_, err := Run(context.Background(), Options{Base: "sleep 5", Head: "true", Pairs: 1, Timeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "base failed in pair 1: timed out after 200ms") {
		t.Errorf("error %v, want a timeout of base in pair 1", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a 200ms timeout returned after %s", d)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []Options{{Base: "true"}, {Base: "true", Head: "true", Pairs: -1}, {Base: "true", Head: "true", Warmup: -1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func parseFloat(s string, v *float64) error {
	var err error
	*v, err = strconv.ParseFloat(s, 64)
	return err
}

// The floor of MaxRSS is the runner's own peak: a command of a few
// megabytes reads as the runner's size, never less, and gets no max-rss.
func TestRSSFloor(t *testing.T) {
	res, err := Run(context.Background(), Options{Base: "true", Head: "true", Pairs: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Pairs[0].Runs[Base]
	if m := res.Pairs[0].Sets[Base].Metrics[MetricMaxRSS+" B"]; m != nil {
		t.Errorf("true: a max-rss metric %v at the floor %d B", m.Samples, r.RSSFloor)
	}
	if r.RSSFloor < 1<<20 || r.MaxRSS < r.RSSFloor*9/10 || r.MaxRSS > r.RSSFloor+4<<20 {
		t.Errorf("true: max-rss %d B, floor %d B; want the floor (> 1 MB) and max-rss within -10%%/+4 MB of it", r.MaxRSS, r.RSSFloor)
	}
}
