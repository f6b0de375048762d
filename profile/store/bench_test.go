package store

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	pp "github.com/perfprobe/perfprobe/profile"
)

// BenchmarkPut writes 1 MB windows (encoding, fsync, rename, limits).
func BenchmarkPut(b *testing.B) {
	s, err := Open(b.TempDir(), Limits{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	p := bigProfile(rand.New(rand.NewPCG(1, 1)), 1<<20)
	b.ReportAllocs()
	var bytes int64
	for i := 0; b.Loop(); i++ {
		start := base.Add(time.Duration(i) * 15 * time.Second)
		w, err := s.Put(Window{Service: "svc", PID: 1, Start: start, End: start.Add(15 * time.Second)}, p)
		if err != nil {
			b.Fatal(err)
		}
		bytes = w.Bytes
	}
	b.ReportMetric(float64(bytes), "file-bytes")
}

// BenchmarkLoad merges one target-hour: 240 windows of 15 s, each the
// real eBPF profile of the demo service (profile/testdata/demo30s).
func BenchmarkLoad(b *testing.B) {
	p, err := pp.Load(filepath.Join("..", "testdata", "demo30s", "ebpf.pb.gz"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(b.TempDir(), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	var stored int64
	for i := 0; i < 240; i++ {
		start := base.Add(time.Duration(i) * 15 * time.Second)
		w, err := s.Put(Window{Service: "demo", PID: 1, Start: start, End: start.Add(15 * time.Second)}, p)
		if err != nil {
			b.Fatal(err)
		}
		stored += w.Bytes
	}
	b.ReportAllocs()
	for b.Loop() {
		_, used, err := s.Load(Query{})
		if err != nil || len(used) != 240 {
			b.Fatal(len(used), err)
		}
	}
	b.ReportMetric(float64(stored), "store-bytes/target-hour")
}
