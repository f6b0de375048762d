// Command perfprobe-plugin-bigframe is an example external diagnosis plugin
// for perfprobe (docs/plugins.md): it flags every function that is the
// leaf of more than 30% of the CPU time, that is whose own code, not what
// it calls, burns the CPU. It uses the standard library only, as a plugin
// written outside this module would.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// threshold is the flat share of the CPU time, in percent, that is flagged.
const threshold = 30

type request struct {
	Protocol int `json:"protocol"`
	Evidence struct {
		CPUType string `json:"cpu_type"`
		Types   map[string]struct {
			Total int64 `json:"total"`
			Top   []struct {
				Function string  `json:"function"`
				Flat     int64   `json:"flat"`
				FlatPct  float64 `json:"flat_pct"`
			} `json:"top"`
		} `json:"types"`
	} `json:"evidence"`
}

type figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Of    string  `json:"of,omitempty"`
}

type finding struct {
	Title    string   `json:"title"`
	Category string   `json:"category"`
	Score    int      `json:"score"`
	Detail   string   `json:"detail"`
	Share    float64  `json:"share"`
	Figures  []figure `json:"figures"`
	Key      []string `json:"key"`
	Query    string   `json:"query"`
	Advice   string   `json:"advice"`
}

type response struct {
	Findings []finding `json:"findings"`
	Error    string    `json:"error,omitempty"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "reading the request:", err)
		os.Exit(2)
	}
	if req.Protocol != 1 {
		fmt.Fprintf(os.Stderr, "protocol %d: this plugin speaks protocol 1\n", req.Protocol)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(diagnose(&req)); err != nil {
		fmt.Fprintln(os.Stderr, "writing the response:", err)
		os.Exit(2)
	}
}

func diagnose(req *request) response {
	cpu := req.Evidence.CPUType
	typ := req.Evidence.Types[cpu]
	if cpu == "" || typ.Total == 0 {
		return response{Error: "no CPU samples in the evidence: capture with --probes cpu"}
	}
	resp := response{Findings: []finding{}}
	for _, f := range typ.Top {
		if f.FlatPct <= threshold {
			continue
		}
		resp.Findings = append(resp.Findings, finding{
			Title:    fmt.Sprintf("%s alone takes %.0f%% of the CPU time", f.Function, f.FlatPct),
			Category: "big-frame",
			Score:    min(100, int(f.FlatPct)),
			Detail:   fmt.Sprintf("%s is the leaf of %.1f%% of %s (%.2f s of %.2f s): the time is in its own code, not in what it calls.", f.Function, f.FlatPct, cpu, float64(f.Flat)/1e9, float64(typ.Total)/1e9),
			Share:    f.FlatPct / 100,
			Figures: []figure{
				{Name: "flat_share", Value: f.FlatPct, Unit: "%", Of: fmt.Sprintf("%s total %.2f s", cpu, float64(typ.Total)/1e9)},
				{Name: "flat_ns", Value: float64(f.Flat), Unit: "ns"},
			},
			Key:    []string{f.Function},
			Query:  fmt.Sprintf("go tool pprof -sample_index=%s -list='^%s$' profile.pb.gz", cpu, regexp.QuoteMeta(f.Function)),
			Advice: "Read the function's hot lines with the query's -list output: a loop that does more work than needed, or work that could be cached, is the usual cause.",
		})
	}
	return resp
}
