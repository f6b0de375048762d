package external

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

// pluginDir is a fresh directory that any user may search and read: as
// root, the test plugins run as nobody or as SUDO_UID.
func pluginDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// script writes an executable shell script perfprobe-plugin-<name> into
// dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, Prefix+name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// sudo sets SUDO_UID and SUDO_GID for the test; "" unsets them.
func sudo(t *testing.T, uid, gid string) {
	t.Helper()
	for k, v := range map[string]string{"SUDO_UID": uid, "SUDO_GID": gid} {
		t.Setenv(k, v) // restores the old value at the end
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

// cpuProfile builds a profile of on-CPU time with one sample per stack
// (leaf first, ";"-separated), 10 ms a sample.
func cpuProfile(byStack map[string]int64) *pprof.Profile {
	p := plugintest.Profile([]string{profile.TypeOnCPU}, plugintest.Stacks(profile.TypeOnCPU, byStack)...)
	p.DurationNanos = int64(2 * time.Second)
	return p
}

// spinEvidence is 1 s of on-CPU time over a 2 s capture: main.spin 60%
// flat, hashing 25% (inclusive, from main.checksum), allocation 15%; its
// profile is written to dir/profile.pb.gz (mode 0644).
func spinEvidence(t *testing.T, dir string) *plugins.Evidence {
	t.Helper()
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ev := &plugins.Evidence{
		Capture: &profile.Capture{
			Targets: []profile.Target{{PID: 4711, Comm: "spinner", Exe: "/usr/local/bin/spinner", Meta: &profile.TargetMeta{Language: "go", GoVersion: "go1.26.8", GOMAXPROCS: 2, GOMAXPROCSFrom: "default", CPUs: 2}}},
			Start:   start, End: start.Add(2 * time.Second),
			Probes: []string{"cpu", "sched"}, Hz: 99,
			Histograms: map[string]*profile.Histogram{"runqueue": {}},
			Counts:     map[string]uint64{"oncpu_samples": 100, "wakeups": 3000},
			Drops:      map[string]uint64{"cpu_user_stack": 2},
		},
		Profile: cpuProfile(map[string]int64{
			"main.spin;main.work;main.main":                                     600e6,
			"crypto/sha256.block;main.checksum;main.work;main.main":             250e6,
			"runtime.mallocgc;runtime.newobject;main.alloc;main.work;main.main": 150e6,
		}),
		Source: "test capture",
	}
	h := ev.Capture.Histograms["runqueue"]
	for range 99 {
		h.Record(1e6) // 1 ms
	}
	h.Record(50e6) // one 50 ms wait
	if dir != "" {
		ev.ProfilePath = filepath.Join(dir, "profile.pb.gz")
		f, err := os.OpenFile(ev.ProfilePath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.Profile.Write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return ev
}

// status finds a plugin's status in rep.
func status(t *testing.T, rep *plugins.Report, name string) plugins.PluginStatus {
	t.Helper()
	for _, st := range rep.Plugins {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for plugin %s in %+v", name, rep.Plugins)
	return plugins.PluginStatus{}
}

func emptyReport() *plugins.Report {
	return &plugins.Report{Schema: plugins.ReportSchema, Findings: []plugins.Finding{}, SLOs: []plugins.SLOResult{}}
}
