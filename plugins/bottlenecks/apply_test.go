package bottlenecks

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/probes/iostall" // the probes declare their histograms and counts
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
	"github.com/perfprobe/perfprobe/profile"
)

// stacks builds a profile of one sample type with one sample per stack
// (leaf first, ";"-separated) and a "samples" count at 100 Hz.
func stacks(typ string, byStack map[string]int64) *pprof.Profile {
	return plugintest.Profile([]string{typ}, plugintest.Stacks(typ, byStack)...)
}

// evidence is 1 s of on-CPU time over a 10 s capture: 400 ms hashing
// (40%) under main.checksum, 600 ms in main.spin; and 100 TLS handshakes,
// 90 of 1 ms and 10 of 20 ms.
func evidence() *plugins.Evidence {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := &profile.Histogram{}
	for i := range 100 {
		if i < 90 {
			h.Record(1e6)
		} else {
			h.Record(20e6)
		}
	}
	return &plugins.Evidence{
		Capture: &profile.Capture{
			Start: start, End: start.Add(10 * time.Second),
			Probes:     []string{"cpu", "sched", "tls"},
			Histograms: map[string]*profile.Histogram{"tls_handshake": h},
			Counts:     map[string]uint64{"tls_handshakes_ok": 100, "tls_handshakes_failed": 0, "oncpu_samples": 100},
		},
		Profile: stacks(profile.TypeOnCPU, map[string]int64{
			"crypto/internal/fips140/sha256.blockSHANI;crypto/sha256.(*digest).Write;main.checksum;main.handle": 300e6,
			"crypto/sha256.block;main.checksum;main.handle":                                                     100e6,
			"main.spin;main.handle": 600e6,
		}),
		Source: "test",
	}
}

var hashingPlugin = plugins.CPUHotSpot{PluginName: "hashing", Category: plugins.CatHashing, What: "hashing", Advice: "hash less"}

// report runs the real hashing hot-spot plugin over ev: one finding,
// 40% of on-CPU time, a warning.
func report(t *testing.T, ev *plugins.Evidence) *plugins.Report {
	t.Helper()
	rep := plugins.RunPlugins(ev, []plugins.Plugin{hashingPlugin})
	if len(rep.Findings) != 1 || rep.Findings[0].Share != 0.4 || rep.Findings[0].Severity != plugins.Warning {
		t.Fatalf("hashing plugin: %+v", rep.Findings)
	}
	return rep
}

func mustParse(t *testing.T, text string) *List {
	t.Helper()
	l, err := Parse("perfprobe.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// The status matrix: the same 40% hashing finding under each kind of
// entry.
func TestApplyStatuses(t *testing.T) {
	for _, c := range []struct {
		name, entry string
		status      string
		sev         plugins.Severity
		detail      string
	}{
		{"acceptable within budget", "status: acceptable\n    budget: 50%", plugins.StatusAcceptable, plugins.Info, "acceptable up to 50%; owner storage-team"},
		{"acceptable, no budget", "status: acceptable\n    expires: 2027-03-01", plugins.StatusAcceptable, plugins.Info, "acceptable until 2027-03-01"},
		{"must-fix", "status: must-fix", plugins.StatusMustFix, plugins.Warning, "must-fix"},
		{"over budget", "status: acceptable\n    budget: 30%", plugins.StatusOverBudget, plugins.Warning, "acceptable up to 30%, and this is 40%: over budget"},
		{"expired", "status: acceptable\n    budget: 50%\n    expires: 2026-11-30", plugins.StatusExpired, plugins.Warning, "accepted until 2026-11-30, which has passed"},
		{"expires today", "status: acceptable\n    expires: 2026-12-01T12:00:00Z", plugins.StatusExpired, plugins.Warning, "accepted until 2026-12-01T12:00:00Z, which has passed"},
	} {
		for _, how := range []string{"category: hashing", `match: 'main\.checksum'`} {
			l := mustParse(t, "bottlenecks:\n  - name: upload-hashing\n    "+how+"\n    owner: storage-team\n    "+c.entry+"\n")
			ev := evidence()
			rep := report(t, ev)
			id := rep.Findings[0].ID
			l.Apply(rep, ev, now)
			if len(rep.Findings) != 1 {
				t.Errorf("%s (%s): %d findings, want the plugin's only", c.name, how, len(rep.Findings))
				continue
			}
			f := rep.Findings[0]
			if f.Status != c.status || f.Bottleneck != "upload-hashing" || f.Severity != c.sev || f.ID != id {
				t.Errorf("%s (%s): status %s, bottleneck %q, severity %s; want %s, upload-hashing, %s", c.name, how, f.Status, f.Bottleneck, f.Severity, c.status, c.sev)
			}
			if !strings.Contains(f.Detail, "perfprobe.yaml lists it as upload-hashing, "+c.detail) {
				t.Errorf("%s: detail %q lacks %q", c.name, f.Detail, c.detail)
			}
			if rep.Bottlenecks != "perfprobe.yaml" {
				t.Errorf("report's bottleneck list %q", rep.Bottlenecks)
			}
		}
	}
}

// Severity follows the status both ways: a critical finding listed as
// acceptable drops to info; an info one listed as must-fix rises to
// warning. An unlisted finding stays new and unchanged. The first entry
// that matches wins.
func TestApplySeverityAndOrder(t *testing.T) {
	ev := evidence()
	rep := report(t, ev)
	rep.Findings = append(rep.Findings,
		plugins.Finding{ID: "crit", Plugin: "x", Category: string(plugins.CatGC), Severity: plugins.Critical, Share: 0.7, Status: plugins.StatusNew},
		plugins.Finding{ID: "info", Plugin: "x", Category: string(plugins.CatLock), Severity: plugins.Info, Share: 0.01, Status: plugins.StatusNew},
		plugins.Finding{ID: "other", Plugin: "x", Category: string(plugins.CatRegexp), Severity: plugins.Warning, Share: 0.3, Status: plugins.StatusNew},
	)
	l := mustParse(t, `bottlenecks:
  - name: gc
    category: gc
    status: acceptable
  - name: locks
    category: lock-contention
    status: must-fix
  - name: checksum-ok
    match: 'main\.checksum'
    status: acceptable
  - name: hashing-must-fix
    category: hashing
    status: must-fix
`)
	l.Apply(rep, ev, now)
	got := map[string]plugins.Finding{}
	for _, f := range rep.Findings {
		got[f.ID] = f
	}
	var hashing plugins.Finding
	for _, f := range rep.Findings {
		if f.Plugin == "hashing" {
			hashing = f
		}
	}
	for _, c := range []struct {
		f        plugins.Finding
		status   string
		sev      plugins.Severity
		listedAs string
	}{
		{got["crit"], plugins.StatusAcceptable, plugins.Info, "gc"},
		{got["info"], plugins.StatusMustFix, plugins.Warning, "locks"},
		{got["other"], plugins.StatusNew, plugins.Warning, ""},
		{hashing, plugins.StatusAcceptable, plugins.Info, "checksum-ok"},
	} {
		if c.f.Status != c.status || c.f.Severity != c.sev || c.f.Bottleneck != c.listedAs {
			t.Errorf("finding %s: %s %s %q, want %s %s %q", c.f.ID, c.f.Status, c.f.Severity, c.f.Bottleneck, c.status, c.sev, c.listedAs)
		}
	}
	// Ranked: the warnings, then the infos by score (hashing's 70 first).
	var order []string
	for _, f := range rep.Findings {
		order = append(order, f.ID)
	}
	if got := strings.Join(order, " "); got != "other info "+hashing.ID+" crit" {
		t.Errorf("ranked %s", got)
	}
}

// A listed match that no plugin reported gets a finding of its own when
// the profile holds enough of it; a short window gates it out.
func TestApplyUnreported(t *testing.T) {
	list := `bottlenecks:
  - name: spin
    match: 'main\.spin$'
    status: must-fix
    owner: compute-team
  - name: checksum
    match: 'main\.checksum'
    status: must-fix
  - name: nothing-there
    match: 'main\.absent'
    status: must-fix
`
	ev := evidence()
	rep := report(t, ev)
	mustParse(t, list).Apply(rep, ev, now)
	if len(rep.Findings) != 2 {
		t.Fatalf("%d findings, want the hashing one and one for spin: %+v", len(rep.Findings), rep.Findings)
	}
	f := rep.Findings[0] // critical: ranked first
	if f.Plugin != PluginName || f.Category != string(plugins.CatCustom) || f.Key[0] != "spin" || f.Bottleneck != "spin" || f.Status != plugins.StatusMustFix {
		t.Errorf("spin finding: %+v", f)
	}
	// 600 ms of 1 s oncpu: 60%, 60 samples at 100 Hz, over a 10 s window;
	// HotSpot scores 60% at 80 + 20*(0.6-0.5)/0.5 = 84: critical.
	if f.Share != 0.6 || f.Score != 84 || f.Severity != plugins.Critical {
		t.Errorf("spin finding: share %v score %d severity %s, want 0.6, 84, critical", f.Share, f.Score, f.Severity)
	}
	if v, _ := f.Figure("samples"); v != 60 {
		t.Errorf("samples %v, want 60", v)
	}
	if len(f.Stacks) != 1 || f.Stacks[0][0] != "main.spin" || f.Query != `go tool pprof -sample_index=oncpu -focus='main\.spin$' -top profile.pb.gz` {
		t.Errorf("spin stacks %v query %q", f.Stacks, f.Query)
	}
	if len(f.ID) != 16 || f.ID != plugins.Fingerprint(PluginName, string(plugins.CatCustom), []string{"spin"}) {
		t.Errorf("spin id %q", f.ID)
	}
	if rep.Findings[1].Bottleneck != "checksum" || rep.Findings[1].Status != plugins.StatusMustFix {
		t.Errorf("hashing finding: %+v", rep.Findings[1])
	}

	// Acceptable within budget: reported at info.
	ev = evidence()
	rep = report(t, ev)
	mustParse(t, strings.Replace(list, "must-fix\n    owner", "acceptable\n    budget: 70%\n    owner", 1)).Apply(rep, ev, now)
	if len(rep.Findings) != 2 || rep.Findings[1].Key[0] != "spin" || rep.Findings[1].Severity != plugins.Info || rep.Findings[1].Status != plugins.StatusAcceptable {
		t.Errorf("acceptable spin: %+v", rep.Findings)
	}

	// A 0.5 s window proves nothing: no finding.
	ev = evidence()
	ev.Capture.End = ev.Capture.Start.Add(500 * time.Millisecond)
	rep = plugins.RunPlugins(ev, []plugins.Plugin{hashingPlugin})
	mustParse(t, list).Apply(rep, ev, now)
	for _, f := range rep.Findings {
		if f.Plugin == PluginName {
			t.Errorf("a 0.5 s window gave a finding: %+v", f)
		}
	}

	// go_cpu stands in for oncpu when there is no oncpu.
	ev = evidence()
	ev.Profile.SampleType[1].Type = profile.TypeGoCPU
	rep = &plugins.Report{}
	mustParse(t, list).Apply(rep, ev, now)
	if len(rep.Findings) != 2 || !strings.Contains(rep.Findings[0].Query, "-sample_index=go_cpu") || rep.Findings[0].Share != 0.6 {
		t.Errorf("go_cpu fallback: %+v", rep.Findings)
	}
}

// SLOs: exact values, breaches with their findings and explanations, and
// errors for what the capture does not have.
func TestApplySLOs(t *testing.T) {
	ev := evidence()
	rep := report(t, ev)
	tls := plugins.Finding{Category: string(plugins.CatTLSHandshake), Title: "handshakes", Score: 60, Key: []string{"tls"}}
	plugins.Finish(&tls, "tls-handshake")
	rep.Findings = append(rep.Findings, tls)
	hashingID := rep.Findings[0].ID
	l := mustParse(t, `slos:
  - {name: hs-p95, metric: tls_handshake.p95, max: 5ms}
  - {name: hs-max, metric: tls_handshake.max, max: 25ms}
  - {name: hs-mean, metric: tls_handshake.mean, max: 3ms}
  - {name: hs-count, metric: tls_handshake.count, min: 100}
  - {name: hashing, metric: 'share(hashing, oncpu)', max: 25%}
  - {name: spin, metric: 'share(/main\.spin/)', max: 70%}
  - {name: ok-count, metric: count(tls_handshakes_ok), min: 50}
  - {name: ok-rate, metric: rate(tls_handshakes_ok), min: 20/s}
  - {name: failed, metric: count(tls_handshakes_failed), max: 0}
  - {name: cpu, metric: total(oncpu), max: 2s}
  - {name: runq, metric: runqueue.p99, max: 10ms}
  - {name: runq-count, metric: runqueue.count, max: 10}
  - {name: typo, metric: tls_handshak.p95, max: 5ms}
  - {name: unknown, metric: nosuch.p95, max: 5ms}
  - {name: fsync, metric: syscall_fsync.p99, max: 5ms}
  - {name: blocked, metric: total(offcpu_blocked), max: 1s}
  - {name: cpu-as-count, metric: total(oncpu), max: 5}
  - {name: nocount, metric: rate(nosuch), max: 1}
`)
	l.Apply(rep, ev, now)
	type want struct {
		value  float64
		ok     bool
		err    string
		sev    plugins.Severity
		unit   string
		expl   []string
		detail string
	}
	p95 := 18388608.0 // rank 95 of 100 is half-way into the 20 ms slot's 10 values: [16777216, 20000001) capped at the max
	wants := map[string]want{
		"hs-p95":       {value: p95, sev: plugins.Critical, unit: "ns", expl: []string{tls.ID}, detail: "tls_handshake.p95 was 18.4 ms over the capture; the SLO allows at most 5.0 ms (3.68x past it). Explained by: handshakes."},
		"hs-max":       {value: 20e6, ok: true, unit: "ns"},
		"hs-mean":      {value: 2.9e6, ok: true, unit: "ns"},
		"hs-count":     {value: 100, ok: true, unit: "count"},
		"hashing":      {value: 40, sev: plugins.Warning, unit: "%", expl: []string{hashingID}, detail: "share(hashing, oncpu) was 40.0% over the capture; the SLO allows at most 25.0% (1.60x past it). Explained by: 40% of CPU time is hashing from main.checksum."},
		"spin":         {value: 60, ok: true, unit: "%"},
		"ok-count":     {value: 100, ok: true, unit: "count"},
		"ok-rate":      {value: 10, sev: plugins.Warning, unit: "/s", expl: []string{tls.ID}},
		"failed":       {value: 0, ok: true, unit: "count"},
		"cpu":          {value: 1e9, ok: true, unit: "ns"},
		"runq":         {err: "histogram runqueue has no events in this window: its p99 is undefined", unit: "ns"},
		"runq-count":   {value: 0, ok: true, unit: "count"},
		"typo":         {err: "no histogram tls_handshak in this capture: did you mean tls_handshake?", unit: "ns"},
		"unknown":      {err: "no histogram nosuch in this capture (it has: tls_handshake)", unit: "ns"},
		"fsync":        {err: "no histogram syscall_fsync: the capture did not run the iostall probe (run with --probes iostall)", unit: "ns"},
		"blocked":      {err: "no sample type offcpu_blocked in this profile (it has: oncpu)", unit: "ns"},
		"nocount":      {err: "no count nosuch in this capture (it has: oncpu_samples, tls_handshakes_failed, tls_handshakes_ok)", unit: "/s"},
		"cpu-as-count": {value: 1e9, sev: plugins.Critical, unit: "ns", expl: []string{hashingID, tls.ID}}, // TLS handshakes burn CPU too
	}
	if len(rep.SLOs) != len(wants) {
		t.Fatalf("%d SLO results, want %d", len(rep.SLOs), len(wants))
	}
	byID := map[string]plugins.Finding{}
	for _, f := range rep.Findings {
		byID[f.ID] = f
	}
	breaches := 0
	for _, r := range rep.SLOs {
		w := wants[r.Name]
		if r.Value != w.value || r.OK != w.ok || r.Error != w.err || r.Unit != w.unit {
			t.Errorf("SLO %s: value %v ok %v unit %s error %q; want %v %v %s %q", r.Name, r.Value, r.OK, r.Unit, r.Error, w.value, w.ok, w.unit, w.err)
		}
		if r.OK || r.Error != "" {
			if r.Finding != "" {
				t.Errorf("SLO %s: finding %s without a breach", r.Name, r.Finding)
			}
			continue
		}
		breaches++
		f, found := byID[r.Finding]
		if !found || f.Plugin != SLOPlugin || f.Category != string(plugins.CatSLO) || f.Key[0] != r.Name || f.Severity != w.sev || f.Status != plugins.StatusNew {
			t.Errorf("SLO %s: breach finding %+v, want plugin slo, category slo, severity %s", r.Name, f, w.sev)
			continue
		}
		if strings.Join(f.Explains, ",") != strings.Join(w.expl, ",") {
			t.Errorf("SLO %s: explains %v, want %v", r.Name, f.Explains, w.expl)
		}
		if w.detail != "" && f.Detail != w.detail {
			t.Errorf("SLO %s: detail %q\nwant %q", r.Name, f.Detail, w.detail)
		}
	}
	if breaches != 4 || len(rep.Findings) != 2+4 {
		t.Errorf("%d breaches, %d findings; want 4 and 6", breaches, len(rep.Findings))
	}
	if rep.Findings[0].Severity != plugins.Critical {
		t.Errorf("findings not ranked: %+v", rep.Findings[0])
	}

	// Without evidence every SLO carries an error, none a finding.
	rep = &plugins.Report{}
	l.Apply(rep, nil, now)
	for _, r := range rep.SLOs {
		if r.OK || r.Error == "" || r.Finding != "" {
			t.Errorf("no evidence: %+v", r)
		}
	}
	if len(rep.Findings) != 0 {
		t.Errorf("no evidence: findings %+v", rep.Findings)
	}
}
