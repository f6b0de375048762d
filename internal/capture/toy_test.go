package capture_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// toyProbe is a fifth probe as a new contributor would add one: everything
// the rest of perfprobe knows about it is in its Description, registered in
// one line. It loads nothing into the kernel; it reports one stack of its
// own sample type, a count, a histogram and a drop.
type toyProbe struct{ target *probes.Target }

func (p *toyProbe) Name() string                                    { return "toy" }
func (p *toyProbe) Attach(t *probes.Target, _ probes.Options) error { p.target = t; return nil }
func (p *toyProbe) Begin(uint64) error                              { return nil }
func (p *toyProbe) Progress() probes.Progress                       { return probes.Progress{Events: 7} }
func (p *toyProbe) Detach()                                         {}
func (p *toyProbe) Programs() map[string]*ebpf.Program              { return nil }
func (p *toyProbe) Close() error                                    { return nil }

func (p *toyProbe) Collect(c *profile.Capture, _ uint64) error {
	c.Stacks = append(c.Stacks, profile.Stack{Type: "toy_wait", TID: uint32(p.target.PID), Thread: "toy", Value: 3e6, Count: 3})
	c.Counts["toy_waits"] = 3
	h := &profile.Histogram{}
	for _, v := range []uint64{1e6, 1e6, 1e6} {
		h.Record(v)
	}
	c.Histograms["toy_wait"] = h
	c.Drops["toy_lost"] = 0
	return nil
}

var toy = probes.Description{
	Name: "toy", Doc: "a probe of the capture tests", Rank: 99,
	New:         func() probes.Probe { return &toyProbe{} },
	SampleTypes: []profile.SampleType{{Name: "toy_wait", Unit: "nanoseconds", Desc: "Time in toy waits", Core: true, Rank: 99}},
	EventUnit:   "waits",
	Counts:      []probes.Fact{{Name: "toy_waits", Desc: "waits seen"}},
	Histograms:  []probes.Fact{{Name: "toy_wait", Desc: "wait latency"}},
	Drops:       []probes.Fact{{Name: "toy_lost", Desc: "waits lost"}},
	Summary: func(w io.Writer, c *profile.Capture, p *pprof.Profile) {
		fmt.Fprintf(w, "\nToy: %d waits, %s\n", c.Counts["toy_waits"], time.Duration(profile.Total(p, "toy_wait")))
	},
}

func init() { probes.Register(toy) } // the one line

// TestToyProbe checks that a probe registered with only its Description
// reaches every output: the pprof sample type, its folded file, the
// progress unit, capture.json's names and its summary section.
func TestToyProbe(t *testing.T) {
	bpftest.Require(t)
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	target, err := probes.OpenTarget(sleeper.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	o := capture.FromConfig(probes.Config{Probes: []string{"toy"}})
	var progress []capture.Progress
	o.Progress = func(p capture.Progress) { progress = append(progress, p) }
	o.Duration = 1100 * time.Millisecond
	s, err := capture.Start(target, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cause := s.Wait(t.Context(), nil, "")
	res := s.Stop(cause)
	bpftest.CheckDeclared(t, res.Capture)
	if got := profile.Total(res.Profile, "toy_wait"); got != 3e6 {
		t.Errorf("toy_wait total %d, want 3e6", got)
	}
	if len(progress) == 0 || len(progress[0].Probes) != 1 || progress[0].Probes[0].Unit != "waits" || progress[0].Probes[0].Events != 7 {
		t.Errorf("progress %+v, want one report of 7 waits", progress)
	}
	dir := t.TempDir()
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "toy_wait.folded")); err != nil {
		t.Errorf("no folded file for the toy type: %v", err)
	}
	var rep struct {
		Counts     map[string]uint64          `json:"counts"`
		Histograms map[string]json.RawMessage `json:"histograms"`
		Totals     map[string]int64           `json:"totals_ns"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Counts["toy_waits"] != 3 || rep.Histograms["toy_wait"] == nil || rep.Totals["toy_wait"] != 3e6 {
		t.Errorf("capture.json counts %v, histograms %d, totals %v: want toy_waits 3, a toy_wait histogram and total", rep.Counts, len(rep.Histograms), rep.Totals)
	}
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "Toy: 3 waits, 3ms") {
		t.Errorf("summary lacks the toy section:\n%s", sum.String())
	}
}
