package probes

import (
	"reflect"
	"testing"

	"github.com/perfprobe/perfprobe/profile"
)

// Every figure of a thread one probe's part of a drained window holds
// reaches the window: merge adds each numeric field of profile.Thread.
func TestMergeThreads(t *testing.T) {
	c := &profile.Capture{Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{}, Drops: map[string]uint64{}}
	one := &profile.Thread{TID: 7, PID: 3, Name: "w"}
	v := reflect.ValueOf(one).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(1)
		}
	}
	for range 2 {
		p := part(c)
		th := *one
		p.Threads[7] = &th
		p.Counts["n"] = 1
		merge(c, p)
	}
	got := reflect.ValueOf(c.Threads[7]).Elem()
	for i := range got.NumField() {
		if f := got.Field(i); f.Kind() == reflect.Uint64 && f.Uint() != 2 {
			t.Errorf("merged thread %s = %d, want 2 (1 from each part)", got.Type().Field(i).Name, f.Uint())
		}
	}
	if c.Threads[7].PID != 3 || c.Threads[7].Name != "w" || c.Counts["n"] != 2 {
		t.Errorf("merged %+v, counts %v", c.Threads[7], c.Counts)
	}
}

// Each probe's histograms per process reach the window, under their pid
// and name; two parts adding to the same pid and name are summed, and the
// parts' histograms are copied, not shared.
func TestMergeTargetHistograms(t *testing.T) {
	c := &profile.Capture{Histograms: map[string]*profile.Histogram{}, Counts: map[string]uint64{}, Drops: map[string]uint64{}}
	var h profile.Histogram
	h.Record(1000)
	h.Record(5000)
	parts := []*profile.Capture{part(c), part(c)}
	AddTargetHist(parts[0], 3, "runqueue", &h)
	AddTargetHist(parts[1], 3, "runqueue", &h)
	AddTargetHist(parts[1], 4, "syscall_fsync", &h)
	for _, p := range parts {
		merge(c, p)
	}
	if got := c.TargetHistograms[3]["runqueue"]; got == nil || got.Count != 4 || got.SumNs != 12000 || got.MaxNs != 5000 {
		t.Errorf("pid 3 runqueue %+v, want 4 values, 12000 ns, max 5000", got)
	}
	if got := c.TargetHistograms[4]["syscall_fsync"]; got == nil || got.Count != 2 || got.SumNs != 6000 {
		t.Errorf("pid 4 syscall_fsync %+v, want 2 values, 6000 ns", got)
	}
	if len(c.TargetHistograms) != 2 || len(c.TargetHistograms[3]) != 1 {
		t.Errorf("histograms per pid %v, want pid 3 runqueue and pid 4 syscall_fsync", c.TargetHistograms)
	}
	if h.Count != 2 || parts[0].TargetHistograms[3]["runqueue"].Count != 2 {
		t.Errorf("merging changed a part's histogram: %d values, part %d", h.Count, parts[0].TargetHistograms[3]["runqueue"].Count)
	}
}
