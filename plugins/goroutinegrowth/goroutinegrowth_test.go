package goroutinegrowth_test

import (
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/goroutinegrowth"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

const parked = "runtime.gopark;runtime.chanrecv;runtime.chanrecv1;main.worker"

func goroutines(byStack map[string]int64) *plugins.Evidence {
	p := plugintest.Profile([]string{profile.TypeGoGoroutines}, plugintest.Stacks(profile.TypeGoGoroutines, byStack)...)
	return &plugins.Evidence{Profile: p}
}

// The count bands: info from 5,000, warning from 10,000, critical from
// 100,000; the top start function and where it waits are named.
func TestBands(t *testing.T) {
	other := "runtime.gopark;runtime.netpollblock;internal/poll.runtime_pollWait;internal/poll.(*FD).Read;net/http.(*conn).serve"
	for _, c := range []struct {
		n    int64
		sev  plugins.Severity
		none bool
	}{
		{n: 4_000, none: true},
		{n: 6_000, sev: plugins.Info},
		{n: 9_990, sev: plugins.Info},
		{n: 10_000, sev: plugins.Warning},
		{n: 99_000, sev: plugins.Warning},
		{n: 150_000, sev: plugins.Critical},
	} {
		f := plugintest.One(t, "goroutine-growth", goroutines(map[string]int64{parked: c.n - 10, other: 10}))
		if c.none {
			if f != nil {
				t.Errorf("%d goroutines: %s %q, want nothing", c.n, f.Severity, f.Title)
			}
			continue
		}
		if f == nil || f.Severity != c.sev {
			t.Errorf("%d goroutines: finding %+v, want %s", c.n, f, c.sev)
			continue
		}
		if n, _ := f.Figure("goroutines"); int64(n) != c.n {
			t.Errorf("%d goroutines: figure %v", c.n, n)
		}
		if !strings.Contains(f.Title, "main.worker") || !strings.Contains(f.Detail, "in main.worker (waiting in runtime.chanrecv1)") {
			t.Errorf("%d goroutines: %q / %q", c.n, f.Title, f.Detail)
		}
		// One start function holds nearly all: high confidence once the
		// count is a warning's.
		if want := map[bool]string{true: "high", false: "low"}[c.sev >= plugins.Warning]; f.Confidence.Level != want {
			t.Errorf("%d goroutines: confidence %s, want %s", c.n, f.Confidence.Level, want)
		}
	}
}

// Many goroutines spread over many start functions: a finding with low
// confidence (a leak piles up on one).
func TestSpread(t *testing.T) {
	byStack := map[string]int64{}
	for _, fn := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		byStack["runtime.gopark;runtime.selectgo;main."+fn] = 1500
	}
	f := plugintest.One(t, "goroutine-growth", goroutines(byStack))
	if f == nil || f.Severity != plugins.Warning || f.Share != 0.1 || f.Confidence.Level != "low" {
		t.Errorf("finding %+v, want a warning, share 10%%, low confidence", f)
	}
}

// No goroutine profile: not applicable, with how to get one.
func TestNotApplicable(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 0, map[string]int64{"main.main": 1e9})
	st, _ := plugintest.Run(t, "goroutine-growth", ev)
	if st.Status != plugins.StatusNotApplicable || !strings.Contains(st.Enable, "net/http/pprof") {
		t.Errorf("status %s (%s, %q)", st.Status, st.Reason, st.Enable)
	}
}
