package profile

import "math"

// HistSlots is the number of log2 slots a kernel histogram has.
const HistSlots = 64

// Histogram is a log2 latency histogram in nanoseconds as aggregated in the
// kernel: slot i counts values in [2^i, 2^(i+1)), slot 0 also counts 0 and 1.
type Histogram struct {
	Slots [HistSlots]uint64
	Count uint64
	SumNs uint64
	MaxNs uint64
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
	if i == 0 {
		return 0, 2
	}
	if i >= 63 {
		return 1 << 63, math.MaxUint64
	}
	return 1 << i, 1 << (i + 1)
}

// Percentile estimates the q-th quantile (0 < q <= 1) in nanoseconds by
// linear interpolation inside the log2 slot that holds it, capped at the
// exact maximum. The error is bounded by the slot width (a factor of 2).
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
