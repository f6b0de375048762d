package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/bottlenecks"
	"github.com/perfprobe/perfprobe/profile"
)

// A perfprobe capture's capture.json (profile.Report) gives, per histogram,
// NAME.p50, NAME.p95 and NAME.p99 in seconds, and with the profile beside
// it each frame category's share of the on-CPU samples, share(CAT, oncpu)
// in %: the names and the computation of the SLO metrics
// (bottlenecks.Value). One capture is one sample.
var captureStats = []string{"p50", "p95", "p99"}

// captureProbe holds the fields that tell a capture.json from other JSON.
type captureProbe struct {
	Schema *int            `json:"schema"`
	Window json.RawMessage `json:"window"`
	Probes json.RawMessage `json:"probes"`
}

func parseCaptureJSON(name, dir string, data []byte, into *Set) (bool, error) {
	var probe captureProbe
	if json.Unmarshal(data, &probe) != nil || probe.Schema == nil || probe.Window == nil || probe.Probes == nil {
		return false, nil
	}
	if *probe.Schema < 1 || *probe.Schema > profile.ReportSchema {
		return false, fmt.Errorf("capture.json schema %d, this perfprobe reads schema %d", *probe.Schema, profile.ReportSchema)
	}
	var rep profile.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return false, fmt.Errorf("reading capture.json: %w", err)
	}
	ev := &plugins.Evidence{Capture: rep.Capture(), Go: rep.Go, Source: name}
	if dir != "" {
		p, err := captureProfile(dir, rep.Files)
		if err != nil {
			return false, err
		}
		ev.Profile = p
	}
	hists := make([]string, 0, len(rep.Histograms))
	for h := range rep.Histograms {
		hists = append(hists, h)
	}
	sort.Strings(hists)
	for _, h := range hists {
		if rep.Histograms[h].Count == 0 {
			continue // no events: no percentiles
		}
		for _, stat := range captureStats {
			v, unit, err := bottlenecks.Value(ev, h+"."+stat)
			if err != nil {
				return false, err
			}
			if unit != "ns" {
				return false, fmt.Errorf("%s.%s is in %s, not ns", h, stat, unit)
			}
			into.Add(h+"."+stat, "s", KindLatency, false, v/1e9, name)
		}
	}
	if ev.HasType(profile.TypeOnCPU) && ev.Total(profile.TypeOnCPU) > 0 {
		for _, cat := range plugins.FrameCategories() {
			metric := fmt.Sprintf("share(%s, %s)", cat, profile.TypeOnCPU)
			v, _, err := bottlenecks.Value(ev, metric)
			if err != nil {
				return false, err
			}
			into.Add(metric, "%", KindShare, false, v, name)
		}
	}
	for _, metric := range into.shares {
		if ev.Profile == nil {
			break
		}
		v, unit, err := bottlenecks.Value(ev, metric)
		if err != nil {
			return false, fmt.Errorf("%s: %w", metric, err)
		}
		if unit != "%" {
			return false, fmt.Errorf("%s is in %s: the policy's shares: takes share(...) metrics", metric, unit)
		}
		into.Add(metric, "%", KindShare, false, v, name)
	}
	return true, nil
}

// captureProfile reads the profile a capture directory holds beside its
// capture.json, or nil when there is none.
func captureProfile(dir string, files map[string]string) (*pprof.Profile, error) {
	f := files["profile"]
	if f == "" {
		f = profile.CaptureProfile
	}
	path := filepath.Join(dir, f)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return profile.Load(path)
}
