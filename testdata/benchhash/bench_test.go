// Package benchhash is a benchmark with hashing planted at half its CPU
// time, for the offline diagnosis test in plugins/builtin:
//
//	go test -run '^$' -bench . -cpuprofile cpu.out ./testdata/benchhash
//
// BenchmarkPlanted, on one locked OS thread, alternates 1 ms of the
// thread's CPU time in checksum (SHA-256 over 64 KiB, crypto/sha256) with
// 1 ms in mixBlock (integer mixing), switching by the thread's CPU clock
// so that a busy machine cannot shift the split. It reports each part's
// CPU time per iteration as hash-ns/op and mix-ns/op: hashing is
// hash/(hash+mix), ~50%, of the benchmark's CPU time, and nearly that of
// the profile's (the test binary's start and the runtime add a little).
package benchhash

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var sink uint64

func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

//go:noinline
func checksum(buf []byte) {
	sum := sha256.Sum256(buf)
	copy(buf, sum[:])
}

//go:noinline
func mixBlock(x uint64) uint64 {
	for i := 0; i < 1<<14; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func BenchmarkPlanted(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 64<<10)
	var hash, mix time.Duration
	x := uint64(1)
	for b.Loop() {
		start := threadCPU()
		now := start
		for now-start < time.Millisecond {
			checksum(buf)
			now = threadCPU()
		}
		hash += now - start
		start = now
		for now-start < time.Millisecond {
			x = mixBlock(x)
			now = threadCPU()
		}
		mix += now - start
	}
	sink = x
	b.ReportMetric(float64(hash)/float64(b.N), "hash-ns/op")
	b.ReportMetric(float64(mix)/float64(b.N), "mix-ns/op")
}
