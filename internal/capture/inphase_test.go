package capture

import (
	"strings"
	"testing"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// Sampling at fgprof's 99 Hz or the Go CPU profiler's 100 Hz while they
// run in the target is warned about; another rate, or no Go profile, is not.
func TestInPhaseWarning(t *testing.T) {
	wall := &fetch.Result{Wall: &pprof.Profile{}}
	cpu := &fetch.Result{CPU: &pprof.Profile{}}
	for _, c := range []struct {
		hz   int
		res  *fetch.Result
		warn bool
	}{
		{99, wall, true}, {100, cpu, true}, {99, cpu, true},
		{97, wall, false}, {499, wall, false}, {99, nil, false}, {99, &fetch.Result{Skipped: []string{"no endpoint"}}, false},
	} {
		w := inPhase(&profile.Capture{Hz: c.hz}, c.res)
		if (w != "") != c.warn || c.warn && !strings.Contains(w, "97 Hz") {
			t.Errorf("hz %d, %+v: warning %q, want one: %v", c.hz, c.res, w, c.warn)
		}
	}
}
