package profile

import (
	"math"
	"math/bits"
)

// HistSub is the number of slots per power of two; HistSlots the total.
const (
	HistSub   = 4
	HistSlots = 64 * HistSub
)

// Histogram is a log-linear latency histogram in nanoseconds as aggregated
// in the kernel (bpf/common.h): each power of two is split in HistSub equal
// slots, so no slot is wider than 25% of its lower bound; values 0..3 have
// a slot each. Its memory layout is that of struct hist, so probes read
// kernel maps straight into it (probes.SumHist).
type Histogram struct {
	Slots [HistSlots]uint64
	Count uint64
	SumNs uint64
	MaxNs uint64
}

// Record adds one value, slotted as the kernel slots it (bpf/common.h).
func (h *Histogram) Record(ns uint64) {
	h.Slots[SlotOf(ns)]++
	h.Count++
	h.SumNs += ns
	h.MaxNs = max(h.MaxNs, ns)
}

// SlotOf is the slot a value falls in.
func SlotOf(ns uint64) int {
	if ns < HistSub {
		return int(ns)
	}
	l := 63 - bits.LeadingZeros64(ns)
	return l*HistSub + int(ns>>(l-2))&(HistSub-1)
}

// Bucket is one non-empty slot of a histogram, for reports.
type Bucket struct {
	LowNs  uint64 `json:"low_ns"`  // inclusive
	HighNs uint64 `json:"high_ns"` // exclusive
	Count  uint64 `json:"count"`
}

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	for i := range h.Slots {
		h.Slots[i] += o.Slots[i]
	}
	h.Count += o.Count
	h.SumNs += o.SumNs
	h.MaxNs = max(h.MaxNs, o.MaxNs)
}

// Buckets lists the non-empty slots.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, n := range h.Slots {
		if n == 0 {
			continue
		}
		lo, hi := slotBounds(i)
		out = append(out, Bucket{LowNs: lo, HighNs: hi, Count: n})
	}
	return out
}

func slotBounds(i int) (lo, hi uint64) {
	if i < HistSub {
		return uint64(i), uint64(i) + 1
	}
	if i < 2*HistSub { // unused: 0..3 have their own slots
		return HistSub, HistSub
	}
	l, sub := uint(i/HistSub), uint64(i%HistSub)
	lo = (HistSub + sub) << (l - 2)
	if l == 63 && sub == HistSub-1 {
		return lo, math.MaxUint64
	}
	return lo, (HistSub + sub + 1) << (l - 2)
}

// Percentile estimates the q-th quantile (0 < q <= 1) in nanoseconds by
// linear interpolation inside the slot that holds it, capped at the exact
// maximum. The error is bounded by the slot width (25%).
func (h *Histogram) Percentile(q float64) uint64 {
	var total uint64
	for _, n := range h.Slots {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range h.Slots {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo, hi := slotBounds(i)
			hi = min(hi, h.MaxNs+1)
			if hi <= lo {
				return min(lo, h.MaxNs)
			}
			frac := (rank - seen) / float64(n)
			v := float64(lo) + frac*float64(hi-lo)
			return min(uint64(v), h.MaxNs)
		}
		seen += float64(n)
	}
	return h.MaxNs
}

// MeanNs is the exact mean of the recorded values.
func (h *Histogram) MeanNs() uint64 {
	if h.Count == 0 {
		return 0
	}
	return h.SumNs / h.Count
}
