package profile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSlotBounds(t *testing.T) {
	for _, v := range []uint64{0, 1, 3, 4, 5, 7, 8, 1000, 1023, 1024, 123456789, 1 << 40, math.MaxUint64} {
		lo, hi := slotBounds(SlotOf(v))
		if v < lo || (v >= hi && hi != math.MaxUint64) {
			t.Errorf("value %d in slot %d = [%d, %d)", v, SlotOf(v), lo, hi)
		}
		if v >= 8 && float64(hi-lo) > 0.25*float64(lo)+1 {
			t.Errorf("slot of %d is [%d, %d): wider than 25%%", v, lo, hi)
		}
	}
	for i := 2 * HistSub; i < HistSlots; i++ { // slots 4..7 are unused
		_, prevHi := slotBounds(i - 1)
		lo, _ := slotBounds(i)
		if i > 2*HistSub && lo != prevHi {
			t.Fatalf("slot %d starts at %d, slot %d ends at %d: gap or overlap", i, lo, i-1, prevHi)
		}
	}
}

// Percentiles of a known distribution come out within 10% of the exact
// ones (the slots are at most 25% wide and interpolated).
func TestPercentile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []uint64
	for range 10000 {
		v := uint64(500_000 + r.ExpFloat64()*300_000) // like fsync: 0.5 ms + a tail
		h.Record(v)
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		exact := float64(vals[int(q*float64(len(vals)))-1])
		got := float64(h.Percentile(q))
		if math.Abs(got-exact)/exact > 0.10 {
			t.Errorf("p%v = %.0f, exact %.0f: off by more than 10%%", q*100, got, exact)
		}
	}
	if h.Percentile(1) != vals[len(vals)-1] {
		t.Errorf("p100 = %d, want the exact max %d", h.Percentile(1), vals[len(vals)-1])
	}
	if p := (&Histogram{}).Percentile(0.5); p != 0 {
		t.Errorf("empty histogram p50 = %d, want 0", p)
	}
	var n uint64
	for _, b := range h.Buckets() {
		n += b.Count
	}
	if n != 10000 {
		t.Errorf("buckets hold %d values, want 10000", n)
	}
}

// A histogram survives capture.json: rebuilt from its report's buckets it
// gives the same percentiles, count, mean and max.
func TestHistogramFromReport(t *testing.T) {
	h := &Histogram{}
	for i := range uint64(5000) {
		h.Record(1000 + i*i%7_000_000)
	}
	g := HistogramFromReport(Summarize(h))
	for _, q := range []float64{0.5, 0.95, 0.99, 1} {
		if a, b := h.Percentile(q), g.Percentile(q); a != b {
			t.Errorf("p%v: %d rebuilt as %d", q*100, a, b)
		}
	}
	if g.Count != h.Count || g.MaxNs != h.MaxNs || g.MeanNs() != h.MeanNs() {
		t.Errorf("rebuilt count %d max %d mean %d, want %d %d %d", g.Count, g.MaxNs, g.MeanNs(), h.Count, h.MaxNs, h.MeanNs())
	}
}
