package cputhrottling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/cputhrottling"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// capture is a 3 s capture of one Go target with GOMAXPROCS gomax in a
// cgroup cg.
func capture(cg *profile.CgroupCPU, gomax int) *profile.Capture {
	c := plugintest.Capture(3*time.Second, "cpu", "sched")
	c.Targets = []profile.Target{{PID: 42, Comm: "api", Meta: &profile.TargetMeta{Language: "go", GoVersion: "go1.24.3", GOMAXPROCS: gomax, GOMAXPROCSFrom: "default", CPUs: 8, Cgroup: cg}}}
	return c
}

// A Go service with GOMAXPROCS 8 under a 2-CPU quota, throttled in 27 of
// 30 periods: critical, with the figures, GOMAXPROCS named and the advice
// to lower it.
func TestThrottled(t *testing.T) {
	cg := &profile.CgroupCPU{Path: "/sys/fs/cgroup/kubepods/pod1", Version: 2, QuotaCPUs: 2, PeriodUs: 100000,
		Periods: 30, Throttled: 27, ThrottledNs: 2400e6, UsageNs: 5900e6}
	st, fs := plugintest.Run(t, "cpu-throttling", &plugins.Evidence{Capture: capture(cg, 8)})
	if st.Status != plugins.StatusOK || len(fs) != 1 {
		t.Fatalf("status %+v, findings %+v", st, fs)
	}
	f := fs[0]
	if f.Severity != plugins.Critical || f.Share != 0.9 || f.Category != "cpu-throttling" {
		t.Errorf("severity %s share %v category %s, want critical 0.9 cpu-throttling", f.Severity, f.Share, f.Category)
	}
	for name, want := range map[string]float64{"throttled_share": 90, "throttled_periods": 27, "throttled_ns": 2400e6, "quota_cpus": 2, "gomaxprocs": 8} {
		if got := plugintest.Figure(t, f, name); got != want {
			t.Errorf("figure %s = %v, want %v", name, got, want)
		}
	}
	if used := plugintest.Figure(t, f, "used_cpus"); used < 1.96 || used > 1.97 {
		t.Errorf("used %.3f CPUs, want 5.9 s / 3 s = 1.97", used)
	}
	for _, s := range []string{"27 of 30 periods", "GOMAXPROCS 8", "2.40 s"} {
		if !strings.Contains(f.Detail, s) {
			t.Errorf("detail %q lacks %q", f.Detail, s)
		}
	}
	if !strings.Contains(f.Advice, "Set GOMAXPROCS to 2") || f.Confidence.Level != "high" {
		t.Errorf("advice %q confidence %s", f.Advice, f.Confidence.Level)
	}
}

// Gates and absent evidence: a little throttling is no warning, no quota
// or no periods is no finding, no cgroup read is not applicable.
func TestThrottlingGates(t *testing.T) {
	for _, c := range []struct {
		name string
		cg   *profile.CgroupCPU
		want string // "", "info", "warning", ...
	}{
		{"1 of 30 periods for 10 ms", &profile.CgroupCPU{Path: "/a", QuotaCPUs: 1, PeriodUs: 100000, Periods: 30, Throttled: 1, ThrottledNs: 10e6}, ""},
		{"6 of 30 periods for 60 ms", &profile.CgroupCPU{Path: "/a", QuotaCPUs: 1, PeriodUs: 100000, Periods: 30, Throttled: 6, ThrottledNs: 60e6}, "info"},
		{"6 of 30 periods for 300 ms", &profile.CgroupCPU{Path: "/a", QuotaCPUs: 1, PeriodUs: 100000, Periods: 30, Throttled: 6, ThrottledNs: 300e6}, "warning"},
		{"no quota", &profile.CgroupCPU{Path: "/a", Periods: 0}, ""},
		{"quota, idle", &profile.CgroupCPU{Path: "/a", QuotaCPUs: 1, PeriodUs: 100000, Periods: 0}, ""},
	} {
		st, fs := plugintest.Run(t, "cpu-throttling", &plugins.Evidence{Capture: capture(c.cg, 0)})
		got := ""
		if len(fs) > 0 {
			got = fs[0].Severity.String()
		}
		if got != c.want || st.Status != plugins.StatusOK {
			t.Errorf("%s: %q (%s), want %q", c.name, got, st.Status, c.want)
		}
	}
	st, _ := plugintest.Run(t, "cpu-throttling", &plugins.Evidence{Capture: capture(nil, 4)})
	if st.Status != plugins.StatusNotApplicable || st.Reason != "no cgroup CPU accounting of the target in this capture" {
		t.Errorf("without a cgroup: %+v", st)
	}
}
