package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// The simple JSON any tool can write for gate:
//
//	{"perfprobe_results": 1, "results": [
//	  {"name": "checkout p99", "unit": "s", "kind": "latency",
//	   "higher_is_better": false, "samples": [0.012, 0.013]}]}
//
// kind is one of latency, throughput, cpu, memory, time, share, other
// (default other); higher_is_better defaults to true for throughput and
// false for the rest. Each sample is one run.
const simpleVersion = 1

type simpleFile struct {
	Version *int           `json:"perfprobe_results"`
	Results []simpleResult `json:"results"`
}

type simpleResult struct {
	Name           string    `json:"name"`
	Unit           string    `json:"unit"`
	Kind           string    `json:"kind"`
	HigherIsBetter *bool     `json:"higher_is_better"`
	Samples        []float64 `json:"samples"`
}

func parseSimpleJSON(name, _ string, data []byte, into *Set) (bool, error) {
	var f simpleFile
	if json.Unmarshal(data, &f) != nil || f.Version == nil {
		var probe map[string]json.RawMessage
		if json.Unmarshal(data, &probe) != nil || probe["perfprobe_results"] == nil {
			return false, nil
		}
		return false, errors.New(`perfprobe_results JSON does not match {"perfprobe_results": 1, "results": [{"name", "unit", "kind", "higher_is_better", "samples": [numbers]}]}`)
	}
	if *f.Version != simpleVersion {
		return false, fmt.Errorf("perfprobe_results version %d: this perfprobe reads version %d", *f.Version, simpleVersion)
	}
	if len(f.Results) == 0 {
		return false, errors.New("perfprobe_results JSON has no results")
	}
	for i, r := range f.Results {
		if r.Name == "" {
			return false, fmt.Errorf("results[%d] has no name", i)
		}
		kind := KindOther
		if r.Kind != "" {
			kind = Kind(r.Kind)
			if !slices.Contains(Kinds, kind) {
				return false, fmt.Errorf("result %q: unknown kind %q (use latency, throughput, cpu, memory, time, share or other)", r.Name, r.Kind)
			}
		}
		higher := kind == KindThroughput
		if r.HigherIsBetter != nil {
			higher = *r.HigherIsBetter
		}
		if len(r.Samples) == 0 {
			return false, fmt.Errorf("result %q has no samples", r.Name)
		}
		for _, v := range r.Samples {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false, fmt.Errorf("result %q: sample %v is not a finite number", r.Name, v)
			}
			into.Add(r.Name, r.Unit, kind, higher, v, name)
		}
	}
	return true, nil
}
