package cpusaturation_test

import (
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/cpusaturation"
	"github.com/perfprobe/perfprobe/profile"
)

// waits is a run-queue histogram of n waits of ns each.
type waits struct{ n, ns uint64 }

// capture is a hand-made capture of window: threads' on-CPU and
// run-queue ns, the run-queue histogram from waits, and involuntary
// switches.
func capture(window time.Duration, threads [][2]uint64, ws []waits, involuntary uint64) *profile.Capture {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &profile.Capture{
		Start:      start,
		End:        start.Add(window),
		Histograms: map[string]*profile.Histogram{},
		Threads:    map[uint32]*profile.Thread{},
		Counts:     map[string]uint64{"involuntary_switches": involuntary},
	}
	for i, th := range threads {
		c.Threads[uint32(100+i)] = &profile.Thread{TID: uint32(100 + i), OnCPUNs: th[0], RunqueueNs: th[1]}
	}
	if ws != nil {
		h := &profile.Histogram{}
		for _, w := range ws {
			for range w.n {
				h.Record(w.ns)
			}
		}
		c.Histograms["runqueue"] = h
	}
	return c
}

// stacksProfile is a pprof profile with one sample per stack (leaf first,
// ";"-separated) of the given type and value.
func stacksProfile(typ string, stacks map[string]int64) *pprof.Profile {
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "samples", Unit: "count"}}}
	for _, t := range []string{profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeOffCPURunqueue} {
		p.SampleType = append(p.SampleType, &pprof.ValueType{Type: t, Unit: "nanoseconds"})
	}
	idx := profile.ValueIndex(p, typ)
	funcs := map[string]*pprof.Function{}
	for stack, v := range stacks {
		s := &pprof.Sample{Value: make([]int64, len(p.SampleType))}
		s.Value[idx] = v
		for _, name := range strings.Split(stack, ";") {
			f := funcs[name]
			if f == nil {
				f = &pprof.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			l := &pprof.Location{ID: uint64(len(p.Location) + 1), Line: []pprof.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			s.Location = append(s.Location, l)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// Two threads that wanted 1 s of CPU and waited 250 ms of it: a warning
// with the figures that prove it and the stacks that waited most.
func TestDiagnoseSaturation(t *testing.T) {
	c := capture(time.Second, [][2]uint64{{600e6, 200e6}, {150e6, 50e6}}, []waits{{900, 50_000}, {100, 2_000_000}}, 1234)
	p := stacksProfile(profile.TypeOffCPURunqueue, map[string]int64{
		"main.a;main.main": 120e6, "main.b;main.main": 80e6, "main.c;main.main": 40e6, "main.d;main.main": 10e6,
	})
	// On-CPU samples are not run-queue evidence.
	for _, s := range stacksProfile(profile.TypeOnCPU, map[string]int64{"main.hot;main.main": 900e6}).Sample {
		p.Sample = append(p.Sample, s)
	}
	fs := plugins.Run(&plugins.Evidence{Capture: c, Profile: p}).Findings
	var f *plugins.Finding
	for i := range fs {
		if fs[i].Plugin == "cpu-saturation" {
			f = &fs[i]
		}
	}
	if f == nil {
		t.Fatalf("no runqueue finding in %+v", fs)
	}
	if f.Severity != plugins.Warning || f.Share != 0.25 {
		t.Errorf("severity %v, share %v; want warning, 0.25 (250 ms of 1 s wanted)", f.Severity, f.Share)
	}
	h := c.Histograms["runqueue"]
	want := map[string]float64{
		"runqueue_ns": 250e6, "oncpu_ns": 750e6, "max_ns": 2e6, "involuntary_switches": 1234,
		"p50_ns": float64(h.Percentile(0.5)), "p99_ns": float64(h.Percentile(0.99)),
	}
	for k, v := range want {
		if got, _ := f.Figure(k); got != v {
			t.Errorf("figure %s = %v, want %v", k, got, v)
		}
	}
	// The percentiles themselves: 90% of waits at 50 µs, 10% at 2 ms.
	if p50, _ := f.Figure("p50_ns"); p50 < 40e3 || p50 > 62.5e3 {
		t.Errorf("p50 %v ns, want ~50 µs (its slot)", p50)
	}
	if p99, _ := f.Figure("p99_ns"); p99 < 1.6e6 || p99 > 2e6 {
		t.Errorf("p99 %v ns, want ~2 ms (its slot, capped at the max)", p99)
	}
	for _, s := range []string{"waited 250ms", "25% of the time", "(750ms on CPU)", "max 2ms over 1000 waits"} {
		if !strings.Contains(f.Detail, s) {
			t.Errorf("detail %q lacks %q", f.Detail, s)
		}
	}
	gotStacks := make([]string, len(f.Stacks))
	for i, st := range f.Stacks {
		gotStacks[i] = strings.Join(st, ";")
	}
	if strings.Join(gotStacks, " ") != "main.a;main.main main.b;main.main main.c;main.main" {
		t.Errorf("stacks %q, want the three that waited most, most first", gotStacks)
	}
	if f.Advice == "" || f.Title == "" {
		t.Errorf("finding without title or advice: %+v", f)
	}
}

// withCPUs gives c one target that may run on n CPUs.
func withCPUs(c *profile.Capture, n int) *profile.Capture {
	c.Targets = []profile.Target{{PID: 1, Meta: &profile.TargetMeta{CPUs: n}}}
	return c
}

// Where the threshold lies: shares of wanted CPU time, and long waits,
// which count only with enough of them (absolute evidence as well as a
// share, so a healthy program gets no warning).
func TestDiagnoseThresholds(t *testing.T) {
	short := []waits{{1000, 20_000}}   // 20 µs each: a wakeup's usual latency
	long := []waits{{1000, 1_000_000}} // 1 ms each: a CPU that is not there
	for _, c := range []struct {
		name     string
		capture  *profile.Capture
		severity plugins.Severity
		none     bool
	}{
		{"healthy: 4% waiting, short waits", capture(time.Second, [][2]uint64{{960e6, 40e6}}, short, 10), 0, true},
		{"10% waiting", capture(time.Second, [][2]uint64{{900e6, 100e6}}, long, 0), plugins.Warning, false},
		{"29% waiting", capture(time.Second, [][2]uint64{{710e6, 290e6}}, long, 0), plugins.Warning, false},
		{"30% waiting", capture(time.Second, [][2]uint64{{700e6, 300e6}}, long, 0), plugins.Critical, false},
		{"1% waiting, 200 waits of 20 ms", capture(200*time.Second, [][2]uint64{{396e9, 4e9}}, []waits{{800, 10_000}, {200, 20e6}}, 0), plugins.Warning, false},
		{"1% waiting, a few long waits", capture(100*time.Second, [][2]uint64{{99e9, 1e9}}, []waits{{50, 20e6}}, 0), 0, true},
		{"no run-queue histogram (sched not attached)", capture(time.Second, [][2]uint64{{5e8, 5e8}}, nil, 0), 0, true},
		{"waits but no thread accounting", capture(time.Second, nil, short, 0), 0, true},
		// The issue that made the gates: a short busy shell that waited
		// 4 ms of the 8 ms it ran.
		{"a shell: 4 ms waiting of 8 ms", capture(1200*time.Millisecond, [][2]uint64{{4e6, 4e6}}, []waits{{40, 100_000}}, 3), 0, true},
		{"half the time waiting, 300 ms window", capture(300*time.Millisecond, [][2]uint64{{150e6, 150e6}}, long, 0), plugins.Info, false},
		// Many short waits add up: a 20 req/s HTTPS service as measured.
		{"5,000 waits of 33 µs", withCPUs(capture(3*time.Second, [][2]uint64{{182e6, 165e6}}, []waits{{5000, 33_000}}, 40), 2), 0, true},
		{"30% waiting, 150 ms of 10 s on 2 CPUs", withCPUs(capture(10*time.Second, [][2]uint64{{350e6, 150e6}}, long, 0), 2), 0, true},
		{"30% waiting, 300 ms of 10 s on 2 CPUs", withCPUs(capture(10*time.Second, [][2]uint64{{700e6, 300e6}}, long, 0), 2), plugins.Info, false},
		{"30% waiting, 600 ms of 10 s on 2 CPUs", withCPUs(capture(10*time.Second, [][2]uint64{{1400e6, 600e6}}, long, 0), 2), plugins.Critical, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []plugins.Finding
			for _, f := range plugins.Run(&plugins.Evidence{Capture: c.capture}).Findings {
				if f.Plugin == "cpu-saturation" {
					got = append(got, f)
				}
			}
			if c.none {
				if len(got) != 0 {
					t.Errorf("findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != c.severity {
				t.Errorf("findings %+v, want one %v", got, c.severity)
			}
		})
	}
}
