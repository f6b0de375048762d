package sched

import (
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
)

// PIDHistEntries counts the entries of pid_hists per tgid, and those of
// another window than the current one, for the external tests.
func (p *Probe) PIDHistEntries() (perPID map[uint32]int, stale int, err error) {
	keys, _, err := probes.Entries[probes.PIDHistKey, profile.Histogram](p.objs.PidHists)
	if err != nil {
		return nil, 0, err
	}
	perPID = map[uint32]int{}
	for _, k := range keys {
		perPID[k.Tgid]++
		if k.Idx/uint32(histMax) != p.win {
			stale++
		}
	}
	return perPID, stale, nil
}

// PIDHistsMax is the number of entries pid_hists was loaded with.
func (p *Probe) PIDHistsMax() uint32 { return p.objs.PidHists.MaxEntries() }

// Summary is the probe's terminal summary, for the external tests.
var Summary = summary

// SetGoLocked turns the locked-goroutine attribution on or off for probes
// attached from now on (off: no Go target gets runtime offsets).
func SetGoLocked(on bool) { goLockedOff = !on }

// MeasureSwitchOut makes probes attached from now on time their target
// switch-outs in BPF and hand the totals to f at Collect; nil stops it.
func MeasureSwitchOut(f func(SwitchOutCost)) { measure = f }
