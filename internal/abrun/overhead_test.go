package abrun

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPairOverhead runs pairs of `true`: ns/op is a whole pair of
// trivial commands (two sh starts included), overhead-ns/pair the
// runner's own share of it (Pair.Overhead).
func BenchmarkPairOverhead(b *testing.B) {
	b.ReportAllocs()
	res, err := Run(context.Background(), Options{Base: "true", Head: "true", Pairs: b.N})
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, p := range res.Pairs {
		sum += p.Overhead
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(res.Pairs)), "overhead-ns/pair")
}
