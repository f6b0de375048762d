// Package benchtiny is a benchmark for gate's test of real go test -bench
// output: two sub-benchmarks, with allocations reported.
package benchtiny

import (
	"fmt"
	"hash/fnv"
	"testing"
)

func BenchmarkTiny(b *testing.B) {
	for _, n := range []int{64, 4096} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, n)
			for b.Loop() {
				h := fnv.New64a()
				h.Write(buf)
				_ = h.Sum64()
			}
		})
	}
}
