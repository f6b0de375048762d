package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perfprobe/perfprobe/plugins/bottlenecks"
)

// LoadPolicy reads a policy: a YAML file whose gate: section (or, without
// one, the whole file) is the policy, or a Markdown file (PERFORMANCE.md)
// whose ```perfprobe fenced blocks hold a gate: section next to the
// bottleneck list. What the file leaves out keeps the defaults. Errors
// name the file and line.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the gate policy: %w", err)
	}
	p, found, err := ParsePolicy(path, data)
	if err == nil && !found {
		err = fmt.Errorf("%s: no gate: section (in Markdown, put it in a ```perfprobe fenced block)", path)
	}
	return p, err
}

// FindPolicy looks for a gate: section in dir/perfprobe.yaml, then in the
// ```perfprobe blocks of dir/PERFORMANCE.md; the defaults when neither has
// one.
func FindPolicy(dir string) (*Policy, error) {
	for _, name := range []string{bottlenecks.YAMLFile, bottlenecks.MarkdownFile} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the gate policy: %w", err)
		}
		p, found, err := ParsePolicy(path, data)
		if err != nil || found {
			return p, err
		}
	}
	return DefaultPolicy(), nil
}

// ParsePolicy parses a policy file's content; found is false when a
// Markdown file or a perfprobe.yaml with other sections has no gate:.
func ParsePolicy(name string, data []byte) (p *Policy, found bool, err error) {
	p = DefaultPolicy()
	p.Source = name
	first, texts, err := bottlenecks.Blocks(data)
	var pe *bottlenecks.ParseError
	if errors.As(err, &pe) {
		return nil, false, &policyError{name, pe.Line, pe.Msg}
	}
	if err != nil {
		return nil, false, err
	}
	if first == nil {
		first, texts = []int{1}, [][]byte{data}
	}
	markdown := len(first) > 1 || first[0] != 1
	for i, text := range texts {
		// Blank lines in front keep the YAML parser's line numbers those of the file.
		doc := append(bytes.Repeat([]byte("\n"), first[i]-1), text...)
		ok, err := p.parseDoc(name, doc, markdown)
		if err != nil {
			return nil, false, err
		}
		if ok && found {
			return nil, false, fmt.Errorf("%s: a second gate: section; keep one", name)
		}
		found = found || ok
	}
	return p, found, nil
}

type policyError struct {
	file string
	line int
	msg  string
}

func (e *policyError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

var yamlErrLine = regexp.MustCompile(`line (\d+): (.*)`)

func (p *Policy) parseDoc(name string, data []byte, markdown bool) (bool, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			return false, nil
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 1
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return false, &policyError{name, line, "YAML: " + msg}
	}
	errf := func(n *yaml.Node, format string, args ...any) error {
		return &policyError{name, n.Line, fmt.Sprintf(format, args...)}
	}
	if len(root.Content) == 0 {
		return false, nil
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return false, errf(top, "want a mapping with a gate: section")
	}
	sec := top
	if v := value(top, "gate"); v != nil {
		sec = v
	} else if markdown || value(top, "slos") != nil || value(top, "bottlenecks") != nil || value(top, "plugins") != nil {
		return false, nil // a bottleneck list without a gate section
	}
	if sec.Kind == yaml.ScalarNode && sec.Tag == "!!null" {
		return true, nil
	}
	if sec.Kind != yaml.MappingNode {
		return false, errf(sec, "gate: want a mapping (thresholds:, metrics:, waivers:, min_samples:, alpha:, confidence:)")
	}
	return true, eachKey(sec, []string{"thresholds", "metrics", "waivers", "shares", "min_samples", "alpha", "confidence"}, errf, func(k string, v *yaml.Node) error {
		switch k {
		case "thresholds":
			if v.Kind != yaml.MappingNode {
				return errf(v, "thresholds: want a mapping of kind: threshold (latency: 10%%)")
			}
			var kinds []string
			for _, k := range Kinds {
				kinds = append(kinds, string(k))
			}
			return eachKey(v, kinds, errf, func(k string, v *yaml.Node) error {
				t, err := parseThreshold(Kind(k), v.Value)
				if err != nil {
					return errf(v, "thresholds: %s: %v", k, err)
				}
				p.Thresholds[Kind(k)] = t
				return nil
			})
		case "shares":
			return eachItem(v, k, errf, func(n *yaml.Node) error {
				if n.Kind != yaml.ScalarNode || !strings.HasPrefix(n.Value, "share(") || !strings.HasSuffix(n.Value, ")") {
					return errf(n, "shares: want share(CATEGORY, TYPE) or share(/REGEXP/, TYPE), not %q", n.Value)
				}
				p.Shares = append(p.Shares, n.Value)
				return nil
			})
		case "min_samples":
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 4 {
				return errf(v, "min_samples: want a whole number of at least 4 (fewer can never be significant at 5%%), not %q", v.Value)
			}
			p.MinSamples = n
		case "alpha", "confidence":
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || f <= 0 || f >= 1 {
				return errf(v, "%s: want a number between 0 and 1, not %q", k, v.Value)
			}
			if k == "alpha" {
				p.Alpha = f
			} else {
				p.Confidence = f
			}
		case "metrics":
			return eachItem(v, k, errf, func(n *yaml.Node) error {
				r := Rule{Threshold: -1, Line: n.Line}
				err := eachKey(n, []string{"match", "unit", "kind", "threshold", "ignore"}, errf, func(k string, v *yaml.Node) error {
					switch k {
					case "match":
						re, err := regexp.Compile(v.Value)
						if err != nil {
							return errf(v, "match: %v", err)
						}
						r.Match = re
					case "unit":
						r.Unit = v.Value
					case "kind":
						if !slices.Contains(Kinds, Kind(v.Value)) {
							return errf(v, "kind: %q is not one of %v", v.Value, Kinds)
						}
						r.Kind = Kind(v.Value)
					case "threshold":
						r.Threshold = -2 // parsed below, once the kind is known
					case "ignore":
						r.Ignore = v.Value == "true"
						if v.Value != "true" && v.Value != "false" {
							return errf(v, "ignore: want true or false")
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				if r.Match == nil {
					return errf(n, "metrics: each entry needs match: (a regexp on metric names)")
				}
				if r.Threshold == -2 {
					tv := value(n, "threshold")
					kind := r.Kind
					if kind == "" {
						kind = KindOther // percent, unless a share
						if strings.HasPrefix(r.Match.String(), "share(") || strings.HasPrefix(r.Match.String(), `share\(`) || r.Unit == "%" {
							kind = KindShare
						}
					}
					t, err := parseThreshold(kind, tv.Value)
					if err != nil {
						return errf(tv, "threshold: %v", err)
					}
					r.Threshold = t
				}
				p.Rules = append(p.Rules, r)
				return nil
			})
		case "waivers":
			return eachItem(v, k, errf, func(n *yaml.Node) error {
				w := Waiver{Line: n.Line}
				err := eachKey(n, []string{"metric", "unit", "reason", "owner", "expires"}, errf, func(k string, v *yaml.Node) error {
					switch k {
					case "metric":
						re, err := regexp.Compile(v.Value)
						if err != nil {
							return errf(v, "metric: %v", err)
						}
						w.Match = re
					case "unit":
						w.Unit = v.Value
					case "reason":
						w.Reason = strings.TrimSpace(v.Value)
					case "owner":
						w.Owner = strings.TrimSpace(v.Value)
					case "expires":
						t, err := time.Parse(time.DateOnly, v.Value)
						if err != nil {
							return errf(v, "expires: want a date like 2027-03-01, not %q", v.Value)
						}
						w.Expires = t
					}
					return nil
				})
				if err != nil {
					return err
				}
				var missing []string
				if w.Match == nil {
					missing = append(missing, "metric")
				}
				if w.Reason == "" {
					missing = append(missing, "reason")
				}
				if w.Owner == "" {
					missing = append(missing, "owner")
				}
				if w.Expires.IsZero() {
					missing = append(missing, "expires")
				}
				if len(missing) > 0 {
					return errf(n, "a waiver needs %s (every waiver says what, why, who and until when)", strings.Join(missing, ", "))
				}
				p.Waivers = append(p.Waivers, w)
				return nil
			})
		}
		return nil
	})
}

// parseThreshold reads "10%" (a fraction, 0.10) for most kinds and "5",
// "5pt" or "5 points" (points of percent) for shares.
func parseThreshold(k Kind, s string) (float64, error) {
	s = strings.TrimSpace(s)
	if k == KindShare {
		num := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "points"), "pt"), "point"))
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || f > 100 || strings.HasSuffix(s, "%") {
			return 0, fmt.Errorf("a share's threshold is in points of percent, like 5pt, not %q", s)
		}
		return f, nil
	}
	num, ok := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || f < 0 || f > 1000 {
		return 0, fmt.Errorf("want a percentage like 10%%, not %q", s)
	}
	return f / 100, nil
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func eachKey(m *yaml.Node, known []string, errf func(*yaml.Node, string, ...any) error, f func(string, *yaml.Node) error) error {
	if m.Kind != yaml.MappingNode {
		return errf(m, "want a mapping with %s", strings.Join(known, ", "))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(known, k.Value) {
			return errf(k, "unknown key %q (known: %s)", k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return errf(k, "%s: given twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func eachItem(v *yaml.Node, key string, errf func(*yaml.Node, string, ...any) error, f func(*yaml.Node) error) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return errf(v, "%s: want a list (lines starting with \"- \")", key)
	}
	for _, n := range v.Content {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if err := f(n); err != nil {
			return err
		}
	}
	return nil
}
