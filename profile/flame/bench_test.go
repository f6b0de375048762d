package flame

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// syntheticProfile builds a deterministic profile with n unique stacks of
// depth 10 to 30 over nfuncs function names (200 of them kernel functions).
// Like real profiles, most stacks extend a prefix of an earlier one; the
// rest start from one of five roots. Types: samples (count), oncpu
// (samples × 10101010 ns, as at 99 Hz) and offcpu_blocked on about a third
// of the stacks.
func syntheticProfile(n, nfuncs int, seed uint64) *profile.Profile {
	r := rand.New(rand.NewPCG(seed, 0))
	app := &profile.Mapping{ID: 1, File: "/usr/bin/svc", Start: 0x400000, Limit: 0x8000000}
	kern := &profile.Mapping{ID: 2, File: "[kernel.kallsyms]"}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "oncpu", Unit: "nanoseconds"}, {Type: "offcpu_blocked", Unit: "nanoseconds"}},
		Mapping:    []*profile.Mapping{app, kern},
	}
	const kernelFuncs = 200
	locs := make([]*profile.Location, nfuncs)
	for i := range locs {
		name, m := fmt.Sprintf("github.com/acme/svc/internal/pkg%d.(*Server).handle%d", i%97, i), app
		if i >= nfuncs-kernelFuncs {
			name, m = fmt.Sprintf("ksys_func%d", i), kern
		}
		f := &profile.Function{ID: uint64(i + 1), Name: name}
		locs[i] = &profile.Location{ID: uint64(i + 1), Mapping: m, Address: 0x400000 + uint64(i)*16, Line: []profile.Line{{Function: f}}}
		p.Function = append(p.Function, f)
		p.Location = append(p.Location, locs[i])
	}
	user := func() int { return r.IntN(nfuncs - kernelFuncs) }
	seen := make(map[string]bool, n)
	stacks := make([][]int, 0, n) // root first
	key := make([]byte, 0, 256)
	for len(stacks) < n {
		var s []int
		if len(stacks) == 0 || r.IntN(10) == 0 {
			s = append(s, r.IntN(5))
		} else {
			prev := stacks[r.IntN(len(stacks))]
			depth := min(30, max(10, len(prev)+r.IntN(7)-3))
			keep := max(1, min(len(prev), depth)-1-r.IntN(4))
			s = append(s, prev[:keep]...)
		}
		depth := len(s)
		if depth < 10 {
			depth = 10 + r.IntN(21)
		} else {
			depth = min(30, depth+1+r.IntN(4))
		}
		kernel := 0
		if r.IntN(4) == 0 {
			kernel = 1 + r.IntN(3)
		}
		for len(s) < depth-kernel {
			s = append(s, user())
		}
		for len(s) < depth {
			s = append(s, nfuncs-kernelFuncs+r.IntN(kernelFuncs))
		}
		key = key[:0]
		for _, f := range s {
			key = binary.AppendUvarint(key, uint64(f))
		}
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		stacks = append(stacks, s)
	}
	for _, s := range stacks {
		ls := make([]*profile.Location, len(s))
		for i, f := range s {
			ls[len(s)-1-i] = locs[f]
		}
		samples := int64(1 + r.IntN(10))
		var off int64
		if r.IntN(3) == 0 {
			off = 1000 + r.Int64N(50_000_000)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: ls, Value: []int64{samples, samples * 10101010, off}})
	}
	return p
}

type byteCounter struct{ n int }

func (w *byteCounter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// BenchmarkWriteHTML100k writes the page for 100,000 unique stacks and
// reports its size.
func BenchmarkWriteHTML100k(b *testing.B) {
	p := syntheticProfile(100_000, 3000, 1)
	opt := HTMLOptions{Title: "perfprobe: synthetic 100k stacks"}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		var w byteCounter
		if err := WriteHTML(&w, p, opt); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size)/1e6, "MB")
}

// TestBrowserPaint100k loads the 100k-stack page in chromium and logs how
// long it takes to draw and to react. It only measures, so it runs only
// with PERFPROBE_BROWSER_PAINT=1 (and then under the browser tests' rules).
func TestBrowserPaint100k(t *testing.T) {
	if os.Getenv("PERFPROBE_BROWSER_PAINT") != "1" {
		t.Skip("set PERFPROBE_BROWSER_PAINT=1 to measure the 100k-stack page in chromium")
	}
	p := syntheticProfile(100_000, 3000, 1)
	start := time.Now()
	page := htmlPage(t, p, HTMLOptions{Title: "perfprobe: synthetic 100k stacks"})
	d := decodePage(t, page)
	t.Logf("page: %.2f MB, %d nodes, %d names, written in %v", float64(len(page))/1e6, len(jsonInts(t, d.Nodes))/2+1, len(d.Names), time.Since(start).Round(time.Millisecond))

	browser := startBrowser(t)
	start = time.Now()
	tb := openPage(t, browser, page)
	loaded := time.Since(start)
	st := tb.state()
	nav := evalJS[map[string]float64](tb, `(() => { const n = performance.getEntriesByType('navigation')[0]; return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()`)
	t.Logf("load: navigate+load %v (Go side); in page: script start %.0f ms, data decoded %.0f ms, first paint %.0f ms, load event %.0f ms after navigation start",
		loaded.Round(time.Millisecond), st.Timings.ScriptStart, st.Timings.Parsed, st.Timings.FirstPaint, nav["load"])
	t.Logf("first render: %d of %d frames drawn (rest narrower than 0.5 px), render %.1f ms", st.DrawnFrames, st.TotalFrames, st.Timings.LastRenderMs)

	measure := func(what, js string) {
		t.Helper()
		start := time.Now()
		tb.call(js)
		rt := time.Since(start)
		st := tb.state()
		drawn := strconv.Itoa(st.DrawnFrames)
		if sw := st.Sandwich; sw != nil {
			drawn = fmt.Sprintf("%d callers + %d callees", sw.CallerFrames, sw.CalleeFrames)
		}
		t.Logf("%-34s in page %6.1f ms (round trip %v); drawn %s, matched %v", what, st.Timings.LastActionMs, rt.Round(time.Millisecond), drawn, fmtShare(st.MatchedShare))
	}
	measure("search 'handle1' (substring)", `search('handle1')`)
	measure("search '/pkg(3|5)\\./' (regex)", `search('/pkg(3|5)\\./')`)
	measure("clear search", `search('')`)
	measure("switch to oncpu (builds its tree)", `setType('oncpu')`)
	measure("switch to offcpu_blocked (builds)", `setType('offcpu_blocked')`)
	measure("switch back to samples (built)", `setType('samples')`)
	measure("icicle view", `setView('icicle')`)
	// The function with the second largest total: its sandwich merges 40% of the tree.
	fn := evalJS[string](tb, `document.getElementById('functions-body').rows[1].cells[0].textContent`)
	measure("zoom (2nd largest function)", `zoom(`+strconv.Quote(fn)+`)`)
	measure("sandwich (2nd largest function)", `sandwich(`+strconv.Quote(fn)+`)`)
}

func fmtShare(s *float64) string {
	if s == nil {
		return "-"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64) + "%"
}
