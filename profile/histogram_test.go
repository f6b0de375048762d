package profile

import "testing"

func TestPercentile(t *testing.T) {
	var h Histogram
	// 90 values in [1024, 2048), 10 in [1<<20, 1<<21), max 1.5 MiB.
	h.Slots[10] = 90
	h.Slots[20] = 10
	h.Count, h.MaxNs = 100, 1<<20+1<<19

	cases := []struct {
		q        float64
		min, max uint64
	}{
		{0.5, 1024, 2048},
		{0.9, 2000, 2048},
		{0.95, 1 << 20, 1<<20 + 1<<19},
		{1.0, 1<<20 + 1<<19, 1<<20 + 1<<19},
	}
	for _, c := range cases {
		got := h.Percentile(c.q)
		if got < c.min || got > c.max {
			t.Errorf("p%v = %d, want in [%d, %d]", c.q*100, got, c.min, c.max)
		}
	}
	if p := (&Histogram{}).Percentile(0.5); p != 0 {
		t.Errorf("empty histogram p50 = %d, want 0", p)
	}
	if b := h.Buckets(); len(b) != 2 || b[0].LowNs != 1024 || b[1].Count != 10 {
		t.Errorf("buckets = %+v", b)
	}
}
