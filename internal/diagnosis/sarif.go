package diagnosis

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/perfprobe/perfprobe/plugins"
)

// SARIF 2.1.0, the subset code-scanning UIs read. Hand-written: it is a
// dozen small structs, and no SARIF module is among our dependencies.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	ShortDescription sarifMessage `json:"shortDescription"`
	Help             sarifMessage `json:"help"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID              string             `json:"ruleId"`
	Level               string             `json:"level"` // note | warning | error
	Message             sarifMessage       `json:"message"`
	Locations           []sarifLocation    `json:"locations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int64 `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`   // "external": the bottleneck list
	Status        string `json:"status"` // "accepted"
	Justification string `json:"justification"`
}

// SourceLocator finds a function's source file and first line (from the
// profile's symbols); ok false when unknown.
type SourceLocator func(function string) (file string, line int64, ok bool)

// WriteSARIF writes the findings as a SARIF 2.1.0 log: one rule per plugin
// and category, the finding's id as its partial fingerprint (so a code
// scanning UI tracks it across runs), acceptable bottlenecks as accepted
// suppressions, and the location of the function that makes the problem
// (the finding's key, else its first stack's first function with source).
func WriteSARIF(w io.Writer, rep *plugins.Report, locate SourceLocator, version string) error {
	rules := map[string]sarifRule{}
	run := sarifRun{Results: []sarifResult{}}
	for _, f := range rep.Findings {
		id := f.Plugin + "/" + f.Category
		if _, ok := rules[id]; !ok {
			rules[id] = sarifRule{ID: id, Name: ruleName(f), ShortDescription: sarifMessage{Text: f.Category + " (" + f.Plugin + ")"}, Help: sarifMessage{Text: f.Advice}}
		}
		r := sarifResult{
			RuleID:              id,
			Level:               sarifLevel(f.Severity),
			Message:             sarifMessage{Text: f.Title + ". " + f.Detail},
			PartialFingerprints: map[string]string{"perfprobe/v1": f.ID},
			Properties: map[string]any{
				"score": f.Score, "confidence": f.Confidence.Level, "status": f.Status,
				"share": f.Share, "query": f.Query, "bottleneck": f.Bottleneck,
			},
		}
		if loc, ok := sarifLocate(f, locate); ok {
			r.Locations = []sarifLocation{loc}
		}
		if f.Status == plugins.StatusAcceptable {
			r.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: "listed as acceptable in the bottleneck list (" + f.Bottleneck + ")"}}
		}
		run.Results = append(run.Results, r)
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	run.Tool.Driver = sarifDriver{Name: "perfprobe", InformationURI: "https://github.com/perfprobe/perfprobe", Version: version, Rules: []sarifRule{}}
	for _, id := range ids {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rules[id])
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	b, err := json.MarshalIndent(log, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func ruleName(f plugins.Finding) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(f.Category, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func sarifLevel(s plugins.Severity) string {
	switch s {
	case plugins.Critical:
		return "error"
	case plugins.Warning:
		return "warning"
	}
	return "note"
}

// sarifLocate places a finding at the first of its key and its first
// stack's frames that has a source file outside the Go distribution, or at
// the first with any source, else logically at the key's function.
func sarifLocate(f plugins.Finding, locate SourceLocator) (sarifLocation, bool) {
	var cands []string
	cands = append(cands, f.Key...)
	if len(f.Stacks) > 0 {
		cands = append(cands, f.Stacks[0]...)
	}
	if locate != nil {
		var fallback *sarifLocation
		for _, fn := range cands {
			file, line, ok := locate(fn)
			if !ok || file == "" {
				continue
			}
			loc := sarifLocation{
				PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(file)}, Region: &sarifRegion{StartLine: max(line, 1)}},
				LogicalLocations: []sarifLogical{{FullyQualifiedName: fn, Kind: "function"}},
			}
			if !strings.Contains(file, "/go/src/") && !strings.Contains(file, "/pkg/mod/") {
				return loc, true
			}
			if fallback == nil {
				fallback = &loc
			}
		}
		if fallback != nil {
			return *fallback, true
		}
	}
	if len(cands) > 0 {
		return sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: cands[0], Kind: "function"}}}, true
	}
	return sarifLocation{}, false
}

func fileURI(file string) string {
	if filepath.IsAbs(file) {
		return (&url.URL{Scheme: "file", Path: file}).String()
	}
	return filepath.ToSlash(file)
}
