// Package benchpkg is a benchmark whose hot function is known, for
// `perfprobe run -- go test -run X -bench . ./testdata/benchpkg`: nearly
// all of the test binary's CPU is in mixBlock.
package benchpkg

import "testing"

var sink uint64

//go:noinline
func mixBlock(seed uint64) uint64 {
	x := seed
	for i := 0; i < 1<<16; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func BenchmarkMix(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		sink += mixBlock(uint64(i))
	}
}
