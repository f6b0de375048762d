package bottlenecks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/perfprobe/perfprobe/plugins"
)

// ParseError is a mistake in a bottleneck list, at a line of its file (of
// the .md file for a Markdown one).
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse reads a bottleneck list: YAML, or Markdown with ```perfprobe fenced
// YAML blocks (the blocks' sections are concatenated). The two are told
// apart by content: a file with a ```perfprobe fence is Markdown. name is
// the file's name, for List.Path and the errors.
func Parse(name string, data []byte) (*List, error) {
	p := &parser{file: name, l: &List{Path: name}, slos: map[string]int{}, bns: map[string]int{}, plugins: map[string]int{}}
	blocks, err := fencedBlocks(data)
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.File = name
		return nil, pe
	}
	if len(blocks) == 0 {
		if err := p.document(data, 0, true); err != nil {
			return nil, err
		}
		return p.l, nil
	}
	for _, b := range blocks {
		if err := p.document(b.data, b.first-1, false); err != nil {
			return nil, err
		}
	}
	return p.l, nil
}

// Blocks returns the ```perfprobe fenced blocks of a Markdown file: each
// block's text and the 1-based line of its first content line. Other
// readers of the same blocks (perfprobe gate's policy) use it.
func Blocks(data []byte) (first []int, texts [][]byte, err error) {
	bs, err := fencedBlocks(data)
	for _, b := range bs {
		first = append(first, b.first)
		texts = append(texts, b.data)
	}
	return first, texts, err
}

// block is one ```perfprobe fenced block of a Markdown file.
type block struct {
	fence int // line of the opening fence, 1-based
	first int // line of the first content line
	data  []byte
}

// fencedBlocks finds the ```perfprobe (or ~~~perfprobe) fenced blocks the
// way CommonMark reads fences: up to three spaces of indentation, three or
// more backticks or tildes, the info string's first word "perfprobe", and
// a closing fence of the same character at least as long. Other fenced
// blocks are skipped whole, so a perfprobe fence shown inside one does not
// count. An unclosed perfprobe block is returned with an error. (A
// Markdown library would parse far more than these fences to give the
// same answer.)
func fencedBlocks(data []byte) ([]block, error) {
	var out []block
	lines := bytes.SplitAfter(data, []byte("\n"))
	var open struct {
		on        bool
		char      byte
		n, indent int
		mine      bool
		b         block
	}
	for i, raw := range lines {
		line := bytes.TrimRight(raw, "\r\n")
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		indent := 0
		for indent < len(line) && indent < 4 && line[indent] == ' ' {
			indent++
		}
		rest := line[indent:]
		run := 0
		if indent < 4 && len(rest) > 0 && (rest[0] == '`' || rest[0] == '~') {
			for run < len(rest) && rest[run] == rest[0] {
				run++
			}
		}
		if open.on {
			if run >= open.n && rest[0] == open.char && len(bytes.TrimSpace(rest[run:])) == 0 {
				if open.mine {
					out = append(out, open.b)
				}
				open.on = false
				continue
			}
			if open.mine {
				// Content lines lose up to the fence's indentation.
				strip := 0
				for strip < open.indent && strip < len(raw) && raw[strip] == ' ' {
					strip++
				}
				open.b.data = append(open.b.data, raw[strip:]...)
			}
			continue
		}
		if run < 3 {
			continue
		}
		info := bytes.TrimSpace(rest[run:])
		if rest[0] == '`' && bytes.IndexByte(info, '`') >= 0 {
			continue // not a fence: inline code
		}
		word := info
		if k := bytes.IndexAny(info, " \t{"); k >= 0 {
			word = info[:k]
		}
		open.on, open.char, open.n, open.indent = true, rest[0], run, indent
		open.mine = string(word) == "perfprobe"
		open.b = block{fence: i + 1, first: i + 2}
	}
	if open.on && open.mine {
		out = append(out, open.b)
		return out, &ParseError{Line: open.b.fence, Msg: "this ```perfprobe block is not closed"}
	}
	return out, nil
}

type parser struct {
	file string
	off  int // line offset of the document being read
	l    *List
	// Lines where each name was first given, for duplicates.
	slos, bns, plugins map[string]int
}

func (p *parser) errAt(line int, format string, args ...any) error {
	return &ParseError{File: p.file, Line: p.off + max(line, 1), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	return p.errAt(n.Line, format, args...)
}

// document reads one YAML stream (a file, or one fenced block) whose first
// line is line off+1 of the file.
func (p *parser) document(data []byte, off int, whole bool) error {
	p.off = off
	if line, msg := badText(data); msg != "" {
		return p.errAt(line, "%s", msg)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			line, msg := yamlError(err, data)
			return p.errAt(problemLine(data, line, err.Error()), "%s", msg)
		}
		if err := p.root(&doc, whole); err != nil {
			return err
		}
	}
}

// badText finds what the YAML parser would refuse without saying where:
// invalid UTF-8 and control characters. It returns the 1-based line.
func badText(data []byte) (line int, msg string) {
	line = 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return line, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i])
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20 || r >= 0x7F && r < 0xA0 || r >= 0xD800 && r < 0xE000 || r == 0xFFFE || r == 0xFFFF:
			return line, fmt.Sprintf("control character %U is not allowed", r)
		}
		i += size
	}
	return 0, ""
}

var (
	yamlLineRe   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRe = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	// parserProblems are the YAML parser's (not scanner's) problems:
	// go.yaml.in/yaml/v3 numbers their lines from 0, the scanner's from 1.
	parserProblems = []string{
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle",
	}
)

// yamlError turns the YAML library's error into a 1-based line of data and
// a message. An error without a line happened on the first line (the
// library leaves out line 0), except an unknown anchor, which is looked up.
func yamlError(err error, data []byte) (line int, msg string) {
	msg = strings.ReplaceAll(err.Error(), "\n", " ")
	line = 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.Contains(parserProblems, msg) {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := yamlAnchorRe.FindStringSubmatch(msg); m != nil {
			if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
				line = 1 + bytes.Count(data[:i], []byte("\n"))
			}
		}
	}
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return min(max(line, 1), max(n, 1)), "YAML: " + msg
}

// problemLine refines the line of a YAML syntax error: the library gives
// the line where the construct with the problem starts (the list whose
// item is mis-indented), and the shortest prefix of data that fails with
// the same error ends at the problem's line. The parser stops at the first
// error, so longer prefixes fail the same way and a binary search finds it
// in a few parses.
func problemLine(data []byte, line int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	last := len(lines) // the last line that has text
	if len(lines[last-1]) == 0 {
		last--
	}
	fails := func(k int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:k], nil)))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err != nil {
				return err != io.EOF && err.Error() == msg
			}
		}
	}
	lo, hi := max(line, 1), len(lines)
	if lo >= hi {
		return line
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return max(min(lo, last), 1)
}

var topKeys = []string{"slos", "bottlenecks", "plugins", "gate"}

func (p *parser) root(doc *yaml.Node, whole bool) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	n := deref(doc.Content[0])
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		hint := ""
		if whole {
			hint = " (in Markdown, put them in a ```perfprobe fenced block)"
		}
		return p.errorf(n, "want a mapping with slos:, bottlenecks: or plugins:, not a %s%s", kindName(n), hint)
	}
	return p.fields(n, "at the top level", topKeys, func(key string, v *yaml.Node) error {
		if isNull(v) || key == "gate" {
			return nil // gate: is perfprobe gate's policy (internal/gate)
		}
		if v.Kind != yaml.SequenceNode {
			return p.errorf(v, "%s: want a list (lines starting with \"- \"), not a %s", key, kindName(v))
		}
		for _, item := range v.Content {
			item = deref(item)
			var err error
			switch key {
			case "slos":
				err = p.slo(item)
			case "bottlenecks":
				err = p.bottleneck(item)
			case "plugins":
				err = p.plugin(item)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// fields walks a mapping's keys: each known, none twice.
func (p *parser) fields(n *yaml.Node, where string, known []string, f func(key string, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil {
			return p.errorf(n.Content[i], "a broken alias %s", where)
		}
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, "a key %s must be a name, not a %s", where, kindName(k))
		}
		if first, dup := seen[k.Value]; dup {
			return p.errorf(k, "%s set twice %s (first at line %d)", k.Value, where, p.off+first)
		}
		seen[k.Value] = k.Line
		if !slices.Contains(known, k.Value) {
			if s := suggest(k.Value, known); s != "" {
				return p.errorf(k, "unknown key %q %s: did you mean %s?", k.Value, where, s)
			}
			return p.errorf(k, "unknown key %q %s (keys: %s)", k.Value, where, strings.Join(known, ", "))
		}
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

// text reads a scalar value ("" for null).
func (p *parser) text(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.errorf(v, "%s: want a single value, not a %s", key, kindName(v))
	}
	if isNull(v) {
		return "", nil
	}
	return v.Value, nil
}

func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("value (%q)", n.Value)
	}
	return "node"
}

var sloKeys = []string{"name", "metric", "max", "min", "note"}

func (p *parser) slo(n *yaml.Node) error {
	if n == nil || n.Kind != yaml.MappingNode {
		return p.errorf(or(n), "an SLO must be a mapping (name:, metric:, max: or min:)")
	}
	var s SLO
	var nameAt, metricAt, limitAt *yaml.Node
	var limit string
	err := p.fields(n, "in an SLO", sloKeys, func(key string, v *yaml.Node) error {
		t, err := p.text(key, v)
		if err != nil {
			return err
		}
		switch key {
		case "name":
			s.Name, nameAt = strings.TrimSpace(t), v
		case "metric":
			s.Metric, metricAt = strings.TrimSpace(t), v
		case "max", "min":
			if s.Bound != "" {
				return p.errorf(v, "an SLO takes max: or min:, not both")
			}
			s.Bound, limit, limitAt = key, strings.TrimSpace(t), v
		case "note":
			s.Note = t
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.Line = p.off + n.Line
	if s.Name == "" {
		return p.errorf(or(nameAt, n), "an SLO needs a name")
	}
	if first, dup := p.slos[s.Name]; dup {
		return p.errorf(nameAt, "SLO name %q is used twice (first at line %d)", s.Name, first)
	}
	p.slos[s.Name] = s.Line
	if s.Metric == "" {
		return p.errorf(or(metricAt, n), "SLO %s needs a metric", s.Name)
	}
	if s.Bound == "" {
		return p.errorf(n, "SLO %s needs max: or min:", s.Name)
	}
	if limit == "" {
		return p.errorf(limitAt, "SLO %s: %s: needs a value", s.Name, s.Bound)
	}
	m, err := parseMetric(s.Metric)
	if err != nil {
		return p.errorf(metricAt, "SLO %s: metric %s: %v", s.Name, s.Metric, err)
	}
	s.m, s.Unit = m, m.unit()
	s.Limit, s.limitKind, err = parseLimit(limit, s.Unit)
	if err != nil {
		return p.errorf(limitAt, "SLO %s: %s: %v", s.Name, s.Bound, err)
	}
	p.l.SLOs = append(p.l.SLOs, s)
	return nil
}

var bottleneckKeys = []string{"name", "category", "match", "type", "status", "budget", "owner", "expires", "note"}

var typeRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (p *parser) bottleneck(n *yaml.Node) error {
	if n == nil || n.Kind != yaml.MappingNode {
		return p.errorf(or(n), "a bottleneck must be a mapping (name:, category: or match:, status:)")
	}
	var b Bottleneck
	at := map[string]*yaml.Node{}
	err := p.fields(n, "in a bottleneck", bottleneckKeys, func(key string, v *yaml.Node) error {
		t, err := p.text(key, v)
		if err != nil {
			return err
		}
		at[key] = v
		t = strings.TrimSpace(t)
		switch key {
		case "name":
			b.Name = t
		case "category":
			if b.Category, err = parseCategory(t); err != nil {
				return p.errorf(v, "category: %v", err)
			}
		case "match":
			if t == "" {
				return p.errorf(v, "match: needs a regexp on function names")
			}
			if b.re, err = regexp.Compile(t); err != nil {
				return p.errorf(v, "match: %v", err)
			}
			b.Match = t
		case "type":
			if !typeRe.MatchString(t) {
				return p.errorf(v, "type %q: want a sample type such as oncpu, go_cpu, offcpu_blocked", t)
			}
			b.Type = t
		case "status":
			if t != plugins.StatusAcceptable && t != plugins.StatusMustFix {
				opts := []string{plugins.StatusAcceptable, plugins.StatusMustFix}
				if s := suggest(t, opts); s != "" {
					return p.errorf(v, "status %q: did you mean %s?", t, s)
				}
				return p.errorf(v, "status %q: use acceptable or must-fix", t)
			}
			b.Status = t
		case "budget":
			pct, kind, err := parseLimit(t, "%")
			if err != nil || kind != limitPercent {
				return p.errorf(v, "budget %q: want a percentage such as 30%%", t)
			}
			if pct <= 0 || pct > 100 {
				return p.errorf(v, "budget %s: want more than 0%% and at most 100%%", t)
			}
			b.Budget = pct / 100
		case "owner":
			b.Owner = t
		case "expires":
			if b.Expires, err = parseExpiry(t); err != nil {
				return p.errorf(v, "expires %q: want a date (2027-03-01) or an RFC 3339 time", t)
			}
		case "note":
			b.Note = t
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.Line = p.off + n.Line
	if b.Name == "" {
		return p.errorf(or(at["name"], n), "a bottleneck needs a name")
	}
	if first, dup := p.bns[b.Name]; dup {
		return p.errorf(at["name"], "bottleneck name %q is used twice (first at line %d)", b.Name, first)
	}
	p.bns[b.Name] = b.Line
	if b.Category == "" && b.Match == "" {
		return p.errorf(n, "bottleneck %s needs a category: or a match: (or both)", b.Name)
	}
	if b.Status == "" {
		return p.errorf(n, "bottleneck %s needs a status: acceptable or must-fix", b.Name)
	}
	if b.Status == plugins.StatusMustFix {
		for _, k := range []string{"budget", "expires"} {
			if v := at[k]; v != nil {
				return p.errorf(v, "bottleneck %s: %s applies to acceptable entries, and this one is must-fix", b.Name, k)
			}
		}
	}
	if v := at["type"]; v != nil && b.Match == "" {
		return p.errorf(v, "bottleneck %s: type applies to match: (a category's findings come with their own type)", b.Name)
	}
	if b.Type == "" {
		b.Type = defaultType
	}
	p.l.Bottlenecks = append(p.l.Bottlenecks, b)
	return nil
}

func (p *parser) plugin(n *yaml.Node) error {
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) || strings.TrimSpace(n.Value) == "" {
		return p.errorf(or(n), "plugins: each entry is a plugin's name or path")
	}
	name := strings.TrimSpace(n.Value)
	if first, dup := p.plugins[name]; dup {
		return p.errorf(n, "plugin %s is listed twice (first at line %d)", name, first)
	}
	p.plugins[name] = p.off + n.Line
	p.l.Plugins = append(p.l.Plugins, name)
	return nil
}

// or is the first non-nil node, or an empty one (line 1) when none.
func or(ns ...*yaml.Node) *yaml.Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return &yaml.Node{Line: 1}
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// categories a bottleneck may name: every category a finding can have but
// the SLO breaches' and the list's own.
var categories = func() []plugins.Category {
	cs := []plugins.Category{
		plugins.CatTLSHandshake, plugins.CatHashing, plugins.CatCrypto, plugins.CatSerialization,
		plugins.CatCompression, plugins.CatGC, plugins.CatAllocation, plugins.CatLock,
		plugins.CatBlockedIO, plugins.CatSmallSyscalls, plugins.CatCPUSaturation, plugins.CatThrottling,
		plugins.CatRegexp, plugins.CatReflection, plugins.CatFmtLogging, plugins.CatGoroutines,
		plugins.CatProfilerCost,
	}
	for _, c := range plugins.FrameCategories() {
		if !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return cs
}()

func names(cs []plugins.Category) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func parseCategory(s string) (plugins.Category, error) {
	return oneOf(s, categories)
}

func parseFrameCategory(s string) (plugins.Category, error) {
	return oneOf(s, plugins.FrameCategories())
}

func oneOf(s string, cs []plugins.Category) (plugins.Category, error) {
	if slices.Contains(cs, plugins.Category(s)) {
		return plugins.Category(s), nil
	}
	if g := suggest(s, names(cs)); g != "" {
		return "", fmt.Errorf("unknown category %q: did you mean %s?", s, g)
	}
	return "", fmt.Errorf("unknown category %q (categories: %s)", s, strings.Join(names(cs), ", "))
}

// suggest is the known word closest to w (edit distance at most 2, and
// less than the word's length), or "".
func suggest(w string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(w, k) {
			return k
		}
		if d := distance(w, k); d < bestD && d < len(k) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, byte-wise: for a typo
// hint over a few short words a library would be more than the job.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
