package flame

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/google/pprof/profile"

	pp "github.com/perfprobe/perfprobe/profile"
)

// speedscopeSchema names the file format speedscope (speedscope.app and
// its offline build) reads.
const speedscopeSchema = "https://www.speedscope.app/file-format-schema.json"

type ssFile struct {
	Schema             string      `json:"$schema"`
	Shared             ssShared    `json:"shared"`
	Profiles           []ssProfile `json:"profiles"`
	Name               string      `json:"name"`
	ActiveProfileIndex int         `json:"activeProfileIndex"`
	Exporter           string      `json:"exporter"`
}

type ssShared struct {
	Frames []ssFrame `json:"frames"`
}

type ssFrame struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
}

type ssProfile struct {
	Type       string  `json:"type"`
	Name       string  `json:"name"`
	Unit       string  `json:"unit"`
	StartValue int64   `json:"startValue"`
	EndValue   int64   `json:"endValue"`
	Samples    [][]int `json:"samples"`
	Weights    []int64 `json:"weights"`
}

// WriteSpeedscope writes p as a speedscope JSON file: one sampled profile
// per sample type with a non-zero total (all of them share one frame
// table), stacks root first, equal stacks merged and sorted so the output
// is stable. The profile of the default sample type is the one shown
// first.
func WriteSpeedscope(w io.Writer, p *profile.Profile, name string) error {
	f := ssFile{Schema: speedscopeSchema, Name: name, Exporter: "perfprobe", Shared: ssShared{Frames: []ssFrame{}}}
	frameIndex := map[ssFrame]int{}
	frameOf := func(fr ssFrame) int {
		i, ok := frameIndex[fr]
		if !ok {
			i = len(f.Shared.Frames)
			f.Shared.Frames = append(f.Shared.Frames, fr)
			frameIndex[fr] = i
		}
		return i
	}
	files := fileNames(p)
	for i, st := range p.SampleType {
		sums := map[string]int64{}
		var order []string
		stacks := map[string][]int{}
		for _, s := range p.Sample {
			v := s.Value[i]
			if v == 0 {
				continue
			}
			names := pp.Frames(s)
			slices.Reverse(names)
			idx := make([]int, len(names))
			for j, n := range names {
				idx[j] = frameOf(ssFrame{Name: n, File: files[n]})
			}
			k := strings.Join(names, "\x00")
			if _, ok := sums[k]; !ok {
				order = append(order, k)
				stacks[k] = idx
			}
			sums[k] += v
		}
		if len(order) == 0 {
			continue
		}
		sort.Strings(order)
		prof := ssProfile{Type: "sampled", Name: st.Type, Unit: speedscopeUnit(st.Unit)}
		for _, k := range order {
			prof.Samples = append(prof.Samples, stacks[k])
			prof.Weights = append(prof.Weights, sums[k])
			prof.EndValue += sums[k]
		}
		if st.Type == p.DefaultSampleType {
			f.ActiveProfileIndex = len(f.Profiles)
		}
		f.Profiles = append(f.Profiles, prof)
	}
	if len(f.Profiles) == 0 {
		return fmt.Errorf("the profile has no samples to write")
	}
	enc := json.NewEncoder(w)
	return enc.Encode(f)
}

// fileNames maps function names (as pp.Frames gives them) to source files.
func fileNames(p *profile.Profile) map[string]string {
	out := map[string]string{}
	for _, fn := range p.Function {
		if fn.Filename != "" {
			out[fn.Name] = fn.Filename
		}
	}
	return out
}

// speedscopeUnit maps a pprof unit to one of speedscope's weight units.
func speedscopeUnit(u string) string {
	switch u {
	case "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes":
		return u
	}
	return "none"
}
