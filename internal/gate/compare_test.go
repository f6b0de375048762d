package gate

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// noisy returns n samples around center with a relative normal noise.
func noisy(r *rand.Rand, n int, center, noise float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = center * (1 + noise*r.NormFloat64())
	}
	return out
}

func set(name, unit string, kind Kind, higher bool, v []float64) *Set {
	s := NewSet()
	for _, x := range v {
		s.Add(name, unit, kind, higher, x, "")
	}
	return s
}

func verdictOf(t *testing.T, r *Report, name string) Row {
	t.Helper()
	for _, row := range r.Rows {
		if row.Name == name {
			return row
		}
	}
	t.Fatalf("no row %s in %+v", name, r.Rows)
	return Row{}
}

// A 12% slowdown under 1% noise over 10 runs is flagged, whatever the
// noise drew (200 draws); a 2% change under 5% noise is unchanged in all
// of them.
func TestCompareStatistics(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		base := set("BenchmarkX", "sec/op", KindTime, false, noisy(r, 10, 1e-3, 0.01))
		head := set("BenchmarkX", "sec/op", KindTime, false, noisy(r, 10, 1.12e-3, 0.01))
		row := verdictOf(t, Compare(base, head, nil, now), "BenchmarkX")
		if row.Verdict != Regressed || row.Delta < 0.10 || row.Delta > 0.14 {
			t.Fatalf("seed %d: 12%% slowdown, 1%% noise: %s %+.3f (%s)", seed, row.Verdict, row.Delta, row.Note)
		}
		base = set("BenchmarkY", "sec/op", KindTime, false, noisy(r, 10, 1e-3, 0.05))
		head = set("BenchmarkY", "sec/op", KindTime, false, noisy(r, 10, 1.02e-3, 0.05))
		rep := Compare(base, head, nil, now)
		if row := verdictOf(t, rep, "BenchmarkY"); row.Verdict != Unchanged || rep.Failed {
			t.Fatalf("seed %d: 2%% change, 5%% noise: %s %+.3f (%s)", seed, row.Verdict, row.Delta, row.Note)
		}
	}
}

func TestCompareNotEnoughData(t *testing.T) {
	base := set("BenchmarkX", "sec/op", KindTime, false, []float64{1, 1.01})
	head := set("BenchmarkX", "sec/op", KindTime, false, []float64{2, 2.02})
	rep := Compare(base, head, nil, now)
	row := verdictOf(t, rep, "BenchmarkX")
	if row.Verdict != NotEnoughData || rep.Failed {
		t.Errorf("2 samples per side, doubled: %s (failed %v), want not enough data", row.Verdict, rep.Failed)
	}
	if !strings.Contains(row.Note, "2 and 2 samples, want at least 5") {
		t.Errorf("note %q", row.Note)
	}
}

// Throughput is worse when it falls; a rise is an improvement; memory has
// its 15% threshold, so +12% is unchanged and +20% regressed.
func TestCompareDirectionsAndKinds(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	base, head := NewSet(), NewSet()
	add := func(s *Set, name, unit string, k Kind, hi bool, v []float64) {
		for _, x := range v {
			s.Add(name, unit, k, hi, x, "")
		}
	}
	add(base, "wrk /down", "req/s", KindThroughput, true, noisy(r, 8, 1000, 0.01))
	add(head, "wrk /down", "req/s", KindThroughput, true, noisy(r, 8, 850, 0.01))
	add(base, "wrk /up", "req/s", KindThroughput, true, noisy(r, 8, 1000, 0.01))
	add(head, "wrk /up", "req/s", KindThroughput, true, noisy(r, 8, 1200, 0.01))
	add(base, "mem12", "B/op", KindMemory, false, noisy(r, 8, 1000, 0.005))
	add(head, "mem12", "B/op", KindMemory, false, noisy(r, 8, 1120, 0.005))
	add(base, "mem20", "B/op", KindMemory, false, noisy(r, 8, 1000, 0.005))
	add(head, "mem20", "B/op", KindMemory, false, noisy(r, 8, 1200, 0.005))
	add(base, "share(hashing, oncpu)", "%", KindShare, false, noisy(r, 8, 30, 0.01))
	add(head, "share(hashing, oncpu)", "%", KindShare, false, noisy(r, 8, 36, 0.01))
	add(base, "gone", "s", KindTime, false, []float64{1, 1, 1, 1, 1})
	rep := Compare(base, head, nil, now)
	for name, want := range map[string]Verdict{"wrk /down": Regressed, "wrk /up": Improved, "mem12": Unchanged, "mem20": Regressed, "share(hashing, oncpu)": Regressed, "gone": Missing} {
		if row := verdictOf(t, rep, name); row.Verdict != want {
			t.Errorf("%s: %s (%s), want %s", name, row.Verdict, row.Note, want)
		}
	}
	if row := verdictOf(t, rep, "share(hashing, oncpu)"); row.Delta < 5.5 || row.Delta > 6.5 {
		t.Errorf("share delta %.2f points, want ~6", row.Delta)
	}
	if !rep.Failed || rep.Rows[0].Verdict != Regressed {
		t.Errorf("failed %v, first row %s: want a failing gate with regressions first", rep.Failed, rep.Rows[0].Verdict)
	}
}

func TestWaivers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	base := set("BenchmarkDep", "sec/op", KindTime, false, noisy(r, 10, 1, 0.01))
	head := set("BenchmarkDep", "sec/op", KindTime, false, noisy(r, 10, 1.3, 0.01))
	for _, tc := range []struct {
		name, yaml string
		verdict    Verdict
		failed     bool
		warning    string
	}{
		{"valid", "gate:\n  waivers:\n    - metric: ^BenchmarkDep$\n      reason: upstream zstd 1.6\n      owner: storage-team\n      expires: 2027-01-31\n", Waived, false, ""},
		{"expired", "gate:\n  waivers:\n    - metric: ^BenchmarkDep$\n      reason: upstream zstd 1.6\n      owner: storage-team\n      expires: 2026-12-01\n", Regressed, true, "expired on 2026-12-01 (owner storage-team)"},
		{"other unit", "gate:\n  waivers:\n    - metric: ^BenchmarkDep$\n      unit: B/op\n      reason: r\n      owner: o\n      expires: 2027-01-31\n", Regressed, true, "covers no regression today"},
		{"expired, unused", "gate:\n  waivers:\n    - metric: ^Nothing$\n      reason: r\n      owner: o\n      expires: 2026-11-30\n", Regressed, true, "expired on 2026-11-30"},
	} {
		pol, found, err := ParsePolicy("p.yaml", []byte(tc.yaml))
		if err != nil || !found {
			t.Fatalf("%s: %v %v", tc.name, found, err)
		}
		rep := Compare(base, head, pol, now)
		row := verdictOf(t, rep, "BenchmarkDep")
		if row.Verdict != tc.verdict || rep.Failed != tc.failed {
			t.Errorf("%s: %s failed=%v (%s), want %s failed=%v", tc.name, row.Verdict, rep.Failed, row.Note, tc.verdict, tc.failed)
		}
		if tc.warning != "" && !strings.Contains(strings.Join(rep.Warnings, "\n"), tc.warning) {
			t.Errorf("%s: warnings %q, want %q", tc.name, rep.Warnings, tc.warning)
		}
	}
	// An expired waiver fails even a gate with no regression.
	pol, _, _ := ParsePolicy("p.yaml", []byte("gate:\n  waivers:\n    - metric: x\n      reason: r\n      owner: o\n      expires: 2026-12-02\n"))
	if rep := Compare(base, base, pol, now); !rep.Failed {
		t.Errorf("an expired waiver and no regression: the gate passed")
	}
}

// Paired runs: a 15% slowdown with 3% noise per run is flagged in 10
// pairs; identical sides are unchanged in 100 draws of 10 pairs.
func TestComparePaired(t *testing.T) {
	pairs := func(r *rand.Rand, n int, slow float64) [][2]*Set {
		var out [][2]*Set
		for range n {
			drift := 1 + 0.2*r.Float64() // the machine's speed this pair
			out = append(out, [2]*Set{
				set("wall", "s", KindTime, false, []float64{drift * (1 + 0.03*r.NormFloat64())}),
				set("wall", "s", KindTime, false, []float64{slow * drift * (1 + 0.03*r.NormFloat64())}),
			})
		}
		return out
	}
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 9))
		row := verdictOf(t, ComparePaired(pairs(r, 10, 1.15), nil, now), "wall")
		if row.Verdict != Regressed || !row.Paired || row.DeltaLo <= 0 {
			t.Fatalf("seed %d: 15%% slower in 10 pairs: %s %+.3f [%+.3f, %+.3f] (%s)", seed, row.Verdict, row.Delta, row.DeltaLo, row.DeltaHi, row.Note)
		}
		if row := verdictOf(t, ComparePaired(pairs(r, 10, 1), nil, now), "wall"); row.Verdict != Unchanged {
			t.Fatalf("seed %d: identical sides: %s (%s)", seed, row.Verdict, row.Note)
		}
	}
	if row := verdictOf(t, ComparePaired(pairs(rand.New(rand.NewPCG(1, 1)), 4, 1.5), nil, now), "wall"); row.Verdict != NotEnoughData {
		t.Errorf("4 pairs: %s, want not enough data", row.Verdict)
	}
}
