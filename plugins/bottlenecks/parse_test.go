package bottlenecks

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

const sampleYAML = `slos:
  - name: handshake-p95
    metric: tls_handshake.p95        # <capture histogram>.<stat>
    max: 5ms
  - name: hashing-share
    metric: share(hashing, oncpu)
    max: 25%
bottlenecks:
  - name: upload-hashing
    category: hashing
    match: 'crypto/sha256|main\.checksum'
    type: oncpu
    status: acceptable
    budget: 30%
    owner: storage-team
    expires: 2027-03-01
    note: sha256 of every upload is required by the protocol
plugins: [perfprobe-plugin-foo, ./tools/myplugin]
`

// The same content in a PERFORMANCE.md: prose, other fenced blocks (one
// showing a perfprobe fence as an example, which does not count), and the
// list split over two perfprobe blocks.
const sampleMD = "# PERFORMANCE.md — upload service\n" + // 1
	"\n" + // 2
	"Prose about the SLOs.\n" + // 3
	"\n" + // 4
	"```yaml\n" + // 5
	"slos: [this is not ours]\n" + // 6
	"```\n" + // 7
	"\n" + // 8
	"````markdown\n" + // 9
	"```perfprobe\n" + // 10
	"bottlenecks: [an example inside another block]\n" + // 11
	"```\n" + // 12
	"````\n" + // 13
	"\n" + // 14
	"```perfprobe\n" + // 15
	"slos:\n" + // 16
	"  - name: handshake-p95\n" + // 17
	"    metric: tls_handshake.p95        # <capture histogram>.<stat>\n" + // 18
	"    max: 5ms\n" + // 19
	"  - name: hashing-share\n" + // 20
	"    metric: share(hashing, oncpu)\n" + // 21
	"    max: 25%\n" + // 22
	"```\n" + // 23
	"\n" + // 24
	"## Known bottlenecks\n" + // 25
	"\n" + // 26
	"~~~perfprobe {.yaml}\n" + // 27
	"bottlenecks:\n" + // 28
	"  - name: upload-hashing\n" + // 29
	"    category: hashing\n" + // 30
	"    match: 'crypto/sha256|main\\.checksum'\n" + // 31
	"    type: oncpu\n" + // 32
	"    status: acceptable\n" + // 33
	"    budget: 30%\n" + // 34
	"    owner: storage-team\n" + // 35
	"    expires: 2027-03-01\n" + // 36
	"    note: sha256 of every upload is required by the protocol\n" + // 37
	"plugins: [perfprobe-plugin-foo, ./tools/myplugin]\n" + // 38
	"~~~\n" + // 39
	"\n" + // 40
	"More prose.\n" // 41

// YAML and the same content in Markdown give the same list; only the path
// and the line numbers (those of the .md file) differ.
func TestParseYAMLAndMarkdown(t *testing.T) {
	y, err := Parse("perfprobe.yaml", []byte(sampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse("PERFORMANCE.md", []byte(sampleMD))
	if err != nil {
		t.Fatal(err)
	}
	want := &List{
		Path: "perfprobe.yaml",
		SLOs: []SLO{
			{Name: "handshake-p95", Metric: "tls_handshake.p95", Bound: "max", Limit: 5e6, Unit: "ns", Line: 2,
				m: metric{kind: "histogram", name: "tls_handshake", stat: "p95"}, limitKind: limitDuration},
			{Name: "hashing-share", Metric: "share(hashing, oncpu)", Bound: "max", Limit: 25, Unit: "%", Line: 5,
				m: metric{kind: "share", cat: plugins.CatHashing, typ: "oncpu"}, limitKind: limitPercent},
		},
		Bottlenecks: []Bottleneck{{
			Name: "upload-hashing", Category: plugins.CatHashing, Match: `crypto/sha256|main\.checksum`, Type: "oncpu",
			Status: plugins.StatusAcceptable, Budget: 0.30, Owner: "storage-team",
			Expires: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Note: "sha256 of every upload is required by the protocol",
			Line: 9, re: regexp.MustCompile(`crypto/sha256|main\.checksum`),
		}},
		Plugins: []string{"perfprobe-plugin-foo", "./tools/myplugin"},
	}
	if !reflect.DeepEqual(y, want) {
		t.Errorf("YAML:\n got %+v\nwant %+v", y, want)
	}
	if got := []int{m.SLOs[0].Line, m.SLOs[1].Line, m.Bottlenecks[0].Line}; !reflect.DeepEqual(got, []int{17, 20, 29}) {
		t.Errorf("Markdown lines %v, want 17 20 29 (lines of the .md file)", got)
	}
	m.Path = y.Path
	m.SLOs[0].Line, m.SLOs[1].Line, m.Bottlenecks[0].Line = 2, 5, 9
	if !reflect.DeepEqual(m, y) {
		t.Errorf("Markdown and YAML differ:\n  md %+v\nyaml %+v", m, y)
	}
}

// Every mistake is an error at its line: of the file, or of the .md file
// for a Markdown one.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, file, text string
		line             int
		msg              string
	}{
		{"unknown key", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: hashing\n    status: acceptable\n    budjet: 30%\n", 5, `unknown key "budjet" in a bottleneck: did you mean budget?`},
		{"unknown key, no hint", "perfprobe.yaml", "slos:\n  - name: a\n    metric: runqueue.p99\n    max: 1ms\n    colour: red\n", 5, `unknown key "colour" in an SLO (keys: name, metric, max, min, note)`},
		{"unknown top-level key", "perfprobe.yaml", "# comment\nslo:\n  - name: a\n", 2, `unknown key "slo" at the top level: did you mean slos?`},
		{"bad status", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n    status: mustfix\n", 4, `status "mustfix": did you mean must-fix?`},
		{"status missing", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n", 2, "bottleneck a needs a status: acceptable or must-fix"},
		{"bad regexp", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    status: must-fix\n    match: 'main\\.(handle'\n", 4, "match: error parsing regexp: missing closing ): `main\\.(handle`"},
		{"bad duration", "perfprobe.yaml", "slos:\n  - name: a\n    metric: runqueue.p99\n    max: 5 parsecs\n", 4, `SLO a: max: cannot read "5 parsecs"`},
		{"percentage for a latency", "perfprobe.yaml", "slos:\n  - name: a\n    metric: runqueue.p99\n    max: 5%\n", 4, "SLO a: max: 5%: a percentage, but the metric is in nanoseconds"},
		{"duration for a share", "perfprobe.yaml", "slos:\n  - name: a\n    metric: share(gc)\n    max: 5ms\n", 4, "a share's limit is a percentage"},
		{"duration for a count", "perfprobe.yaml", "slos:\n  - name: a\n    metric: tls_handshake.count\n    min: 1s\n", 4, "a duration, but the metric is in events"},
		{"bad date", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n    status: acceptable\n    expires: 2027-02-30\n", 5, `expires "2027-02-30": want a date`},
		{"budget on must-fix", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n    status: must-fix\n    budget: 10%\n", 5, "budget applies to acceptable entries"},
		{"budget not a percentage", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n    status: acceptable\n    budget: 0.3\n", 5, `budget "0.3": want a percentage`},
		{"duplicate bottleneck", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: gc\n    status: must-fix\n  - name: a\n    category: gc\n    status: must-fix\n", 5, `bottleneck name "a" is used twice (first at line 2)`},
		{"duplicate SLO", "perfprobe.yaml", "slos:\n  - {name: x, metric: runqueue.p99, max: 1ms}\n  - {name: x, metric: runqueue.p50, max: 1ms}\n", 3, `SLO name "x" is used twice (first at line 2)`},
		{"duplicate key", "perfprobe.yaml", "slos:\n  - name: x\n    metric: runqueue.p99\n    name: y\n", 4, "name set twice in an SLO (first at line 2)"},
		{"unknown category", "perfprobe.yaml", "bottlenecks:\n  - name: a\n    category: hashng\n    status: must-fix\n", 3, `category: unknown category "hashng": did you mean hashing?`},
		{"unknown statistic", "perfprobe.yaml", "slos:\n  - name: a\n    metric: tls_handshake.p96\n    max: 1ms\n", 3, `unknown statistic "p96": did you mean p95?`},
		{"share of a non-frame category", "perfprobe.yaml", "slos:\n  - name: a\n    metric: share(cpu-saturation, oncpu)\n    max: 1%\n", 3, `unknown category "cpu-saturation"`},
		{"both bounds", "perfprobe.yaml", "slos:\n  - name: a\n    metric: runqueue.p99\n    max: 1ms\n    min: 0\n", 5, "an SLO takes max: or min:, not both"},
		{"neither category nor match", "perfprobe.yaml", "bottlenecks:\n\n  - name: a\n    status: must-fix\n", 3, "bottleneck a needs a category: or a match:"},
		{"list wanted", "perfprobe.yaml", "slos:\n  name: a\n", 2, "slos: want a list"},
		{"YAML: unclosed flow list", "perfprobe.yaml", "slos: []\nplugins: [a, b\nbottlenecks: []\n", 2, "YAML: did not find expected ',' or ']'"},
		{"YAML: block entry out of place", "perfprobe.yaml", "- a\nslos: []\n", 2, "YAML: did not find expected '-' indicator"},
		{"YAML: bad indentation", "perfprobe.yaml", "slos:\n  - name: a\n    metric: x.p50\n   max: 1ms\n", 4, "YAML: did not find expected '-' indicator"},
		{"YAML: unterminated quote", "perfprobe.yaml", "plugins: [a]\nslos: 'oops\nbottlenecks: []\n", 2, "YAML: found unexpected end of stream"},
		{"YAML: value indented too far", "perfprobe.yaml", "slos:\n  - name: a\n    metric: x.p50\n      max: 1ms\n", 4, "YAML: mapping values are not allowed in this context"},
		{"YAML: tab", "perfprobe.yaml", "slos:\n\t- name: a\n", 2, "YAML: found character that cannot start any token"},
		{"YAML: unknown anchor", "perfprobe.yaml", "slos: []\n\nbottlenecks: *nope\n", 3, "YAML: unknown anchor 'nope' referenced"},
		{"control character", "perfprobe.yaml", "slos: []\nplugins: [a\x01]\n", 2, "control character U+0001 is not allowed"},
		{"not a mapping", "perfprobe.yaml", "# heading\n\nJust prose.\n", 3, "want a mapping with slos:, bottlenecks: or plugins:, not a value (\"Just prose.\") (in Markdown, put them in a ```perfprobe fenced block)"},
		// Markdown: the line is the .md file's.
		{"md: error in the second block", "PERFORMANCE.md", sampleMD[:strings.Index(sampleMD, "    budget: 30%")] + "    budget: lots\n" + sampleMD[strings.Index(sampleMD, "    owner:"):], 34, `budget "lots": want a percentage`},
		{"md: YAML error", "PERFORMANCE.md", "# Perf\n\n```perfprobe\nslos: []\nplugins: [a, b\n```\n", 5, "YAML: did not find expected ',' or ']'"},
		{"md: indented fence", "PERFORMANCE.md", "Text\n\n  ```perfprobe\n  slos:\n    - name: a\n      metric: runqueue.p99\n      mux: 1ms\n  ```\n", 7, `unknown key "mux" in an SLO: did you mean max?`},
		{"md: unclosed block", "PERFORMANCE.md", "# Perf\n\nText.\n\n```perfprobe\nslos: []\n", 5, "this ```perfprobe block is not closed"},
		{"md: duplicate across blocks", "PERFORMANCE.md", "```perfprobe\nplugins: [a]\n```\n\n```perfprobe\nplugins: [b, a]\n```\n", 6, "plugin a is listed twice (first at line 2)"},
	} {
		_, err := Parse(c.file, []byte(c.text))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		pe, ok := err.(*ParseError)
		if !ok || pe.File != c.file || pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("%s: error %q, want %s:%d: ...%s...", c.name, err, c.file, c.line, c.msg)
		}
	}
}

// The starter parses to an empty list, and with its examples uncommented
// to a list that says what the comments say.
func TestStarter(t *testing.T) {
	l, err := Parse(YAMLFile, []byte(Starter()))
	if err != nil {
		t.Fatalf("starter: %v", err)
	}
	if len(l.SLOs)+len(l.Bottlenecks)+len(l.Plugins) != 0 {
		t.Errorf("starter is not empty: %+v", l)
	}
	var lines []string
	for _, line := range strings.Split(Starter(), "\n") {
		if ex, ok := strings.CutPrefix(line, "  # "); ok {
			line = "  " + ex
		}
		if ex, ok := strings.CutPrefix(line, "# plugins:"); ok {
			line = "plugins:" + ex
		}
		lines = append(lines, line)
	}
	l, err = Parse(YAMLFile, []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("starter uncommented: %v", err)
	}
	if len(l.SLOs) != 2 || len(l.Bottlenecks) != 1 || len(l.Plugins) != 2 || l.Bottlenecks[0].Budget != 0.3 || l.SLOs[0].Limit != 5e6 {
		t.Errorf("starter uncommented: %+v", l)
	}
}

func TestMetricGrammar(t *testing.T) {
	for _, c := range []struct {
		in   string
		want metric
		err  string
	}{
		{in: "runqueue.p99", want: metric{kind: "histogram", name: "runqueue", stat: "p99"}},
		{in: "block_8_0_target.mean", want: metric{kind: "histogram", name: "block_8_0_target", stat: "mean"}},
		{in: "share( gc )", want: metric{kind: "share", cat: plugins.CatGC}},
		{in: "share(lock-contention, go_cpu)", want: metric{kind: "share", cat: plugins.CatLock, typ: "go_cpu"}},
		{in: "count(tls_handshakes_failed)", want: metric{kind: "count", name: "tls_handshakes_failed"}},
		{in: "rate(syscall_write_calls)", want: metric{kind: "rate", name: "syscall_write_calls"}},
		{in: "total(offcpu_blocked)", want: metric{kind: "total", name: "offcpu_blocked"}},
		{in: "avg(x)", err: "unknown function avg"},
		{in: "share(/a(/)", err: "missing closing )"},
		{in: "share(/x/ oncpu)", err: "a comma goes after the regexp"},
		{in: "runqueue", err: "want HISTOGRAM.STAT"},
		{in: "count(a b)", err: "want a name"},
	} {
		got, err := parseMetric(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.in, err)
		case !reflect.DeepEqual(got, c.want):
			t.Errorf("%s: %+v, want %+v", c.in, got, c.want)
		}
	}
	// A regexp may hold slashes and commas.
	m, err := parseMetric("share(/crypto/sha256|a,b/, go_cpu)")
	if err != nil || m.re.String() != "crypto/sha256|a,b" || m.typ != "go_cpu" {
		t.Errorf("share with a slashed regexp: %+v %v", m, err)
	}
}
