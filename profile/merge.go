package profile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Sample types the Go runtime's own profiles become in a merged profile.
// They sit beside the eBPF types and, like them, are never summed with
// another type.
const (
	TypeGoCPU        = "go_cpu"         // the Go CPU profile (SIGPROF), nanoseconds
	TypeGoWall       = "go_wall"        // fgprof: wall time of every goroutine, running or waiting, nanoseconds
	TypeGoMutexDelay = "go_mutex_delay" // time goroutines waited for a sync.Mutex/RWMutex held by this stack, nanoseconds
	TypeGoBlockDelay = "go_block_delay" // time goroutines spent blocked (channels, select, locks), nanoseconds
	TypeGoGoroutines = "go_goroutines"  // goroutines alive at the end of the window, count

	// The heap profile's four types. alloc_* count what was allocated
	// during the window; inuse_* what was live at its end (as of the last
	// garbage collection before it), so summing inuse_* over windows means
	// nothing.
	TypeGoAllocObjects = "go_alloc_objects" // objects allocated in the window, count
	TypeGoAllocSpace   = "go_alloc_space"   // bytes allocated in the window
	TypeGoInuseObjects = "go_inuse_objects" // objects live at the end of the window, count
	TypeGoInuseSpace   = "go_inuse_space"   // bytes live at the end of the window
)

// The "source" string label says where a merged sample came from.
const (
	SourceLabel   = "source"
	SourceEBPF    = "ebpf"
	SourceGoPprof = "go_pprof"
	SourceFgprof  = "fgprof"
)

// goKinds maps each Go profile kind to the sample types it carries and
// the merged types they become, and to its source label.
var goKinds = map[string]struct {
	types  map[string]string
	source string
}{
	"cpu":       {map[string]string{"cpu": TypeGoCPU}, SourceGoPprof},
	"wall":      {map[string]string{"time": TypeGoWall}, SourceFgprof},
	"mutex":     {map[string]string{"delay": TypeGoMutexDelay}, "go_mutex"},
	"block":     {map[string]string{"delay": TypeGoBlockDelay}, "go_block"},
	"goroutine": {map[string]string{"goroutine": TypeGoGoroutines}, "go_goroutine"},
	"heap": {map[string]string{
		"alloc_objects": TypeGoAllocObjects, "alloc_space": TypeGoAllocSpace,
		"inuse_objects": TypeGoInuseObjects, "inuse_space": TypeGoInuseSpace,
	}, "go_heap"},
}

// Part is one profile to merge: which of its sample types to take, under
// which merged name, and the source label its samples get.
type Part struct {
	Profile *profile.Profile
	Source  string
	// Types maps a sample type of Profile to its name in the merged
	// profile. Types not listed are left out. Nil takes every type as is.
	Types map[string]string
}

// GoPart returns the Part for one of the Go runtime's profiles: kind is
// "cpu", "wall" (fgprof), "mutex", "block", "goroutine" or "heap" (its
// alloc_objects, alloc_space, inuse_objects and inuse_space become
// go_alloc_objects, go_alloc_space, go_inuse_objects and go_inuse_space).
// It fails when the profile lacks a sample type that kind needs.
func GoPart(kind string, p *profile.Profile) (Part, error) {
	k, ok := goKinds[kind]
	if !ok {
		return Part{}, fmt.Errorf("unknown Go profile kind %q", kind)
	}
	for _, from := range slices.Sorted(maps.Keys(k.types)) {
		if ValueIndex(p, from) < 0 {
			return Part{}, fmt.Errorf("the Go %s profile has no %q sample type (has %s)", kind, from, typeNames(p))
		}
	}
	return Part{Profile: p, Source: k.source, Types: maps.Clone(k.types)}, nil
}

func typeNames(p *profile.Profile) string {
	var names []string
	for _, st := range p.SampleType {
		names = append(names, st.Type+"/"+st.Unit)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Merge builds one profile out of parts in one symbol space: a function
// has one name and one id whatever part it came from, and a location is
// shared when its address and frames agree. The merged sample types are
// the union of the parts' (renamed) types in order of first appearance;
// each sample keeps its values in its own types and zero in every other,
// so quantities from different sources are never added together. The
// first part gives the profile its time, duration, period and comments.
func Merge(parts ...Part) (*profile.Profile, error) {
	m := &merger{
		out:       &profile.Profile{},
		typeIndex: map[string]int{},
		functions: map[string]*profile.Function{},
		mappings:  map[mappingKey]*profile.Mapping{},
		locations: map[string]*profile.Location{},
	}
	for _, part := range parts {
		if part.Profile == nil {
			continue
		}
		for _, st := range part.Profile.SampleType {
			if name, ok := part.rename(st.Type); ok {
				m.addType(name, st.Unit)
			}
		}
	}
	if len(m.out.SampleType) == 0 {
		return nil, fmt.Errorf("nothing to merge: no part has a sample type to keep")
	}
	first := true
	for _, part := range parts {
		if part.Profile == nil {
			continue
		}
		if first {
			src := part.Profile
			m.out.TimeNanos, m.out.DurationNanos = src.TimeNanos, src.DurationNanos
			m.out.PeriodType, m.out.Period = src.PeriodType, src.Period
			m.out.Comments = slices.Clone(src.Comments)
			if name, ok := part.rename(src.DefaultSampleType); ok {
				m.out.DefaultSampleType = name
			}
			first = false
		}
		m.add(part)
	}
	if m.out.DefaultSampleType == "" {
		m.out.DefaultSampleType = m.out.SampleType[0].Type
	}
	// Merge folds samples with equal stacks and labels.
	merged, err := profile.Merge([]*profile.Profile{m.out})
	if err != nil {
		return nil, fmt.Errorf("compacting merged profile: %w", err)
	}
	if err := merged.CheckValid(); err != nil {
		return nil, fmt.Errorf("checking merged profile: %w", err)
	}
	return merged, nil
}

func (p Part) rename(typ string) (string, bool) {
	if p.Types == nil {
		return typ, typ != ""
	}
	name, ok := p.Types[typ]
	return name, ok
}

type mappingKey struct {
	start, limit, offset uint64
	file, buildID        string
}

type merger struct {
	out       *profile.Profile
	typeIndex map[string]int
	functions map[string]*profile.Function
	mappings  map[mappingKey]*profile.Mapping
	locations map[string]*profile.Location
}

func (m *merger) addType(name, unit string) {
	if _, ok := m.typeIndex[name]; ok {
		return
	}
	m.typeIndex[name] = len(m.out.SampleType)
	m.out.SampleType = append(m.out.SampleType, &profile.ValueType{Type: name, Unit: unit})
}

func (m *merger) add(part Part) {
	src := part.Profile
	// where[i] is the merged index of the part's value i, or -1.
	where := make([]int, len(src.SampleType))
	for i, st := range src.SampleType {
		where[i] = -1
		if name, ok := part.rename(st.Type); ok {
			if j, ok := m.typeIndex[name]; ok && m.out.SampleType[j].Unit == st.Unit {
				where[i] = j
			}
		}
	}
	seen := make(map[*profile.Location]*profile.Location, len(src.Location))
	for _, s := range src.Sample {
		vals := make([]int64, len(m.out.SampleType))
		nonzero := false
		for i, v := range s.Value {
			if i < len(where) && where[i] >= 0 && v != 0 {
				vals[where[i]] += v
				nonzero = true
			}
		}
		if !nonzero {
			continue
		}
		ns := &profile.Sample{Value: vals, NumLabel: s.NumLabel, NumUnit: s.NumUnit}
		ns.Label = make(map[string][]string, len(s.Label)+1)
		for k, v := range s.Label {
			ns.Label[k] = v
		}
		if part.Source != "" {
			ns.Label[SourceLabel] = []string{part.Source}
		}
		ns.Location = make([]*profile.Location, len(s.Location))
		for i, l := range s.Location {
			nl, ok := seen[l]
			if !ok {
				nl = m.location(l)
				seen[l] = nl
			}
			ns.Location[i] = nl
		}
		m.out.Sample = append(m.out.Sample, ns)
	}
}

// location returns the merged location equal to l: same mapping, address
// and frames (function name and line).
func (m *merger) location(l *profile.Location) *profile.Location {
	var b strings.Builder
	mp := m.mapping(l.Mapping)
	if mp != nil {
		fmt.Fprintf(&b, "%d", mp.ID)
	}
	fmt.Fprintf(&b, "|%x|", l.Address)
	for _, ln := range l.Line {
		name := ""
		if ln.Function != nil {
			name = ln.Function.Name
		}
		fmt.Fprintf(&b, "%s:%d;", name, ln.Line)
	}
	key := b.String()
	if nl, ok := m.locations[key]; ok {
		for _, ln := range l.Line {
			m.function(ln.Function) // fill in what the first source lacked
		}
		return nl
	}
	nl := &profile.Location{ID: uint64(len(m.out.Location) + 1), Mapping: mp, Address: l.Address, IsFolded: l.IsFolded}
	for _, ln := range l.Line {
		nl.Line = append(nl.Line, profile.Line{Function: m.function(ln.Function), Line: ln.Line, Column: ln.Column})
	}
	m.out.Location = append(m.out.Location, nl)
	m.locations[key] = nl
	return nl
}

// function returns the merged function of that name: one symbol space,
// whichever source named it first gives the file and start line, the
// others fill in what it lacked.
func (m *merger) function(f *profile.Function) *profile.Function {
	if f == nil {
		return nil
	}
	if nf, ok := m.functions[f.Name]; ok {
		if nf.Filename == "" {
			nf.Filename = f.Filename
		}
		if nf.StartLine == 0 {
			nf.StartLine = f.StartLine
		}
		return nf
	}
	nf := &profile.Function{ID: uint64(len(m.out.Function) + 1), Name: f.Name, SystemName: f.SystemName, Filename: f.Filename, StartLine: f.StartLine}
	m.out.Function = append(m.out.Function, nf)
	m.functions[f.Name] = nf
	return nf
}

func (m *merger) mapping(mp *profile.Mapping) *profile.Mapping {
	if mp == nil {
		return nil
	}
	k := mappingKey{mp.Start, mp.Limit, mp.Offset, mp.File, mp.BuildID}
	if nm, ok := m.mappings[k]; ok {
		return nm
	}
	nm := *mp
	nm.ID = uint64(len(m.out.Mapping) + 1)
	m.out.Mapping = append(m.out.Mapping, &nm)
	m.mappings[k] = &nm
	return &nm
}
