package probes

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/profile"
)

// PIDHistKey is the key of a probe's `pid_hists` map (PID_HIST_MAP in
// bpf/common.h): a target process and the histogram's index in the
// probe's session array (win * n + hist).
type PIDHistKey struct {
	Tgid uint32
	Idx  uint32
}

// ReadPIDHists reads the histograms per target process of window win from
// a `pid_hists` map whose indexes are win*n + hist (hist < n): per tgid,
// per hist. It returns the keys read, which the caller deletes
// (DeleteKeys) once the window is read, as it clears the window's other
// slots: the map then holds the current window's entries only, and a
// process gone leaves nothing behind.
func ReadPIDHists(m *ebpf.Map, win uint32, n int) (map[uint32]map[uint32]*profile.Histogram, []PIDHistKey, error) {
	keys, vals, err := Entries[PIDHistKey, profile.Histogram](m)
	if err != nil {
		return nil, nil, fmt.Errorf("reading histograms per process: %w", err)
	}
	out := map[uint32]map[uint32]*profile.Histogram{}
	var done []PIDHistKey
	for i, k := range keys {
		if k.Idx/uint32(n) != win {
			continue // the other window's, written meanwhile
		}
		done = append(done, k)
		if out[k.Tgid] == nil {
			out[k.Tgid] = map[uint32]*profile.Histogram{}
		}
		out[k.Tgid][k.Idx%uint32(n)] = &vals[i]
	}
	return out, done, nil
}

// AddTargetHist adds h to histogram name of target pid in c
// (Capture.TargetHistograms).
func AddTargetHist(c *profile.Capture, pid int, name string, h *profile.Histogram) {
	if c.TargetHistograms == nil {
		c.TargetHistograms = map[int]map[string]*profile.Histogram{}
	}
	hs := c.TargetHistograms[pid]
	if hs == nil {
		hs = map[string]*profile.Histogram{}
		c.TargetHistograms[pid] = hs
	}
	if old := hs[name]; old != nil {
		old.Add(h)
		return
	}
	cp := *h
	hs[name] = &cp
}

// SetPIDHists sets a probe's spec for Options.TargetHistograms before load:
// the `pid_hists_on` knob (PID_HIST_MAP in bpf/common.h), so that off, the
// verifier removes the recording; and off, `pid_hists` shrinks to one
// entry, where 1,024 preallocated ones would take ~2 MiB of kernel memory
// for nothing.
func (o Options) SetPIDHists(spec *ebpf.CollectionSpec) error {
	if err := spec.Variables["pid_hists_on"].Set(o.TargetHistograms); err != nil {
		return fmt.Errorf("setting pid_hists_on: %w", err)
	}
	if !o.TargetHistograms {
		spec.Maps["pid_hists"].MaxEntries = 1
	}
	return nil
}
