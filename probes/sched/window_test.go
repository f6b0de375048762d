package sched

import "testing"

// closeIn is what switch_in in sched.bpf.c counts when the thread switches
// in at now: the parts of its interval from the window's start on, and
// whether each part is counted there (it ended in the window).
func closeIn(v *schedThreadValue, now uint64) (blocked, runq uint64, nBlocked, nRunq uint64) {
	counted := func(x uint64) uint64 { return max(x, v.FromNs) }
	elapsed := func(to, from uint64) uint64 {
		if to > from {
			return to - from
		}
		return 0
	}
	end := now
	if v.WakeNs != 0 {
		end = v.WakeNs
		runq = elapsed(now, counted(v.WakeNs))
		if elapsed(now, v.WakeNs) > 0 {
			nRunq = 1
		}
	}
	if v.Open == offStack {
		blocked = elapsed(end, counted(v.OffNs))
		if elapsed(end, v.OffNs) > 0 && end > v.FromNs {
			nBlocked = 1
		}
	}
	return blocked, runq, nBlocked, nRunq
}

func TestOpenAt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     schedThreadValue
		final bool
		want  open
	}{
		{"on CPU since before the window", schedThreadValue{InNs: 50, FromNs: 100}, false, open{oncpu: 100}},
		{"on CPU since inside", schedThreadValue{InNs: 150, FromNs: 100}, false, open{oncpu: 50}},
		{"switched in after the end", schedThreadValue{InNs: 210, FromNs: 100}, false, open{}},
		{"exited", schedThreadValue{FromNs: 100}, false, open{}},
		{"blocked throughout", schedThreadValue{Open: offStack, OffNs: 20, FromNs: 100}, false, open{blocked: 100}},
		{"blocked throughout, last window", schedThreadValue{Open: offStack, OffNs: 20, FromNs: 100}, true, open{blocked: 100, nBlocked: 1}},
		{"woken inside", schedThreadValue{Open: offStack, OffNs: 20, WakeNs: 180, FromNs: 100}, false, open{blocked: 80, runq: 20, nBlocked: 1}},
		{"woken inside, last window", schedThreadValue{Open: offStack, OffNs: 20, WakeNs: 180, FromNs: 100}, true, open{blocked: 80, runq: 20, nBlocked: 1, nRunq: 1}},
		{"woken before the window", schedThreadValue{Open: offStack, OffNs: 20, WakeNs: 60, FromNs: 100}, false, open{runq: 100}},
		{"woken after the end, before the switch", schedThreadValue{Open: offStack, OffNs: 120, WakeNs: 205, FromNs: 100}, false, open{blocked: 80}},
		{"switched out after the end", schedThreadValue{Open: offStack, OffNs: 203, FromNs: 100}, false, open{}},
		{"preempted", schedThreadValue{Open: offStack, OffNs: 150, WakeNs: 150, FromNs: 100}, false, open{runq: 50}},
		{"woken, no stack", schedThreadValue{Open: offNoStack, WakeNs: 150, FromNs: 100}, false, open{runq: 50}},
	} {
		if got := openAt(&tc.v, 200, tc.final); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// An interval that spans several windows is split at each boundary: the
// parts Drain counts (openAt) and the last one switch_in counts add up to
// the interval, and each of the blocked and run-queue parts is counted
// once, in the window where it ends.
func TestSplitAcrossWindows(t *testing.T) {
	bounds := []uint64{0, 100, 200, 300, 400}
	for _, iv := range []struct{ off, wake, in uint64 }{
		{10, 20, 30},    // inside one window
		{50, 150, 250},  // blocked across one boundary, waiting across the next
		{50, 100, 300},  // woken exactly at a boundary
		{5, 390, 395},   // blocked through three boundaries
		{150, 150, 350}, // preempted, waiting across two
		{150, 0, 350},   // the wakeup not seen
	} {
		v := schedThreadValue{Open: offStack, OffNs: iv.off, WakeNs: iv.wake}
		var blocked, runq, nBlocked, nRunq uint64
		win := uint32(0)
		v.FromNs = bounds[0]
		for _, end := range bounds[1:] {
			if end >= iv.in {
				break
			}
			if end > iv.off { // the interval is open at this boundary: Drain splits it
				o := openAt(&v, end, false)
				blocked, runq, nBlocked, nRunq = blocked+o.blocked, runq+o.runq, nBlocked+o.nBlocked, nRunq+o.nRunq
			}
			win ^= 1
			carry(&v, end, win)
			if v.Win != win || v.FromNs != end || v.OffNs != iv.off || v.WakeNs != iv.wake {
				t.Fatalf("carry: %+v", v)
			}
		}
		b, r, nb, nr := closeIn(&v, iv.in)
		blocked, runq, nBlocked, nRunq = blocked+b, runq+r, nBlocked+nb, nRunq+nr
		wantBlocked, wantRunq := iv.in-iv.off, uint64(0)
		if iv.wake != 0 {
			wantBlocked, wantRunq = iv.wake-iv.off, iv.in-iv.wake
		}
		wantN := uint64(0)
		if wantBlocked > 0 {
			wantN = 1
		}
		if blocked != wantBlocked || runq != wantRunq || nBlocked != wantN || nRunq != min(wantRunq, 1) {
			t.Errorf("interval %+v: blocked %d (%d counted), runq %d (%d counted); want %d (%d), %d (%d)",
				iv, blocked, nBlocked, runq, nRunq, wantBlocked, wantN, wantRunq, min(wantRunq, 1))
		}
	}
}

func TestCarry(t *testing.T) {
	v := schedThreadValue{OncpuNs: 1, BlockedNs: 2, RunqNs: 3, DstateNs: 4, Voluntary: 5, Involuntary: 6,
		AccBlockedNs: [3]uint64{7}, AccRunqCount: [3]uint64{0, 8}, InNs: 9, OffNs: 10, WakeNs: 11,
		UserStack: [3]int32{12}, Open: offStack, Kind: kindDState, Tgid: 13, FromNs: 14}
	carry(&v, 100, 1)
	want := schedThreadValue{InNs: 9, OffNs: 10, WakeNs: 11, UserStack: [3]int32{12}, Open: offStack, Kind: kindDState,
		Tgid: 13, FromNs: 100, Win: 1}
	if v != want {
		t.Errorf("carried %+v, want %+v", v, want)
	}
}
