package capture

import (
	"testing"

	pprof "github.com/google/pprof/profile"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/fetch"
)

// A fetched heap profile is kept raw (written as go-heap.pb.gz) and its
// four types are merged under their go_* names.
func TestMergeGoHeap(t *testing.T) {
	f := &pprof.Function{ID: 1, Name: "main.alloc"}
	l := &pprof.Location{ID: 1, Line: []pprof.Line{{Function: f}}}
	heap := &pprof.Profile{
		SampleType: []*pprof.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
		Function: []*pprof.Function{f}, Location: []*pprof.Location{l},
		Sample: []*pprof.Sample{{Location: []*pprof.Location{l}, Value: []int64{4, 4 << 20, 1, 1 << 20}}},
	}
	raw := map[string]*pprof.Profile{}
	p, gr := mergeGo(nil, &fetch.Result{Heap: heap}, raw)
	if raw["heap"] != heap {
		t.Error("the heap profile is not kept to be written as go-heap.pb.gz")
	}
	if p == nil {
		t.Fatalf("nothing merged; skipped %q", gr.Skipped)
	}
	for typ, want := range map[string]int64{
		profile.TypeGoAllocObjects: 4, profile.TypeGoAllocSpace: 4 << 20,
		profile.TypeGoInuseObjects: 1, profile.TypeGoInuseSpace: 1 << 20,
	} {
		if got := profile.Total(p, typ); got != want {
			t.Errorf("total %s = %d, want %d", typ, got, want)
		}
	}
	if len(gr.Types) != 4 {
		t.Errorf("Go report types %v, want the four heap types", gr.Types)
	}
}
