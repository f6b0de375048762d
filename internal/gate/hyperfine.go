package gate

import (
	"encoding/json"
	"fmt"
	"math"
)

// hyperfine's --export-json (1.15): per command its wall times, one per
// run, and the mean user and system times. A command's metric is named by
// its "command", which --command-name sets: name the commands (hyperfine
// -n checkout 'curl ...') so that the two sides match even when their
// command lines differ (paths, ports).
type hyperfineFile struct {
	Results *[]hyperfineResult `json:"results"`
}

type hyperfineResult struct {
	Command *string   `json:"command"`
	Mean    *float64  `json:"mean"`
	Times   []float64 `json:"times"`
	User    *float64  `json:"user"`
	System  *float64  `json:"system"`
	// Later hyperfine versions report each run's peak memory.
	Memory []float64 `json:"memory_usage_byte"`
}

func parseHyperfine(name, _ string, data []byte, into *Set) (bool, error) {
	var f hyperfineFile
	if json.Unmarshal(data, &f) != nil || f.Results == nil || len(*f.Results) == 0 {
		return false, nil
	}
	for _, r := range *f.Results {
		if r.Command == nil || len(r.Times) == 0 && r.Mean == nil {
			return false, nil
		}
	}
	for _, r := range *f.Results {
		metric := "hyperfine " + *r.Command
		times := r.Times
		if len(times) == 0 {
			times = []float64{*r.Mean}
		}
		for _, v := range times {
			if err := finite(metric, v); err != nil {
				return false, err
			}
			into.Add(metric, "s", KindTime, false, v, name)
		}
		// 1.15 reports only the mean user and system times: one sample per file.
		if r.User != nil && r.System != nil {
			v := *r.User + *r.System
			if err := finite(metric+" cpu", v); err != nil {
				return false, err
			}
			into.Add(metric+" cpu", "s", KindCPU, false, v, name)
		}
		for _, v := range r.Memory {
			if err := finite(metric+" memory", v); err != nil {
				return false, err
			}
			into.Add(metric+" memory", "B", KindMemory, false, v, name)
		}
	}
	return true, nil
}

func finite(metric string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s: %v is not a finite number", metric, v)
	}
	return nil
}
