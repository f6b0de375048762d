package gate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gate on 1,000 benchmarks x 10 runs per side (three units each, as
// -benchmem prints them): reading both files and comparing.
func BenchmarkGate1000(b *testing.B) {
	dir := b.TempDir()
	write := func(name string, scale float64) string {
		r := rand.New(rand.NewPCG(uint64(len(name)), 1))
		var s strings.Builder
		s.WriteString("goos: linux\ngoarch: amd64\npkg: example.com/big\n")
		for run := range 10 {
			for i := range 1000 {
				fmt.Fprintf(&s, "BenchmarkF%04d/size=%d-2 \t 100000\t %.1f ns/op\t %d B/op\t %d allocs/op\n", i, run%1+1, scale*float64(100+i)*(1+0.02*r.NormFloat64()), 64+i, 1+i%7)
			}
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		return path
	}
	base, head := write("base.txt", 1), write("head.txt", 1.05)
	b.ReportAllocs()
	for b.Loop() {
		bs, err := Load(base)
		if err != nil {
			b.Fatal(err)
		}
		hs, err := Load(head)
		if err != nil {
			b.Fatal(err)
		}
		rep := Compare(bs, hs, nil, time.Now())
		if len(rep.Rows) != 3000 {
			b.Fatalf("%d rows", len(rep.Rows))
		}
	}
}
