package cpu_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// A Go function with no frame (main.leafMix, NOFRAME) spins, called from
// main.callLeaf: the walk alone skips callLeaf whenever the sample lands
// in leafMix; put back from the words at the user SP by leafMix's pcsp
// table, callLeaf is on >= 95% of leafMix's samples.
func TestFramelessGoLeafCaller(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "goleaf")
	p := testtarget.Start(t, bin)
	tid := uint32(p.TID)

	measure := func(splice bool) (leaf, withCaller int64, c *profile.Capture) {
		capture.SpliceLeaves = splice
		defer func() { capture.SpliceLeaves = true }()
		r := bpftest.Capture(t, p.PID, probes.Config{Probes: []string{"cpu"}}, 2*time.Second)
		i := profile.ValueIndex(r.Profile, profile.TypeOnCPU)
		for _, s := range r.Profile.Sample {
			if len(s.NumLabel["tid"]) == 0 || uint32(s.NumLabel["tid"][0]) != tid {
				continue
			}
			fs := profile.Frames(s)
			if len(fs) == 0 || fs[0] != "main.leafMix" {
				continue
			}
			leaf += s.Value[i]
			for _, f := range fs[1:] {
				if f == "main.callLeaf" {
					withCaller += s.Value[i]
					break
				}
			}
		}
		return leaf, withCaller, r.Capture
	}
	leaf0, with0, _ := measure(false)
	t.Logf("stacks as walked: main.callLeaf on %.1f%% of main.leafMix's samples (%d of %d ns)", pct(with0, leaf0), with0, leaf0)
	leaf, with, c := measure(true)
	t.Logf("spliced: main.callLeaf on %.1f%% of main.leafMix's samples (%d of %d ns); counts %v", pct(with, leaf), with, leaf, c.Counts)
	if n := leaf / int64(time.Second/time.Duration(c.Hz)); n < 10 {
		t.Fatalf("%d on-CPU samples with main.leafMix as leaf in thread %d, want >= 10 to judge", n, tid)
	}
	if pct(with, leaf) < 95 {
		t.Errorf("main.callLeaf is on %.1f%% of main.leafMix's samples, want >= 95%%", pct(with, leaf))
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
