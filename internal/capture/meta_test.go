package capture

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/profile"
)

// fakeRoot writes files (path relative to the root → content) under a
// new directory and returns it; a content starting with "->" makes a
// symlink to the rest.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hybridMountinfo is this project's CI hosts' layout: v1 controllers,
// cpu and cpuacct mounted apart, and a v2 tree at unified.
const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// A Go process in a v1 cpu cgroup with half a CPU: language and version
// from the executable's build info, CPUs from its affinity list, the
// quota, the counters' deltas over the window (throttled_time in ns, usage
// from cpuacct), and GOMAXPROCS as the Go 1.25+ runtime defaults it.
func TestMetaV1(t *testing.T) {
	exe, err := os.Executable() // this test binary: a Go program
	if err != nil {
		t.Fatal(err)
	}
	root := fakeRoot(t, map[string]string{
		"proc/self/mountinfo":                     hybridMountinfo,
		"proc/123/status":                         "Name:\tsvc\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\n",
		"proc/123/cgroup":                         "4:memory:/svc\n2:cpuacct:/svc\n1:cpu:/svc\n0::/\n",
		"proc/123/environ":                        "PATH=/bin\x00HOME=/root\x00",
		"proc/123/exe":                            "->" + exe,
		"sys/fs/cgroup/cpu/cpu.cfs_quota_us":      "-1\n",
		"sys/fs/cgroup/cpu/cpu.cfs_period_us":     "100000\n",
		"sys/fs/cgroup/cpu/svc/cpu.cfs_quota_us":  "50000\n",
		"sys/fs/cgroup/cpu/svc/cpu.cfs_period_us": "100000\n",
		"sys/fs/cgroup/cpu/svc/cpu.stat":          "nr_periods 100\nnr_throttled 10\nthrottled_time 5000000\nnr_bursts 0\nburst_time 0\n",
		"sys/fs/cgroup/cpuacct/svc/cpuacct.usage": "7000000000\n",
	})
	ms := newMetas(root)
	ms.track(123)
	write(t, root, "sys/fs/cgroup/cpu/svc/cpu.stat", "nr_periods 120\nnr_throttled 25\nthrottled_time 905000000\nnr_bursts 0\nburst_time 0\n")
	write(t, root, "sys/fs/cgroup/cpuacct/svc/cpuacct.usage", "8000000000\n")
	c := &profile.Capture{Targets: []profile.Target{{PID: 123}, {PID: 456}}}
	ms.fill(c)
	m := c.Targets[0].Meta
	if m == nil || c.Target.Meta != m || c.Targets[1].Meta != nil {
		t.Fatalf("metas %+v (first target's copy %+v)", c.Targets, c.Target.Meta)
	}
	if m.Language != "go" || m.GoVersion != runtime.Version() || m.CPUs != 4 {
		t.Errorf("language %q %q, cpus %d; want go %s, 4", m.Language, m.GoVersion, m.CPUs, runtime.Version())
	}
	if m.GOMAXPROCS != 2 || m.GOMAXPROCSFrom != "default" {
		t.Errorf("GOMAXPROCS %d from %q, want 2 (a quota of 0.5 CPU, raised to 2) from default", m.GOMAXPROCS, m.GOMAXPROCSFrom)
	}
	want := profile.CgroupCPU{Path: "/sys/fs/cgroup/cpu/svc", Version: 1, QuotaCPUs: 0.5, PeriodUs: 100000,
		Periods: 20, Throttled: 15, ThrottledNs: 900e6, UsageNs: 1e9}
	if *m.Cgroup != want {
		t.Errorf("cgroup\n%+v, want\n%+v", *m.Cgroup, want)
	}
	// The next window (Drain) starts where this one ended.
	write(t, root, "sys/fs/cgroup/cpu/svc/cpu.stat", "nr_periods 130\nnr_throttled 26\nthrottled_time 915000000\n")
	c2 := &profile.Capture{Targets: []profile.Target{{PID: 123}}}
	ms.fill(c2)
	if cg := c2.Targets[0].Meta.Cgroup; cg.Periods != 10 || cg.Throttled != 1 || cg.ThrottledNs != 10e6 || cg.UsageNs != 0 {
		t.Errorf("second window %+v, want 10 periods, 1 throttled for 10 ms, no usage", *cg)
	}
}

// A process in a pure v2 tree whose parent cgroup holds the quota: that
// cgroup is the one read; GOMAXPROCS from the environment; a sparse
// affinity list.
func TestMetaV2Ancestor(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := fakeRoot(t, map[string]string{
		"proc/self/mountinfo":                      "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
		"proc/7/status":                            "Cpus_allowed_list:\t0-1,4,6-7\n",
		"proc/7/cgroup":                            "0::/kubepods/pod1/ctr\n",
		"proc/7/environ":                           "GOMAXPROCS=3\x00",
		"proc/7/exe":                               "->" + exe,
		"sys/fs/cgroup/kubepods/pod1/cpu.max":      "150000 100000\n",
		"sys/fs/cgroup/kubepods/pod1/cpu.stat":     "usage_usec 1000\nnr_periods 5\nnr_throttled 2\nthrottled_usec 300\n",
		"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max":  "max 100000\n",
		"sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat": "usage_usec 900\n",
	})
	ms := newMetas(root)
	ms.track(7)
	write(t, root, "sys/fs/cgroup/kubepods/pod1/cpu.stat", "usage_usec 3000\nnr_periods 25\nnr_throttled 12\nthrottled_usec 40300\n")
	c := &profile.Capture{Targets: []profile.Target{{PID: 7}}}
	ms.fill(c)
	m := c.Targets[0].Meta
	want := profile.CgroupCPU{Path: "/sys/fs/cgroup/kubepods/pod1", Version: 2, QuotaCPUs: 1.5, PeriodUs: 100000,
		Periods: 20, Throttled: 10, ThrottledNs: 40e6, UsageNs: 2e6}
	if m.Cgroup == nil || *m.Cgroup != want {
		t.Fatalf("cgroup %+v, want %+v", m.Cgroup, want)
	}
	if m.CPUs != 5 || m.GOMAXPROCS != 3 || m.GOMAXPROCSFrom != "env" {
		t.Errorf("cpus %d GOMAXPROCS %d from %q, want 5, 3 from env", m.CPUs, m.GOMAXPROCS, m.GOMAXPROCSFrom)
	}
}

// No cgroup CPU controller: no Cgroup, and a Go target's GOMAXPROCS is
// its CPUs. A C program's language comes from its ELF file; an
// interpreter's from its name.
func TestMetaNoCgroup(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"proc/self/mountinfo": "22 1 0:21 / /proc rw - proc proc rw\n",
		"proc/1/status":       "Cpus_allowed_list:\t0-7\n",
		"proc/1/cgroup":       "0::/\n",
		"proc/1/exe":          "->" + exe,
		"proc/2/status":       "Cpus_allowed_list:\t0\n",
		"proc/2/cgroup":       "0::/\n",
		"proc/2/exe":          "->/usr/bin/python3.12",
	}
	sh, shErr := filepath.EvalSymlinks("/bin/sh")
	if shErr == nil {
		files["proc/3/status"], files["proc/3/cgroup"], files["proc/3/exe"] = "Cpus_allowed_list:\t0-1\n", "0::/\n", "->"+sh
	}
	root := fakeRoot(t, files)
	ms := newMetas(root)
	c := &profile.Capture{Targets: []profile.Target{{PID: 1}, {PID: 2}, {PID: 3}}}
	for _, tg := range c.Targets {
		ms.track(tg.PID)
	}
	ms.fill(c)
	if m := c.Targets[0].Meta; m.Cgroup != nil || m.GOMAXPROCS != 8 || m.GOMAXPROCSFrom != "default" || m.Language != "go" {
		t.Errorf("go target %+v, want no cgroup and GOMAXPROCS 8 by default", m)
	}
	if m := c.Targets[1].Meta; m.Language != "python" || m.GOMAXPROCS != 0 || m.CPUs != 1 {
		t.Errorf("python target %+v", m)
	}
	if shErr == nil {
		if m := c.Targets[2].Meta; m.Language != "c" {
			t.Errorf("%s: language %q, want c", sh, m.Language)
		}
	}
}

func TestMetaParsers(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-3": 4, "0-1,4,6-7": 5, "": 0, "0-3,x": 4} {
		if got := countCPUList(list); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", list, got, want)
		}
	}
	for v, want := range map[string]bool{"go1.25.0": true, "go1.24.9": false, "go1.26rc1": true, "devel go1.25-abc": true, "go1.9": false, "": false} {
		if got := goAtLeast(v, 1, 25); got != want {
			t.Errorf("goAtLeast(%q, 1.25) = %v", v, got)
		}
	}
	if !containerMaxprocsOff("containermaxprocs=0,x=1", "") || containerMaxprocsOff("containermaxprocs=0", "containermaxprocs=1") || containerMaxprocsOff("", "") {
		t.Error("containermaxprocs: the build's default, overridden by the environment")
	}
	if got := unescapeMount(`/a\040b`); got != "/a b" {
		t.Errorf("unescapeMount: %q", got)
	}
}

// A spinner in a real cgroup limited to 0.2 CPU: the quota is read, and
// the kernel throttles it in most periods of a 1.5 s window.
func TestMetaThrottledSpinner(t *testing.T) {
	p := testtarget.Start(t, testtarget.Build(t, "spinner"), "-threads", "1")
	dir := testtarget.LimitCPU(t, p.PID, 0.2)
	ms := newMetas("/")
	ms.track(p.PID)
	time.Sleep(1500 * time.Millisecond)
	c := &profile.Capture{Targets: []profile.Target{{PID: p.PID}}}
	ms.fill(c)
	for _, w := range c.Warnings {
		t.Errorf("warning: %s", w)
	}
	m := c.Targets[0].Meta
	if m == nil || m.Cgroup == nil {
		t.Fatalf("no cgroup read for pid %d in %s: %+v", p.PID, dir, m)
	}
	cg := m.Cgroup
	t.Logf("%+v", *cg)
	if cg.Path != dir || cg.QuotaCPUs != 0.2 || cg.PeriodUs != 100000 {
		t.Errorf("cgroup %s quota %.2f CPUs per %d µs, want %s 0.2 per 100000", cg.Path, cg.QuotaCPUs, cg.PeriodUs, dir)
	}
	// 15 periods of 100 ms; a spinner that wants a whole CPU is throttled
	// in each once its 20 ms are used, for ~80 ms.
	if cg.Periods < 12 || cg.Periods > 17 || cg.Throttled < cg.Periods*8/10 {
		t.Errorf("%d periods, %d throttled; want ~15, most throttled", cg.Periods, cg.Throttled)
	}
	// The kernel sums the throttled time of each CPU's run queue of the
	// cgroup: ~1.2 s on the spinner's CPU, up to as much on each other
	// CPU one of its runtime threads was queued on. On a loaded machine
	// the spinner gets its 20 ms later in a period and is throttled for
	// less of it (0.98 s seen): at least 40 ms per throttled period.
	minNs := uint64(cg.Throttled) * 40e6
	if maxNs := uint64(runtime.NumCPU()) * 1300e6; cg.ThrottledNs < minNs || cg.ThrottledNs < 400e6 || cg.ThrottledNs > maxNs {
		t.Errorf("throttled %v in %d periods, want %v to %v (~80%% of 1.5 s per CPU)", time.Duration(cg.ThrottledNs), cg.Throttled, time.Duration(max(minNs, 400e6)), time.Duration(maxNs))
	}
	if cg.UsageNs < 240e6 || cg.UsageNs > 360e6 {
		t.Errorf("usage %v, want ~300 ms (0.2 CPU over 1.5 s)", time.Duration(cg.UsageNs))
	}
	if m.Language != "go" || m.GOMAXPROCS != 2 {
		t.Errorf("language %q GOMAXPROCS %d, want go and 2 (ceil(0.2) raised to 2)", m.Language, m.GOMAXPROCS)
	}
}
