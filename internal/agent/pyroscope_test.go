package agent

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

// The agent pushes a spinner's windows to a Pyroscope server built from
// the official handlers, with basic auth and a tenant; read back through
// the querier, main.spinHot is over 90% of process_cpu, the series carry
// the agent's labels and Pyroscope's profile type ids, and the on-CPU
// rate over the windows matches one long capture of the same process,
// taken beside the agent, within 10%.
func TestAgentPushesToPyroscope(t *testing.T) {
	bpftest.Require(t)
	srv := pyroscopetest.New(t)
	bin := testtarget.Build(t, "spinner")
	spin := testtarget.Start(t, bin, "-threads", "1")

	target, err := probes.OpenTarget(spin.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	o := capture.FromConfig(probes.Config{Probes: []string{"cpu"}, Hz: 99})
	long, err := capture.Start(target, o)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()

	cfg := testConfig(t)
	cfg.Store.Disabled = true
	cfg.Targets.PIDs = []int{spin.PID}
	cfg.Interval = 500 * time.Millisecond
	cfg.Hz = 99
	cfg.Probes = []string{"cpu", "sched"}
	cfg.Pyroscope.URL = srv.URL
	cfg.Pyroscope.BasicAuthUser, cfg.Pyroscope.BasicAuthPassword = "agent", "s3cret-pw"
	cfg.Pyroscope.TenantID = "team-a"
	_, windows := runAgent(t, cfg, 8)
	res := long.Stop(capture.EndDuration)

	svc := filepath.Base(bin)
	ctx := context.Background()
	p, err := srv.SelectMerge(ctx, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", `{service_name="`+svc+`",source="ebpf"}`)
	if err != nil {
		t.Fatal(err)
	}
	total := profile.Total(p, "cpu")
	hot := int64(0)
	for _, s := range p.Sample {
		if slices.Contains(profile.Frames(s), "main.spinHot") {
			hot += s.Value[0]
		}
	}
	if share := float64(hot) / float64(total); share < 0.90 {
		t.Errorf("main.spinHot is %.1f%% of process_cpu in Pyroscope, want over 90%%", 100*share)
	}

	// The pushed on-CPU rate against the long capture's.
	var span time.Duration
	var local int64
	for _, w := range windows {
		span += w.End.Sub(w.Start)
		local += profile.Total(w.Profile, profile.TypeOnCPU)
	}
	if total != local {
		t.Errorf("Pyroscope holds %v of process_cpu, the agent's windows %v: want the same", time.Duration(total), time.Duration(local))
	}
	longRate := float64(profile.Total(res.Profile, profile.TypeOnCPU)) / float64(res.Capture.End.Sub(res.Capture.Start))
	rate := float64(total) / float64(span)
	t.Logf("pushed %v on CPU over %v of windows (%.3f CPU); the long capture %.3f CPU; %.1f%% in main.spinHot", time.Duration(total), span, rate, longRate, 100*float64(hot)/float64(total))
	if math.Abs(rate/longRate-1) > 0.10 {
		t.Errorf("on-CPU rate: %.3f CPU over the pushed windows, %.3f over one long capture: want the same within 10%%", rate, longRate)
	}

	// Labels and profile types as stored by the server.
	types := map[string]bool{}
	for _, st := range srv.Stored() {
		types[st.TypeID] = true
		l := st.Labels
		if l["service_name"] != svc || l["pid"] != strconv.Itoa(spin.PID) || l["comm"] == "" || l["hostname"] == "" || l["source"] != "ebpf" {
			t.Errorf("series %s has labels %v: want service_name=%s, pid=%d, comm, hostname, source=ebpf", st.TypeID, l, svc, spin.PID)
			break
		}
	}
	for _, want := range []string{"process_cpu:cpu:nanoseconds:cpu:nanoseconds", "off_cpu:off_cpu:nanoseconds:off_cpu:nanoseconds", "perfprobe_runqueue:runqueue:nanoseconds:runqueue:nanoseconds"} {
		if !types[want] {
			t.Errorf("no series of type %s; the server has %v", want, types)
		}
	}
	pushes := 0
	for _, r := range srv.Requests() {
		if !strings.Contains(r.Path, "PusherService") {
			continue // the test's own queries
		}
		pushes++
		if r.Header.Get("X-Scope-OrgID") != "team-a" || !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			t.Errorf("push %s without the tenant and basic auth: %v", r.Path, r.Header)
			break
		}
	}
	if pushes < 8 {
		t.Errorf("%d pushes, want one per window (8)", pushes)
	}
}
