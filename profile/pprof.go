package profile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Symbols resolves the addresses of one capture. User resolves in the
// capture's one process; a Symbols that also implements PIDSymbols
// resolves each stack's user addresses in its own process (Stack.PID).
type Symbols interface {
	User(addr uint64, returnAddr bool) symbolize.Frame
	Kernel(addr uint64) symbolize.Frame
}

// PIDSymbols resolves the user addresses of many processes.
type PIDSymbols interface {
	UserOf(pid int, addr uint64, returnAddr bool) symbolize.Frame
}

// ProcessSymbols resolves through process snapshots and the kernel's
// symbols: Processes by pid, or Process, the snapshot of a one-process
// capture, for the stacks of its pid (and those without one). Any may be
// nil, and then addresses stay raw.
type ProcessSymbols struct {
	Process   *symbolize.Process
	Processes map[int]*symbolize.Process
	Kern      *symbolize.Kernel
}

// User implements Symbols.
func (s ProcessSymbols) User(addr uint64, ret bool) symbolize.Frame {
	if s.Process == nil {
		return symbolize.Frame{Addr: addr, Function: fmt.Sprintf("[unknown]+0x%x", addr)}
	}
	return s.Process.Symbolize(addr, ret)
}

// UserOf implements PIDSymbols.
func (s ProcessSymbols) UserOf(pid int, addr uint64, ret bool) symbolize.Frame {
	if p := s.Processes[pid]; p != nil {
		return p.Symbolize(addr, ret)
	}
	if s.Process != nil && (pid == 0 || s.Process.PID() == pid) {
		return s.Process.Symbolize(addr, ret)
	}
	return symbolize.Frame{Addr: addr, Function: fmt.Sprintf("[unknown]+0x%x", addr)}
}

// Kernel implements Symbols.
func (s ProcessSymbols) Kernel(addr uint64) symbolize.Frame {
	if s.Kern == nil {
		return symbolize.Frame{Addr: addr, Function: fmt.Sprintf("[kernel]+0x%x", addr)}
	}
	return s.Kern.Symbolize(addr)
}

// ToPprof symbolizes the capture's stacks into one pprof profile. Each
// quantity is its own sample type; a sample carries a value in exactly one
// of them (on-CPU samples also in "samples"). Samples are labelled with
// their process ("pid", and "comm", its name when the capture knows it;
// "ns_pid", its pid in its own pid namespace when that differs, and
// "container", its container or cgroup, when the target's metadata has
// them) and thread ("tid" and "thread"). User addresses resolve in their own
// process when sym implements PIDSymbols.
func (c *Capture) ToPprof(sym Symbols) (*profile.Profile, error) {
	b := newBuilder(sym)
	p := b.p
	types := c.sampleTypes()
	for _, t := range types {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: t.Name, Unit: t.Unit})
	}
	for _, t := range types[1:] {
		if t.Samples || p.DefaultSampleType == "" {
			p.DefaultSampleType = t.Name
		}
		if t.Samples {
			break
		}
	}
	p.TimeNanos = c.Start.UnixNano()
	p.DurationNanos = int64(c.End.Sub(c.Start))
	if c.Hz > 0 {
		p.PeriodType = &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}
		p.Period = int64(time.Second) / int64(c.Hz)
	}
	p.Comments = []string{c.describe()}
	comms := map[int]string{c.Target.PID: c.Target.Comm}
	metas := map[int]*TargetMeta{c.Target.PID: c.Target.Meta}
	for _, t := range c.Targets { // the latest name of a pid: after an exec
		if t.Comm != "" {
			comms[t.PID] = t.Comm
		}
		if t.Meta != nil {
			metas[t.PID] = t.Meta
		}
	}
	index := map[string]int{}
	for i, t := range types {
		index[t.Name] = i
	}
	for _, s := range c.Stacks {
		i, ok := index[s.Type]
		if !ok || i == 0 {
			return nil, fmt.Errorf("capture has a stack of sample type %q, not one of its probes' types", s.Type)
		}
		vals := make([]int64, len(types))
		vals[i] = s.Value
		if types[i].Samples {
			vals[0] = s.Count
		}
		pid := int(s.PID)
		if pid == 0 {
			pid = c.Target.PID
		}
		sample := &profile.Sample{
			Value:    vals,
			Location: b.stack(pid, s.User, s.Kernel),
			NumLabel: map[string][]int64{"pid": {int64(pid)}, "tid": {int64(s.TID)}},
		}
		comm, meta := comms[pid], metas[pid]
		if s.Thread != "" || comm != "" || len(s.Labels) > 0 || meta != nil && meta.Container != "" {
			sample.Label = map[string][]string{}
		}
		if comm != "" {
			sample.Label["comm"] = []string{comm}
		}
		if meta != nil && meta.NSPID != 0 && meta.NSPID != pid {
			sample.NumLabel["ns_pid"] = []int64{int64(meta.NSPID)}
		}
		if meta != nil && meta.Container != "" {
			sample.Label["container"] = []string{meta.Container}
		}
		if s.Thread != "" {
			sample.Label["thread"] = []string{s.Thread}
		}
		for k, v := range s.Labels {
			sample.Label[k] = []string{v}
		}
		p.Sample = append(p.Sample, sample)
	}
	// Merge folds samples with equal stacks and labels and drops unused
	// locations and functions.
	merged, err := profile.Merge([]*profile.Profile{p})
	if err != nil {
		return nil, fmt.Errorf("compacting profile: %w", err)
	}
	if err := merged.CheckValid(); err != nil {
		return nil, fmt.Errorf("checking profile: %w", err)
	}
	return merged, nil
}

// sampleTypes is the order of values in the capture's samples: "samples",
// then its probes' types (c.SampleTypes; for a capture built by hand, the
// types its stacks use) in rank order.
func (c *Capture) sampleTypes() []SampleType {
	names := c.SampleTypes
	if len(names) == 0 {
		for _, s := range c.Stacks {
			if !slices.Contains(names, s.Type) {
				names = append(names, s.Type)
			}
		}
	}
	var out []SampleType
	for i, name := range names {
		t, ok := LookupSampleType(name)
		if !ok { // declared by no probe linked in (a test's capture): after the others, as given
			t = SampleType{Name: name, Unit: "nanoseconds", Samples: name == TypeOnCPU, Rank: 1000 + i}
		}
		if name != SampleCount.Name && !slices.ContainsFunc(out, func(o SampleType) bool { return o.Name == name }) {
			out = append(out, t)
		}
	}
	sortTypes(out)
	return append([]SampleType{SampleCount}, out...)
}

// describe says which processes the capture is of, for the profile's
// comments.
func (c *Capture) describe() string {
	if len(c.Targets) <= 1 {
		return fmt.Sprintf("perfprobe capture of pid %d (%s)", c.Target.PID, c.Target.Comm)
	}
	parts := make([]string, 0, min(len(c.Targets), 10))
	for _, t := range c.Targets[:cap(parts)] {
		parts = append(parts, fmt.Sprintf("%d (%s)", t.PID, t.Comm))
	}
	more := ""
	if n := len(c.Targets) - len(parts); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf("perfprobe capture of %d processes: pids %s%s", len(c.Targets), strings.Join(parts, ", "), more)
}

type builder struct {
	sym       Symbols
	p         *profile.Profile
	mappings  map[*symbolize.Mapping]*profile.Mapping
	locations map[locKey]*profile.Location
	functions map[funcKey]*profile.Function
}

type locKey struct {
	kernel bool
	pid    int // of a user address
	addr   uint64
	ret    bool
}

type funcKey struct{ name, file string }

func newBuilder(sym Symbols) *builder {
	return &builder{
		sym:       sym,
		p:         &profile.Profile{},
		mappings:  map[*symbolize.Mapping]*profile.Mapping{},
		locations: map[locKey]*profile.Location{},
		functions: map[funcKey]*profile.Function{},
	}
}

// stack returns the pprof locations of one stack of process pid, leaf
// first: kernel frames (which ran on behalf of the user leaf) before user
// frames.
func (b *builder) stack(pid int, user, kernel []uint64) []*profile.Location {
	locs := make([]*profile.Location, 0, len(user)+len(kernel))
	for i, a := range kernel {
		locs = append(locs, b.location(locKey{kernel: true, addr: a, ret: i > 0}))
	}
	for i, a := range user {
		// Every user frame but the leaf is a return address; a leaf
		// under kernel frames is one too (the syscall's return).
		ret := i > 0 || len(kernel) > 0
		locs = append(locs, b.location(locKey{pid: pid, addr: a, ret: ret}))
	}
	return locs
}

func (b *builder) location(k locKey) *profile.Location {
	if l, ok := b.locations[k]; ok {
		return l
	}
	var fr symbolize.Frame
	if k.kernel {
		addr := k.addr
		if k.ret {
			addr-- // a return address: look up the call instruction
		}
		fr = b.sym.Kernel(addr)
		fr.Addr = k.addr
	} else if ps, ok := b.sym.(PIDSymbols); ok {
		fr = ps.UserOf(k.pid, k.addr, k.ret)
	} else {
		fr = b.sym.User(k.addr, k.ret)
	}
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: k.addr, Mapping: b.mapping(fr.Mapping)}
	// One Line per function, the inlined ones first: pprof's order, in
	// which the last Line is the real function the others were inlined into.
	l.Line = make([]profile.Line, 0, len(fr.Inlined)+1)
	for _, in := range fr.Inlined {
		l.Line = append(l.Line, profile.Line{Function: b.function(in), Line: int64(in.Line)})
	}
	l.Line = append(l.Line, profile.Line{Function: b.function(fr), Line: int64(fr.Line)})
	b.p.Location = append(b.p.Location, l)
	b.locations[k] = l

	resolved(l.Mapping, fr)
	return l
}

// resolved clears the flags of mapping m (may be nil) that frame fr of it
// lacks: pprof symbolizes later what a mapping does not claim.
func resolved(m *profile.Mapping, fr symbolize.Frame) {
	if m != nil {
		m.HasFunctions = m.HasFunctions && fr.Known
		m.HasFilenames = m.HasFilenames && fr.File != ""
		m.HasLineNumbers = m.HasLineNumbers && fr.Line > 0
	}
}

func (b *builder) function(fr symbolize.Frame) *profile.Function {
	k := funcKey{fr.Function, fr.File}
	if f, ok := b.functions[k]; ok {
		return f
	}
	sys := fr.Function
	if fr.SystemName != "" {
		sys = fr.SystemName // the mangled C++ or Rust name; Name is demangled
	}
	f := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: fr.Function, SystemName: sys, Filename: fr.File}
	b.p.Function = append(b.p.Function, f)
	b.functions[k] = f
	return f
}

func (b *builder) mapping(m *symbolize.Mapping) *profile.Mapping {
	if m == nil {
		return nil
	}
	if pm, ok := b.mappings[m]; ok {
		return pm
	}
	pm := &profile.Mapping{
		ID:      uint64(len(b.p.Mapping) + 1),
		Start:   m.Start,
		Limit:   m.Limit,
		Offset:  m.Offset,
		File:    m.Path,
		BuildID: m.BuildID,
		// Cleared by location when one of the mapping's frames lacks them.
		HasFunctions:   true,
		HasFilenames:   true,
		HasLineNumbers: true,
	}
	b.p.Mapping = append(b.p.Mapping, pm)
	b.mappings[m] = pm
	return pm
}
