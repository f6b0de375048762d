package flame

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// htmlStack is one sample of a test profile: root-first frames separated by
// ';' (a frame ending in "_[k]" is a kernel frame) and one value per type.
type htmlStack struct {
	frames string
	values []int64
}

// htmlProfile builds a profile from "type/unit" names and stacks.
func htmlProfile(types []string, stacks ...htmlStack) *profile.Profile {
	app := &profile.Mapping{ID: 1, File: "/bin/app", Start: 0x1000, Limit: 0x9000}
	kern := &profile.Mapping{ID: 2, File: "[kernel.kallsyms]"}
	p := &profile.Profile{Mapping: []*profile.Mapping{app, kern}}
	for _, t := range types {
		typ, unit, _ := strings.Cut(t, "/")
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: typ, Unit: unit})
	}
	locs := map[string]*profile.Location{}
	loc := func(frame string) *profile.Location {
		if l, ok := locs[frame]; ok {
			return l
		}
		name, m := frame, app
		if n, ok := strings.CutSuffix(frame, "_[k]"); ok {
			name, m = n, kern
		}
		id := uint64(len(locs) + 1)
		f := &profile.Function{ID: id, Name: name}
		l := &profile.Location{ID: id, Mapping: m, Address: 0x1000 + id, Line: []profile.Line{{Function: f}}}
		p.Function = append(p.Function, f)
		p.Location = append(p.Location, l)
		locs[frame] = l
		return l
	}
	for _, s := range stacks {
		frames := strings.Split(s.frames, ";")
		var ls []*profile.Location
		for i := len(frames) - 1; i >= 0; i-- {
			ls = append(ls, loc(frames[i]))
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: ls, Value: slices.Clone(s.values)})
	}
	return p
}

const msec = 1_000_000 // nanoseconds

// treeFixture has a known tree per type. oncpu (100 ms in all):
//
//	main ─┬─ funcA (10 self) ── funcB (20 self) ─┬─ funcB 5
//	      │                                      └─ memcpy 5
//	      └─ funcC ─┬─ funcB 10
//	                └─ funcD 50
//
// 9 frames with the root; funcB is on stacks worth 40 ms (40.0%) in 3
// frames. offcpu_blocked (400 msec): main ─┬─ funcA ── funcB 100, └─ funcE
// ── schedule_[k] 300: 6 frames. samples (count 14): all 11 frames.
func treeFixture() *profile.Profile {
	return htmlProfile([]string{"oncpu/nanoseconds", "offcpu_blocked/nanoseconds", "samples/count"},
		htmlStack{"main;funcA;funcB", []int64{20 * msec, 100 * msec, 2}},
		htmlStack{"main;funcA;funcB;funcB", []int64{5 * msec, 0, 1}},
		htmlStack{"main;funcA;funcB;memcpy", []int64{5 * msec, 0, 1}},
		htmlStack{"main;funcA", []int64{10 * msec, 0, 1}},
		htmlStack{"main;funcC;funcB", []int64{10 * msec, 0, 1}},
		htmlStack{"main;funcC;funcD", []int64{50 * msec, 0, 5}},
		htmlStack{"main;funcE;schedule_[k]", []int64{0, 300 * msec, 3}},
	)
}

// diffFixtures: oncpu shares move from base to cur as funcA 40% -> 60%
// (+20 pts), funcB 50% -> 20% (-30 pts), funcC 0 -> 20% (+20 pts) and
// funcGone 10% -> 0 (-10 pts). offcpu_blocked is empty in base, so only
// oncpu is compared.
func diffFixtures() (base, cur *profile.Profile) {
	types := []string{"oncpu/nanoseconds", "offcpu_blocked/nanoseconds"}
	base = htmlProfile(types,
		htmlStack{"main;funcA", []int64{40 * msec, 0}},
		htmlStack{"main;funcB", []int64{50 * msec, 0}},
		htmlStack{"main;funcGone", []int64{10 * msec, 0}},
	)
	cur = htmlProfile(types,
		htmlStack{"main;funcA", []int64{300 * msec, 0}},
		htmlStack{"main;funcB", []int64{100 * msec, 0}},
		htmlStack{"main;funcC", []int64{100 * msec, 0}},
		htmlStack{"main;funcD", []int64{0, 10 * msec}},
	)
	return base, cur
}

// compareFixture has several sample types of one window, three of them in
// nanoseconds. Shares of oncpu (100 ms) and go_cpu (200 ms):
//
//	main;work;hash    60%  40%
//	main;work;parse   10%  40%
//	main;gc           20%  15%
//	main;syscall_[k]  10%   0
//	main;onlygo        0    5%
//
// go_wall (100 ms) is hash 50%, gc 50%; samples (count) and alloc_space
// (bytes) are of other units.
func compareFixture() *profile.Profile {
	return htmlProfile([]string{"oncpu/nanoseconds", "go_cpu/nanoseconds", "samples/count", "alloc_space/bytes", "go_wall/nanoseconds"},
		htmlStack{"main;work;hash", []int64{60 * msec, 80 * msec, 6, 0, 50 * msec}},
		htmlStack{"main;work;parse", []int64{10 * msec, 80 * msec, 1, 1 << 20, 0}},
		htmlStack{"main;gc", []int64{20 * msec, 30 * msec, 2, 0, 50 * msec}},
		htmlStack{"main;syscall_[k]", []int64{10 * msec, 0, 1, 0, 0}},
		htmlStack{"main;onlygo", []int64{0, 10 * msec, 0, 0, 0}},
	)
}

// Names an attacker could give functions (symbols are not checked by
// anybody), each meant to break out of the JSON block or the DOM.
const (
	evilImg    = `<img src=x onerror=alert(1)>`
	evilScript = `</script><script>alert(2)</script>`
)

var evilNames = []string{evilImg, evilScript, `<!-- x`, `"quoted" & 'single' \ back`, "日本語 🔥 \u2028 sep", `]]><svg onload=alert(3)>`}

func evilFixture() *profile.Profile {
	var stacks []htmlStack
	for i, n := range evilNames {
		stacks = append(stacks, htmlStack{"main;" + n, []int64{int64(10 * (i + 1))}})
	}
	stacks = append(stacks, htmlStack{"main;" + evilScript + ";" + evilImg, []int64{5}})
	return htmlProfile([]string{"samples/count"}, stacks...)
}

func writePageString(t *testing.T, write func(*bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

const dataOpen = `<script type="application/json" id="perfprobe-data">`

// pageJSON returns the data block of a page.
func pageJSON(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, dataOpen)
	if !ok {
		t.Fatal("page has no data block")
	}
	js, _, ok := strings.Cut(rest, "</script>")
	if !ok {
		t.Fatal("data block is not closed")
	}
	return js
}

func decodePage(t *testing.T, page string) pageData {
	t.Helper()
	var d pageData
	if err := json.Unmarshal([]byte(pageJSON(t, page)), &d); err != nil {
		t.Fatalf("data block is not JSON: %v", err)
	}
	return d
}

func jsonInts(t *testing.T, raw json.RawMessage) []int64 {
	t.Helper()
	var v []int64
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// foldedFromPage rebuilds the folded stacks of type k the way the page
// script decodes them ("main;funcA" -> self value).
func foldedFromPage(t *testing.T, d pageData, k int, base bool) map[string]int64 {
	t.Helper()
	nodes := jsonInts(t, d.Nodes)
	paths := []string{""} // per node in pre-order
	var stack []string
	for i := 0; i+1 < len(nodes); i += 2 {
		name, depth := nodes[i], int(nodes[i+1])
		if depth < 1 || depth > len(stack)+1 {
			t.Fatalf("node %d: depth %d after depth %d", len(paths), depth, len(stack))
		}
		stack = append(stack[:depth-1], d.Names[name])
		paths = append(paths, strings.Join(stack, ";"))
	}
	raw, scale := d.Values[k], d.Types[k].Scale
	if base {
		raw, scale = d.BaseValues[k], d.Types[k].BaseScale
	}
	vals := jsonInts(t, raw)
	out := map[string]int64{}
	for j, i := 0, 0; j+1 < len(vals); j += 2 {
		i += int(vals[j])
		out[paths[i]] += vals[j+1] * scale
	}
	return out
}

// foldedFromProfile is the expectation: root-first stacks of type typ.
func foldedFromProfile(p *profile.Profile, typ string) map[string]int64 {
	var buf bytes.Buffer
	if err := WriteFolded(&buf, p, typ, false); err != nil {
		panic(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v int64
		if err := json.Unmarshal([]byte(line[i+1:]), &v); err != nil {
			panic(err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestWriteHTMLPage(t *testing.T) {
	page := writePageString(t, func(b *bytes.Buffer) error {
		return WriteHTML(b, treeFixture(), HTMLOptions{Title: "perfprobe: pid 1234 (demo)", Subtitle: "10 s, probes oncpu, offcpu"})
	})
	if !strings.HasPrefix(page, "<!DOCTYPE html>\n<html") || !strings.HasSuffix(page, "</html>\n") {
		t.Errorf("page is not one document: starts %q, ends %q", page[:20], page[len(page)-20:])
	}
	for _, tag := range []string{"<html", "<head>", "<body>", "</html>", dataOpen} {
		if n := strings.Count(page, tag); n != 1 {
			t.Errorf("%q occurs %d times, want once", tag, n)
		}
	}
	if n := strings.Count(strings.ToLower(page), "<script"); n != 2 {
		t.Errorf("%d script elements, want 2 (data and code)", n)
	}
	for _, want := range []string{"<title>perfprobe: pid 1234 (demo)</title>", "<h1>perfprobe: pid 1234 (demo)</h1>", "10 s, probes oncpu, offcpu", `<canvas id="flame">`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// Nothing that could make a request: no URLs, no resource attributes,
	// no elements or APIs that fetch.
	for _, re := range []string{
		`(?i)https?:`, `(?i)\b(src|href|srcset|action|formaction|poster|ping)\s*=`,
		`(?i)url\(`, `(?i)@import`, `(?i)<(link|img|iframe|object|embed|audio|video|source|base|form)\b`,
		`\bfetch\(`, `XMLHttpRequest`, `WebSocket`, `EventSource`, `sendBeacon`, `\bimport\(`, `Worker\(`,
	} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("page has %q (matches %s): it must not load anything", m, re)
		}
	}
	// No HTML is built from strings anywhere in the script.
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('", "srcdoc"} {
		if strings.Contains(pageJS, sink) {
			t.Errorf("flame.js uses %s", sink)
		}
	}

	// The Content-Security-Policy allows exactly the inline script and style.
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy meta tag")
	}
	policy := strings.ReplaceAll(strings.ReplaceAll(csp[1], "&#39;", "'"), "&#43;", "+")
	if !strings.HasPrefix(policy, "default-src 'none'; ") {
		t.Errorf("policy %q does not start with default-src 'none'", policy)
	}
	hashOf := func(open, close string) string {
		_, rest, _ := strings.Cut(page, open)
		body, _, _ := strings.Cut(rest, close)
		h := sha256.Sum256([]byte(body))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	for _, want := range []string{"script-src " + hashOf("<script>", "</script>"), "style-src " + hashOf("<style>", "</style>")} {
		if !strings.Contains(policy, want) {
			t.Errorf("policy %q lacks %q: the browser would block the inline code", policy, want)
		}
	}
}

func TestWriteHTMLData(t *testing.T) {
	p := treeFixture()
	page := writePageString(t, func(b *bytes.Buffer) error { return WriteHTML(b, p, HTMLOptions{}) })
	d := decodePage(t, page)
	if d.Diff || d.Version != 1 || d.Title != "perfprobe flamegraph" || d.DefaultType != 0 {
		t.Errorf("header = version %d, diff %v, title %q, default %d", d.Version, d.Diff, d.Title, d.DefaultType)
	}
	wantTypes := []pageType{
		{Name: "oncpu", Unit: "nanoseconds", Desc: describeType("oncpu"), Total: 100 * msec, Scale: 5 * msec},
		{Name: "offcpu_blocked", Unit: "nanoseconds", Desc: describeType("offcpu_blocked"), Total: 400 * msec, Scale: 100 * msec},
		{Name: "samples", Unit: "count", Desc: describeType("samples"), Total: 14, Scale: 1},
	}
	if !slices.Equal(d.Types, wantTypes) {
		t.Errorf("types =\n%+v\nwant\n%+v", d.Types, wantTypes)
	}
	for k, typ := range []string{"oncpu", "offcpu_blocked", "samples"} {
		got, want := foldedFromPage(t, d, k, false), foldedFromProfile(p, typ)
		if !maps.Equal(got, want) {
			t.Errorf("%s: stacks from the page =\n%v\nwant\n%v", typ, got, want)
		}
	}
	// One node per distinct stack prefix: 10 function frames plus the root.
	if n := len(jsonInts(t, d.Nodes))/2 + 1; n != 11 {
		t.Errorf("%d nodes, want 11", n)
	}

	// The default type: asked for, else the profile's, else the first.
	for _, tc := range []struct {
		opt, profileDefault string
		want                int
	}{{"", "", 0}, {"samples", "", 2}, {"", "offcpu_blocked", 1}, {"oncpu", "samples", 0}} {
		p := treeFixture()
		p.DefaultSampleType = tc.profileDefault
		page := writePageString(t, func(b *bytes.Buffer) error { return WriteHTML(b, p, HTMLOptions{DefaultType: tc.opt}) })
		if got := decodePage(t, page).DefaultType; got != tc.want {
			t.Errorf("DefaultType %q, profile default %q: shown first %d, want %d", tc.opt, tc.profileDefault, got, tc.want)
		}
	}
	if err := WriteHTML(&bytes.Buffer{}, p, HTMLOptions{DefaultType: "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown DefaultType: err = %v, want one naming it", err)
	}
}

func TestWriteHTMLEscaping(t *testing.T) {
	p := evilFixture()
	title := `pid 1 (<b>x</b> "</title><script>alert(4)</script>")`
	page := writePageString(t, func(b *bytes.Buffer) error {
		return WriteHTML(b, p, HTMLOptions{Title: title, Subtitle: evilImg})
	})
	js := pageJSON(t, page)
	if strings.ContainsAny(js, "<>") || strings.Contains(js, "\u2028") {
		t.Errorf("data block has raw '<', '>' or U+2028: %.200s", js)
	}
	lower := strings.ToLower(page)
	if n := strings.Count(lower, "</script"); n != 2 {
		t.Errorf("%d </script sequences, want 2: a name ended a script block", n)
	}
	if n := strings.Count(lower, "<script"); n != 2 {
		t.Errorf("%d <script sequences, want 2", n)
	}
	for _, bad := range []string{"<!--", "<img", "<svg", "<b>", "</title><"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "<h1>pid 1 (&lt;b&gt;x&lt;/b&gt; &#34;&lt;/title&gt;&lt;script&gt;alert(4)&lt;/script&gt;&#34;)</h1>") {
		t.Error("heading is not HTML-escaped")
	}
	d := decodePage(t, page)
	if d.Title != title || d.Subtitle != evilImg {
		t.Errorf("title/subtitle round trip: %q, %q", d.Title, d.Subtitle)
	}
	for _, n := range evilNames {
		if !slices.Contains(d.Names, n) {
			t.Errorf("name %q does not round-trip; names = %q", n, d.Names)
		}
	}
	if got, want := foldedFromPage(t, d, 0, false), foldedFromProfile(p, "samples"); len(got) != len(want) {
		t.Errorf("%d stacks from the page, want %d", len(got), len(want))
	}
}

func TestWriteDiffHTML(t *testing.T) {
	base, cur := diffFixtures()
	page := writePageString(t, func(b *bytes.Buffer) error {
		return WriteDiffHTML(b, base, cur, HTMLOptions{Title: "diff"})
	})
	d := decodePage(t, page)
	if !d.Diff {
		t.Error("diff page says diff: false")
	}
	want := []pageType{{Name: "oncpu", Unit: "nanoseconds", Desc: describeType("oncpu"),
		Total: 500 * msec, Scale: 100 * msec, BaseTotal: 100 * msec, BaseScale: 10 * msec}}
	if !slices.Equal(d.Types, want) {
		t.Errorf("types = %+v, want only the common non-empty one: %+v", d.Types, want)
	}
	if got, want := foldedFromPage(t, d, 0, false), foldedFromProfile(cur, "oncpu"); !maps.Equal(got, want) {
		t.Errorf("current stacks = %v, want %v", got, want)
	}
	if got, want := foldedFromPage(t, d, 0, true), foldedFromProfile(base, "oncpu"); !maps.Equal(got, want) {
		t.Errorf("base stacks = %v, want %v", got, want)
	}
	if !strings.Contains(page, "<h1>diff</h1>") {
		t.Error("no heading")
	}

	// No type in common with data in both.
	onlyOff := htmlProfile([]string{"offcpu_blocked/nanoseconds"}, htmlStack{"main", []int64{1}})
	err := WriteDiffHTML(&bytes.Buffer{}, base, onlyOff, HTMLOptions{})
	if !errors.Is(err, ErrNoSamples) {
		t.Errorf("diff without common types: err = %v, want ErrNoSamples", err)
	}
}

// The "Compare with" control filters the types by unit, which the page
// lists per type; a comparison adds no data (the base is another column of
// the same tree), and differential pages have no such control.
func TestWriteHTMLCompareData(t *testing.T) {
	page := writePageString(t, func(b *bytes.Buffer) error { return WriteHTML(b, compareFixture(), HTMLOptions{}) })
	if n := strings.Count(page, `<select id="compare">`); n != 1 {
		t.Errorf("%d compare selects, want 1", n)
	}
	d := decodePage(t, page)
	var units []string
	for _, ty := range d.Types {
		units = append(units, ty.Name+"/"+ty.Unit)
	}
	if got, want := strings.Join(units, " "), "oncpu/nanoseconds go_cpu/nanoseconds samples/count alloc_space/bytes go_wall/nanoseconds"; got != want {
		t.Errorf("types and units = %s, want %s", got, want)
	}
	if d.Diff || len(d.Values) != 5 || d.BaseValues != nil {
		t.Errorf("diff %v, %d value columns, base values %v: want one column per type and nothing else", d.Diff, len(d.Values), d.BaseValues != nil)
	}
	// go_cpu's column holds its stacks, onlygo (absent from oncpu) included.
	if got, want := foldedFromPage(t, d, 1, false), foldedFromProfile(compareFixture(), "go_cpu"); !maps.Equal(got, want) {
		t.Errorf("go_cpu stacks = %v, want %v", got, want)
	}

	base, cur := diffFixtures()
	diff := writePageString(t, func(b *bytes.Buffer) error { return WriteDiffHTML(b, base, cur, HTMLOptions{}) })
	if strings.Contains(diff, `id="compare"`) {
		t.Error("differential page has a compare select")
	}
}

func TestWriteHTMLNoSamples(t *testing.T) {
	for name, p := range map[string]*profile.Profile{
		"no samples":  {SampleType: []*profile.ValueType{{Type: "oncpu", Unit: "nanoseconds"}}},
		"zero values": htmlProfile([]string{"oncpu/nanoseconds"}, htmlStack{"main", []int64{0}}),
		"no types":    {},
	} {
		var buf bytes.Buffer
		err := WriteHTML(&buf, p, HTMLOptions{})
		if !errors.Is(err, ErrNoSamples) || !strings.Contains(err.Error(), "no samples") {
			t.Errorf("%s: err = %v, want ErrNoSamples", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", name, buf.Len())
		}
		_, cur := diffFixtures()
		if err := WriteDiffHTML(&buf, p, cur, HTMLOptions{}); !errors.Is(err, ErrNoSamples) {
			t.Errorf("%s as diff base: err = %v, want ErrNoSamples", name, err)
		}
	}
}
