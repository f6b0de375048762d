package pyroscopetest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// matcher is one label matcher of a selector.
type matcher struct {
	name, op, value string
	re              *regexp.Regexp
}

func (m matcher) matches(labels map[string]string) bool {
	v := labels[m.name]
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default: // "!~"
		return !m.re.MatchString(v)
	}
}

// parseSelector parses a label selector like {service_name="x",source!="go"}
// with the operators =, !=, =~ and !~. A small parser of our own: the
// Prometheus one would pull the whole Prometheus module into the tests.
func parseSelector(s string) ([]matcher, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("selector %q: want {name=\"value\", ...}", s)
	}
	rest := strings.TrimSpace(s[1 : len(s)-1])
	var out []matcher
	for rest != "" {
		i := strings.IndexAny(rest, "=!")
		if i <= 0 {
			return nil, fmt.Errorf("selector %q: want name=\"value\" at %q", s, rest)
		}
		m := matcher{name: strings.TrimSpace(rest[:i])}
		rest = rest[i:]
		for _, op := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(rest, op) {
				m.op = op
				break
			}
		}
		if m.op == "" {
			return nil, fmt.Errorf("selector %q: unknown operator at %q", s, rest)
		}
		rest = strings.TrimSpace(rest[len(m.op):])
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("selector %q: want a quoted value at %q", s, rest)
		}
		m.value, _ = strconv.Unquote(q)
		if m.op == "=~" || m.op == "!~" {
			if m.re, err = regexp.Compile("^(?:" + m.value + ")$"); err != nil {
				return nil, fmt.Errorf("selector %q: %w", s, err)
			}
		}
		out = append(out, m)
		rest = strings.TrimSpace(rest[len(q):])
		if strings.HasPrefix(rest, ",") {
			rest = strings.TrimSpace(rest[1:])
		} else if rest != "" {
			return nil, fmt.Errorf("selector %q: want ',' or '}' at %q", s, rest)
		}
	}
	return out, nil
}

func matchAll(ms []matcher, labels map[string]string) bool {
	for _, m := range ms {
		if !m.matches(labels) {
			return false
		}
	}
	return true
}
