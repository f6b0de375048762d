package testtarget

import (
	"debug/elf"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuUntilExit polls p's CPU time until the target exits and returns the last
// reading taken while it was alive.
func cpuUntilExit(t *testing.T, p *Proc) time.Duration {
	t.Helper()
	var last time.Duration
	for {
		select {
		case <-p.done:
			return last
		case <-time.After(5 * time.Millisecond):
		}
		if cpu, err := p.CPUTime(); err == nil {
			last = cpu
		} else {
			t.Fatalf("CPUTime: %v", err)
		}
	}
}

func TestSpinner(t *testing.T) {
	bin := Build(t, "spinner")
	if again := Build(t, "spinner"); again != bin {
		t.Errorf("second Build = %s, want cached %s", again, bin)
	}
	p := Start(t, bin, "-threads", "1", "-duration", "1s")
	cpu := cpuUntilExit(t, p)
	var sum struct {
		Threads int
		Seconds float64
	}
	if err := p.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("spinner: cpu=%v summary=%+v", cpu, sum)
	if cpu < 800*time.Millisecond || cpu > 1200*time.Millisecond {
		t.Errorf("spinner -threads 1 for 1s used %v CPU, want 0.8s..1.2s", cpu)
	}
	if sum.Threads != 1 || sum.Seconds < 1 || sum.Seconds > 1.2 {
		t.Errorf("summary %+v, want threads=1 seconds~1", sum)
	}
}

func TestSleeper(t *testing.T) {
	p := Start(t, Build(t, "sleeper"), "-interval", "10ms", "-duration", "1s")
	if p.TID <= 0 {
		t.Fatalf("ready line %q has no tid", p.Ready)
	}
	// The reported thread should be blocked in nanosleep (x86-64 syscall 35).
	var inNanosleep, samples int
	for i := 0; i < 20; i++ {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/task/" + strconv.Itoa(p.TID) + "/syscall")
		if err != nil {
			t.Fatalf("tid %d: %v", p.TID, err)
		}
		samples++
		if strings.HasPrefix(string(data), "35 ") {
			inNanosleep++
		}
		time.Sleep(7 * time.Millisecond)
	}
	cpu := cpuUntilExit(t, p)
	var sum struct {
		Sleeps      int
		MeanSleepNS int64 `json:"mean_sleep_ns"`
	}
	if err := p.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("sleeper: tid=%d in nanosleep %d/%d samples, cpu=%v summary=%+v", p.TID, inNanosleep, samples, cpu, sum)
	if inNanosleep < samples*3/4 {
		t.Errorf("tid %d was in nanosleep in only %d/%d samples", p.TID, inNanosleep, samples)
	}
	if sum.Sleeps < 80 || sum.Sleeps > 100 {
		t.Errorf("sleeps = %d, want 80..100", sum.Sleeps)
	}
	if sum.MeanSleepNS < int64(10*time.Millisecond) || sum.MeanSleepNS > int64(12*time.Millisecond) {
		t.Errorf("mean sleep = %v, want 10ms..12ms", time.Duration(sum.MeanSleepNS))
	}
	if cpu >= 100*time.Millisecond {
		t.Errorf("sleeper used %v CPU, want < 100ms", cpu)
	}
}

func TestContended(t *testing.T) {
	const threads = 3
	p := Start(t, Build(t, "contended"), "-threads", strconv.Itoa(threads), "-duration", "500ms")
	// All spinning threads should be runnable (state R) at the same time.
	maxRunnable := 0
	for i := 0; i < 10; i++ {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p.PID) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, task := range tasks {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/task/" + task.Name() + "/stat")
			if err != nil {
				continue
			}
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " R") {
				n++
			}
		}
		maxRunnable = max(maxRunnable, n)
		time.Sleep(20 * time.Millisecond)
	}
	var sum struct{ Threads int }
	if err := p.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("contended: max runnable threads seen=%d summary=%+v", maxRunnable, sum)
	if maxRunnable < threads {
		t.Errorf("saw at most %d runnable threads, want %d", maxRunnable, threads)
	}
	if sum.Threads != threads {
		t.Errorf("summary threads = %d, want %d", sum.Threads, threads)
	}
}

func TestCSpin(t *testing.T) {
	bin := Build(t, "cspin")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range syms {
		if s.Name == "hot_spin" && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: no function symbol hot_spin", bin)
	}

	p := Start(t, bin, "-duration", "0.5")
	cpu := cpuUntilExit(t, p)
	var sum struct {
		Seconds float64
		Chunks  int
	}
	if err := p.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("cspin: cpu=%v summary=%+v", cpu, sum)
	if sum.Seconds < 0.5 || sum.Chunks == 0 {
		t.Errorf("summary %+v, want seconds>=0.5 and chunks>0", sum)
	}
	if cpu < 350*time.Millisecond || cpu > 650*time.Millisecond {
		t.Errorf("cspin for 0.5s used %v CPU, want 0.35s..0.65s", cpu)
	}
}

func TestDemo(t *testing.T) {
	p := Start(t, Build(t, "demo"), "-load", "2", "-duration", "2s")
	if p.Addr == "" {
		t.Fatalf("ready line %q has no addr", p.Ready)
	}
	// The profiles are served on a loopback port of their own.
	_, pprofAddr, _ := strings.Cut(p.Ready, " pprof=")
	if pprofAddr == "" {
		t.Fatalf("ready line %q has no pprof", p.Ready)
	}
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "demo") {
		t.Errorf("/debug/pprof/cmdline: %s %q", resp.Status, body)
	}

	var sum struct {
		Requests     map[string]int64
		ClientErrors int64 `json:"client_errors"`
	}
	if err := p.Wait(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("demo: summary=%+v", sum)
	for _, path := range []string{"/work", "/lock", "/sleep"} {
		if sum.Requests[path] <= 0 {
			t.Errorf("served %d %s requests, want > 0", sum.Requests[path], path)
		}
	}
	if sum.ClientErrors != 0 {
		t.Errorf("load generator saw %d errors", sum.ClientErrors)
	}
}

func TestBuildFlags(t *testing.T) {
	plain := Build(t, "spinner")
	bin := Build(t, "spinner", "-buildmode=pie", "-ldflags=-s -w")
	if bin == plain {
		t.Fatalf("different flags share the cached binary %s", bin)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Errorf("-buildmode=pie built ELF type %v, want ET_DYN", f.Type)
	}
	if _, err := f.Symbols(); err != elf.ErrNoSymbols {
		t.Errorf("-ldflags=-s: Symbols() error = %v, want ErrNoSymbols", err)
	}
	if err := Start(t, bin, "-duration", "100ms").Wait(nil); err != nil {
		t.Error(err)
	}
}
