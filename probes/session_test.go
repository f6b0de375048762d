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
