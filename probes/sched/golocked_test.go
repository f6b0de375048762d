package sched_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/sched"
	"github.com/perfprobe/perfprobe/profile"
)

// A goroutine locked to its thread sleeps in time.Sleep (main.sleepLocked)
// while another spins: its thread waits on the g0 stack in
// runtime.stoplockedm, and the probe attributes that wait to the locked
// goroutine's stack. main.sleepLocked holds >= 80% of the locked thread's
// blocked time, no more than 20% of it is filed as idle Go runtime
// threads, and the summary names main.sleepLocked among the program's
// waits. Built with DWARF (offsets from it) and without (-ldflags=-w:
// offsets from the table for this Go version), and linked by gcc, which
// puts the current g in the executable's TLS block, as cgo programs have
// it; and with the stack interval attach uses.
func TestLockedGoroutineSleep(t *testing.T) {
	bpftest.Require(t)
	for _, build := range []struct {
		name     string
		flags    []string
		interval time.Duration
	}{
		{"dwarf", nil, 0},
		{"table", []string{"-ldflags=-w"}, 0},
		{"external", []string{"-ldflags=-linkmode=external"}, 0}, // g in the ELF TLS block (runtime.tlsg), as with cgo
		{"interval10ms", nil, probes.DefaultStackInterval},       // as attach walks stacks: most switch-outs reuse the last ones
	} {
		t.Run(build.name, func(t *testing.T) {
			bin := testtarget.Build(t, "lockedsleep", build.flags...)
			p := testtarget.Start(t, bin, "-interval", "5ms")
			r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}, StackInterval: build.interval}, 2*time.Second)
			tid := uint32(p.TID)
			for _, w := range r.Capture.Warnings {
				t.Logf("capture warning: %s", w)
			}

			share, matched, total := r.Share(profile.TypeOffCPUBlocked, "main.sleepLocked", tid)
			if total == 0 {
				t.Fatalf("no blocked time for the locked thread %d", tid)
			}
			if share < 0.80 {
				t.Errorf("main.sleepLocked holds %.1f%% of locked thread %d's blocked time (%d of %d ns), want >= 80%%; drops %v",
					100*share, tid, matched, total, r.Capture.Drops)
			}
			idle := idleOf(r.Profile, tid)
			if float64(idle) > 0.20*float64(total) {
				t.Errorf("%d of locked thread %d's %d ns blocked are filed as idle Go runtime threads, want <= 20%%", idle, tid, total)
			}
			var sum bytes.Buffer
			sched.Summary(&sum, r.Capture, r.Profile)
			if !strings.Contains(sum.String(), "main.sleepLocked") {
				t.Errorf("the summary does not name main.sleepLocked among the program's waits:\n%s", sum.String())
			}
			if n := r.Capture.Drops["sched_go_stacks_full"]; n > 0 {
				t.Errorf("drop sched_go_stacks_full = %d, want 0", n)
			}
			// A saved context read while the GC moves the parked
			// goroutine's stack may not check out: rare, never the rule.
			if n, v := r.Capture.Drops["sched_go_locked_invalid"], r.Capture.Counts["voluntary_switches"]; n*50 > v {
				t.Errorf("drop sched_go_locked_invalid = %d of %d voluntary switches, want < 2%%", n, v)
			}
			t.Logf("main.sleepLocked %.1f%% of %d ns blocked; idle runtime %d ns; collisions %d\n%s",
				100*share, total, idle, r.Capture.Drops["sched_go_stack_collision"], sum.String())
		})
	}
}

// idleOf is the blocked time of thread tid that the summary files as idle
// Go runtime threads.
func idleOf(p *pprof.Profile, tid uint32) int64 {
	i := profile.ValueIndex(p, profile.TypeOffCPUBlocked)
	var idle int64
	for _, s := range p.Sample {
		if len(s.NumLabel["tid"]) == 0 || uint32(s.NumLabel["tid"][0]) != tid {
			continue
		}
		if profile.GoRuntimeIdle(profile.Frames(s)) {
			idle += s.Value[i]
		}
	}
	return idle
}

// A Go target without DWARF from a Go version the offset table does not
// know keeps today's attribution (the locked thread's time on
// runtime.stoplockedm) and the capture says so in one warning. The
// target's build info is rewritten to go1.99.
func TestLockedGoroutineUnknownVersion(t *testing.T) {
	bpftest.Require(t)
	src := testtarget.Build(t, "lockedsleep", "-ldflags=-w")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	v := runtime.Version()
	if len(v) < len("go1.NN") || !bytes.Contains(b, []byte(v)) {
		t.Skipf("cannot rewrite Go version %q in the target", v)
	}
	fake := "go1.99" + v[len("go1.NN"):]
	bin := filepath.Join(t.TempDir(), "lockedsleep-go199")
	if err := os.WriteFile(bin, bytes.ReplaceAll(b, []byte(v), []byte(fake)), 0o755); err != nil {
		t.Fatal(err)
	}
	p := testtarget.Start(t, bin, "-interval", "5ms")
	r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"sched"}}, time.Second)
	var warned []string
	for _, w := range r.Capture.Warnings {
		if strings.Contains(w, fake) {
			warned = append(warned, w)
		}
	}
	if len(warned) != 1 {
		t.Errorf("warnings naming %s: %q, want one; all: %q", fake, warned, r.Capture.Warnings)
	}
	tid := uint32(p.TID)
	if share, _, total := r.Share(profile.TypeOffCPUBlocked, "runtime.stoplockedm", tid); total == 0 || share < 0.8 {
		t.Errorf("runtime.stoplockedm holds %.1f%% of the locked thread's %d ns blocked, want >= 80%% (today's behaviour)", 100*share, total)
	}
	t.Logf("warning: %s", warned)
}
