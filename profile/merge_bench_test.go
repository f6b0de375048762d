package profile

import (
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// BenchmarkMergeDemo30s merges a real 30 s capture of the demo service:
// the eBPF profile with the Go CPU and fgprof profiles of the same window,
// then builds the consistency check and the wall-explained view, as attach
// does. peak-heap-MB is the live heap right after one merge with the GC
// off, over the inputs already loaded.
func BenchmarkMergeDemo30s(b *testing.B) {
	dir := filepath.Join("testdata", "demo30s")
	ebpf, err := Load(filepath.Join(dir, "ebpf.pb.gz"))
	if err != nil {
		b.Fatal(err)
	}
	cpu, err := Load(filepath.Join(dir, "go-cpu.pb.gz"))
	if err != nil {
		b.Fatal(err)
	}
	wall, err := Load(filepath.Join(dir, "go-wall.pb.gz"))
	if err != nil {
		b.Fatal(err)
	}
	cp, err := GoPart("cpu", cpu)
	if err != nil {
		b.Fatal(err)
	}
	wp, err := GoPart("wall", wall)
	if err != nil {
		b.Fatal(err)
	}
	merge := func() {
		m, err := Merge(Part{Profile: ebpf, Source: SourceEBPF}, cp, wp)
		if err != nil {
			b.Fatal(err)
		}
		if CheckConsistency(m, 10) == nil || len(WallByGoroutine(m, 20)) == 0 {
			b.Fatal("merged profile lacks go_cpu or go_wall")
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	old := debugSetGCPercent(-1)
	merge()
	runtime.ReadMemStats(&after)
	debugSetGCPercent(old)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		merge()
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(len(ebpf.Sample)+len(cpu.Sample)+len(wall.Sample)), "input-samples")
}

func debugSetGCPercent(p int) int { return debug.SetGCPercent(p) }
