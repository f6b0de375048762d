package diagnosis

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/plugins"
	_ "github.com/perfprobe/perfprobe/plugins/builtin"
	"github.com/perfprobe/perfprobe/profile"
)

// bigProfile is a perfprobe-like profile of n unique stacks, 8 to 40 frames
// deep, over a pool of funcs function names among which every frame
// category's functions appear, with values in the eBPF and Go types.
func bigProfile(n, funcs int, seed uint64) *pprof.Profile {
	rng := rand.New(rand.NewPCG(seed, 1))
	types := []string{"samples", profile.TypeOnCPU, profile.TypeOffCPUBlocked, profile.TypeOffCPURunqueue,
		profile.TypeOffCPUUninterruptible, profile.TypeIOWait, profile.TypeGoCPU, profile.TypeGoWall}
	p := &pprof.Profile{DurationNanos: 10e9}
	for i, t := range types {
		unit := "nanoseconds"
		if i == 0 {
			unit = "count"
		}
		p.SampleType = append(p.SampleType, &pprof.ValueType{Type: t, Unit: unit})
	}
	known := []string{
		"crypto/internal/fips140/sha256.blockSHANI", "crypto/tls.(*Conn).clientHandshake", "encoding/json.(*encodeState).marshal",
		"compress/flate.(*compressor).deflate", "runtime.mallocgc", "runtime.gcBgMarkWorker", "runtime.scanobject",
		"sync.(*Mutex).lockSlow", "regexp.Compile", "reflect.Value.Field", "fmt.Sprintf", "syscall.Fsync",
		"internal/poll.(*FD).Write", "futex_wait_[k]", "crypto/internal/fips140/nistec.(*P256Point).ScalarMult",
	}
	fns := make([]*pprof.Function, funcs)
	locs := make([]*pprof.Location, funcs)
	for i := range fns {
		name := fmt.Sprintf("github.com/example/svc/pkg%d.(*T%d).Method%d", i%97, i%13, i)
		if i < len(known) {
			name = known[i]
		}
		fns[i] = &pprof.Function{ID: uint64(i + 1), Name: name, Filename: fmt.Sprintf("/src/pkg%d/f.go", i%97)}
		locs[i] = &pprof.Location{ID: uint64(i + 1), Line: []pprof.Line{{Function: fns[i], Line: int64(10 + i%300)}}}
	}
	p.Function, p.Location = fns, locs
	for range n {
		depth := 8 + rng.IntN(33)
		s := &pprof.Sample{Value: make([]int64, len(types))}
		for range depth {
			s.Location = append(s.Location, locs[rng.IntN(funcs)])
		}
		k := 1 + rng.IntN(len(types)-1)
		s.Value[k] = int64(1+rng.IntN(100)) * 10_101_010
		if k == 1 {
			s.Value[0] = s.Value[k] / 10_101_010
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// BenchmarkDiagnose100k runs every built-in plugin over a 100,000-stack
// profile (PERFORMANCE.md: under 1 s and 200 MB).
func BenchmarkDiagnose100k(b *testing.B) {
	p := bigProfile(100_000, 5000, 1)
	b.ReportAllocs()
	for b.Loop() {
		ev := &plugins.Evidence{Profile: p, Source: "bench"} // a new one: indexing is part of the cost
		rep, err := Run(context.Background(), ev, Options{NoBottlenecks: true, NoExternal: true})
		if err != nil || len(rep.Plugins) == 0 {
			b.Fatal(err, rep)
		}
	}
}

var bigOut = flag.String("bigprofile", "", "write the 100k-stack benchmark profile to this file (to measure `perfprobe diagnose` on it)")

// TestWriteBigProfile writes the benchmark's profile when -bigprofile is
// given, so `perfprobe diagnose` can be measured on it end to end.
func TestWriteBigProfile(t *testing.T) {
	if *bigOut == "" {
		t.Skip("-bigprofile not given")
	}
	f, err := os.Create(*bigOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := bigProfile(100_000, 5000, 1).Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
