package flame

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/pprof/profile"

	pp "github.com/perfprobe/perfprobe/profile"
)

// The page is written here rather than with an existing viewer (speedscope,
// pprof's web UI) because it must be one file that opens from file:// with
// no network and no server, and must stay small for 100k unique stacks.

// HTMLOptions configure a flamegraph page.
type HTMLOptions struct {
	Title       string // page title and heading, e.g. "perfprobe: pid 1234 (demo)"
	Subtitle    string // one line under the heading (window, probes), may be empty
	DefaultType string // sample type shown first; "" = the profile's DefaultSampleType, else the first type with a non-zero total
	// Findings are listed above the graph; a click on one shows its
	// sample type and zooms to its proving stack.
	Findings []Finding
}

// Finding is one diagnosis finding as the page lists it.
type Finding struct {
	Severity string // info | warning | critical
	Title    string
	Detail   string
	Type     string   // the sample type that proves it ("" = the one shown)
	Path     []string // the proving stack, root first
	Focus    string   // the frame of Path to zoom to ("" = the deepest)
}

// ErrNoSamples is returned when a profile has nothing to draw: no sample
// type with a non-zero total (or, for a diff, none such in both profiles).
var ErrNoSamples = errors.New("profile has no samples")

// WriteHTML writes one self-contained HTML page showing every sample type of p that has a non-zero total.
func WriteHTML(w io.Writer, p *profile.Profile, opt HTMLOptions) error {
	var cols []htmlColumn
	for i, st := range p.SampleType {
		if total := positiveTotal(p, i); total > 0 {
			cols = append(cols, htmlColumn{typ: st, cur: i, base: -1, total: total})
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("writing flamegraph: %w (no sample type has a non-zero total)", ErrNoSamples)
	}
	def, err := defaultColumn(cols, opt.DefaultType, p.DefaultSampleType)
	if err != nil {
		return fmt.Errorf("writing flamegraph: %w", err)
	}
	t := newStackTrie(len(cols))
	t.addProfile(p, cols, false)
	return writePage(w, opt, t, cols, def, false)
}

// WriteDiffHTML writes a differential page: cur against base, each sample type normalized to its own total in each profile
// (so shares are compared), red = share grew, blue = share shrank, colour intensity by the size of the change; types present in both with non-zero totals.
func WriteDiffHTML(w io.Writer, base, cur *profile.Profile, opt HTMLOptions) error {
	var cols []htmlColumn
	for i, st := range cur.SampleType {
		b := pp.ValueIndex(base, st.Type)
		if b < 0 {
			continue
		}
		total, baseTotal := positiveTotal(cur, i), positiveTotal(base, b)
		if total > 0 && baseTotal > 0 {
			cols = append(cols, htmlColumn{typ: st, cur: i, base: b, total: total, baseTotal: baseTotal})
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("writing differential flamegraph: %w (no sample type has a non-zero total in both profiles)", ErrNoSamples)
	}
	def, err := defaultColumn(cols, opt.DefaultType, cur.DefaultSampleType)
	if err != nil {
		return fmt.Errorf("writing differential flamegraph: %w", err)
	}
	// One tree for both profiles: columns 0..n-1 hold cur, n..2n-1 base.
	t := newStackTrie(2 * len(cols))
	t.addProfile(cur, cols, false)
	t.addProfile(base, cols, true)
	return writePage(w, opt, t, cols, def, true)
}

// htmlColumn is one sample type drawn on the page.
type htmlColumn struct {
	typ              *profile.ValueType
	cur, base        int // value index in the current and base profile; base -1 outside diffs
	total, baseTotal int64
}

// positiveTotal sums value i over p. Negative values (pprof delta profiles)
// have no width in a flamegraph and are left out.
func positiveTotal(p *profile.Profile, i int) int64 {
	var t int64
	for _, s := range p.Sample {
		if i < len(s.Value) && s.Value[i] > 0 {
			t += s.Value[i]
		}
	}
	return t
}

// defaultColumn picks the sample type shown first: the one asked for, else
// the profile's default, else the first.
func defaultColumn(cols []htmlColumn, want, profileDefault string) (int, error) {
	find := func(name string) int {
		return slices.IndexFunc(cols, func(c htmlColumn) bool { return c.typ.Type == name })
	}
	if want != "" {
		if i := find(want); i >= 0 {
			return i, nil
		}
		have := make([]string, len(cols))
		for i, c := range cols {
			have[i] = c.typ.Type
		}
		return 0, fmt.Errorf("sample type %q has no samples to show (have %s)", want, strings.Join(have, ", "))
	}
	if i := find(profileDefault); profileDefault != "" && i >= 0 {
		return i, nil
	}
	return 0, nil
}

// stackTrie is the prefix tree of root-first stacks with the self value of each
// node per column. Node 0 is the root; names are interned.
type stackTrie struct {
	ncols  int
	names  []string
	nameID map[string]int32
	name   []int32          // per node; -1 for the root
	parent []int32          // per node; -1 for the root
	kids   map[uint64]int32 // parent<<32 | name -> child
	row    []int32          // per node: its row of self values in vals, or -1
	vals   []int64          // rows of ncols self values, for nodes where stacks end
}

func newStackTrie(ncols int) *stackTrie {
	return &stackTrie{
		ncols:  ncols,
		names:  []string{},
		nameID: map[string]int32{},
		name:   []int32{-1},
		parent: []int32{-1},
		kids:   map[uint64]int32{},
		row:    []int32{-1},
	}
}

// addProfile adds every sample of p to the tree, in the cur (or base)
// columns.
func (t *stackTrie) addProfile(p *profile.Profile, cols []htmlColumn, base bool) {
	off := 0
	if base {
		off = len(cols)
	}
	if len(t.kids) == 0 {
		// Distinct stacks of real profiles add a few nodes each.
		hint := min(4*len(p.Sample), 1<<20)
		t.kids = make(map[uint64]int32, hint)
		t.name = slices.Grow(t.name, hint)
		t.parent = slices.Grow(t.parent, hint)
		t.row = slices.Grow(t.row, hint)
	}
	v := make([]int64, t.ncols)
	for _, s := range p.Sample {
		clear(v)
		nonzero := false
		for c, col := range cols {
			i := col.cur
			if base {
				i = col.base
			}
			if i < len(s.Value) && s.Value[i] > 0 {
				v[off+c], nonzero = s.Value[i], true
			}
		}
		if nonzero {
			t.add(pp.Frames(s), v)
		}
	}
}

// add adds one stack, given leaf first as pp.Frames returns it.
func (t *stackTrie) add(leafFirst []string, v []int64) {
	n := int32(0)
	for i := len(leafFirst) - 1; i >= 0; i-- {
		id, ok := t.nameID[leafFirst[i]]
		if !ok {
			id = int32(len(t.names))
			t.names = append(t.names, leafFirst[i])
			t.nameID[leafFirst[i]] = id
		}
		key := uint64(n)<<32 | uint64(uint32(id))
		c, ok := t.kids[key]
		if !ok {
			c = int32(len(t.name))
			t.name = append(t.name, id)
			t.parent = append(t.parent, n)
			t.row = append(t.row, -1)
			t.kids[key] = c
		}
		n = c
	}
	if t.row[n] < 0 {
		t.row[n] = int32(len(t.vals) / t.ncols)
		t.vals = append(t.vals, make([]int64, t.ncols)...) // no allocation: the compiler extends in place
	}
	r := int(t.row[n]) * t.ncols
	for c, x := range v {
		t.vals[r+c] += x
	}
}

// preorder lists the nodes root first, each node's children sorted by name,
// with their depths.
func (t *stackTrie) preorder() (order, depth []int32) {
	n := len(t.name)
	// Children in CSR form: kids of node i are child[start[i]:start[i+1]].
	start := make([]int32, n+1)
	for i := 1; i < n; i++ {
		start[t.parent[i]+1]++
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	child := make([]int32, n)
	fill := slices.Clone(start[:n])
	for i := 1; i < n; i++ {
		p := t.parent[i]
		child[fill[p]] = int32(i)
		fill[p]++
	}
	for i := range n {
		kids := child[start[i]:start[i+1]]
		slices.SortFunc(kids, func(a, b int32) int { return strings.Compare(t.names[t.name[a]], t.names[t.name[b]]) })
	}
	order = make([]int32, 0, n)
	depth = make([]int32, 0, n)
	type item struct{ node, depth int32 }
	stack := []item{{0, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, it.node)
		depth = append(depth, it.depth)
		kids := child[start[it.node]:start[it.node+1]]
		for k := len(kids) - 1; k >= 0; k-- {
			stack = append(stack, item{kids[k], it.depth + 1})
		}
	}
	return order, depth
}

// pageData is the JSON block the page script reads. The large integer
// arrays are written with strconv.AppendInt and embedded as raw JSON.
type pageData struct {
	Version     int               `json:"version"`
	Title       string            `json:"title"`
	Subtitle    string            `json:"subtitle,omitempty"`
	Diff        bool              `json:"diff"`
	DefaultType int               `json:"defaultType"`
	Types       []pageType        `json:"types"`
	Names       []string          `json:"names"`                // the string table of function names
	Nodes       json.RawMessage   `json:"nodes"`                // per node after the root, in pre-order: name index, depth
	Values      []json.RawMessage `json:"values"`               // per type: pairs of (node index - previous node index, self value / scale)
	BaseValues  []json.RawMessage `json:"baseValues,omitempty"` // the same for the base profile of a diff
	Findings    []pageFinding     `json:"findings,omitempty"`
}

type pageFinding struct {
	Severity string   `json:"severity"`
	Title    string   `json:"title"`
	Detail   string   `json:"detail"`
	Type     int      `json:"type"` // index in Types, -1: the one shown
	Path     []string `json:"path"`
	Focus    string   `json:"focus,omitempty"`
}

// pageType describes one sample type on the page. The page offers to
// compare the shown type with the other types of the same Unit; their values
// are already on the page (the same tree, another column), so a comparison
// adds nothing to it.
type pageType struct {
	Name      string `json:"name"`
	Unit      string `json:"unit"` // as in the profile; equal units make types comparable`
	Desc      string `json:"desc,omitempty"`
	Total     int64  `json:"total"`
	Scale     int64  `json:"scale"` // values are stored divided by this (their GCD)
	BaseTotal int64  `json:"baseTotal,omitempty"`
	BaseScale int64  `json:"baseScale,omitempty"`
}

// typeDescriptions explain the common sample types of pprof profiles that
// perfprobe did not write; perfprobe's own are declared with their probes
// (profile.RegisterSampleType).
var typeDescriptions = map[string]string{
	"cpu":           "CPU time",
	"alloc_space":   "Bytes allocated, over the program's life",
	"alloc_objects": "Objects allocated, over the program's life",
	"inuse_space":   "Bytes in use at the last GC",
	"inuse_objects": "Objects in use at the last GC",
	"contentions":   "Lock contention events",
	"delay":         "Time spent waiting",
}

// writePage encodes the tree and writes the page.
func writePage(w io.Writer, opt HTMLOptions, t *stackTrie, cols []htmlColumn, def int, diff bool) error {
	order, depth := t.preorder()
	nodes := make([]byte, 0, 8*len(order))
	nodes = append(nodes, '[')
	for k := 1; k < len(order); k++ {
		if k > 1 {
			nodes = append(nodes, ',')
		}
		nodes = strconv.AppendInt(nodes, int64(t.name[order[k]]), 10)
		nodes = append(nodes, ',')
		nodes = strconv.AppendInt(nodes, int64(depth[k]), 10)
	}
	nodes = append(nodes, ']')

	title := opt.Title
	if title == "" {
		title = "perfprobe flamegraph"
	}
	d := pageData{
		Version:     1,
		Title:       title,
		Subtitle:    opt.Subtitle,
		Diff:        diff,
		DefaultType: def,
		Names:       t.names,
		Nodes:       nodes,
	}
	for _, f := range opt.Findings {
		typ := slices.IndexFunc(cols, func(c htmlColumn) bool { return c.typ.Type == f.Type })
		path := f.Path
		if path == nil {
			path = []string{}
		}
		d.Findings = append(d.Findings, pageFinding{Severity: f.Severity, Title: f.Title, Detail: f.Detail, Type: typ, Path: path, Focus: f.Focus})
	}
	for c, col := range cols {
		vals, scale := t.column(order, c)
		pt := pageType{Name: col.typ.Type, Unit: col.typ.Unit, Desc: describeType(col.typ.Type), Total: col.total, Scale: scale}
		d.Values = append(d.Values, vals)
		if diff {
			bvals, bscale := t.column(order, len(cols)+c)
			pt.BaseTotal, pt.BaseScale = col.baseTotal, bscale
			d.BaseValues = append(d.BaseValues, bvals)
		}
		d.Types = append(d.Types, pt)
	}
	// encoding/json escapes <, > and & as \u003c, \u003e and \u0026 (and
	// U+2028, U+2029), so no name can end the <script> block or open a
	// comment in it.
	js, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding flamegraph data: %w", err)
	}
	a := pageAssets()
	bw := bufio.NewWriterSize(w, 64<<10)
	// Diff leaves out the "Compare with" control: a differential page
	// compares with its base profile, not with another sample type.
	err = a.tmpl.Execute(bw, struct {
		CSP, Title, Subtitle string
		Diff                 bool
		CSS                  template.CSS
		Script               template.JS
		Data                 template.JS
	}{a.csp, title, opt.Subtitle, diff, template.CSS(a.css), template.JS(a.js), template.JS(js)})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("writing flamegraph page: %w", err)
	}
	return nil
}

// column encodes the self values of column c as [node index delta, value /
// scale] pairs in pre-order, scale being the GCD of the values (the sampling
// period, for sampled time), which keeps the numbers short.
func (t *stackTrie) column(order []int32, c int) (json.RawMessage, int64) {
	var g int64
	for _, n := range order {
		if r := t.row[n]; r >= 0 {
			if v := t.vals[int(r)*t.ncols+c]; v > 0 {
				g = gcd64(g, v)
			}
		}
	}
	if g == 0 {
		g = 1
	}
	out := []byte{'['}
	prev := 0
	for k, n := range order {
		r := t.row[n]
		if r < 0 {
			continue
		}
		v := t.vals[int(r)*t.ncols+c]
		if v <= 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(k-prev), 10)
		out = append(out, ',')
		out = strconv.AppendInt(out, v/g, 10)
		prev = k
	}
	return append(out, ']'), g
}

func gcd64(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

//go:embed assets/page.html
var pageHTML string

//go:embed assets/flame.css
var pageCSS string

//go:embed assets/flame.js
var pageJS string

type htmlAssets struct {
	tmpl    *template.Template
	css, js string
	csp     string
}

// pageAssets parses the template and computes the Content-Security-Policy
// once. The policy allows exactly the inline style and script by their
// hashes and nothing else: no fetch, image, font, frame or form target.
var pageAssets = sync.OnceValue(func() htmlAssets {
	// A checkout with CRLF line ends must hash what the browser sees.
	css := strings.ReplaceAll(pageCSS, "\r\n", "\n")
	js := strings.ReplaceAll(pageJS, "\r\n", "\n")
	hash := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	return htmlAssets{
		tmpl: template.Must(template.New("page").Parse(pageHTML)),
		css:  css,
		js:   js,
		csp: "default-src 'none'; script-src " + hash(js) + "; style-src " + hash(css) +
			"; base-uri 'none'; form-action 'none'",
	}
})

// describeType says in one line what a sample type is, when known.
func describeType(name string) string {
	if t, ok := pp.LookupSampleType(name); ok {
		return t.Desc
	}
	return typeDescriptions[name]
}
