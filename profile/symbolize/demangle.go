package symbolize

import (
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// demangled returns the display form of a C++ or Rust mangled symbol, with
// its parameters ("v8::base::ieee754::sin(double)"; Rust without the hash),
// and false for other names.
func demangled(name string) (string, bool) {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") {
		return name, false
	}
	d, err := demangle.ToString(name)
	if err != nil || d == "" {
		return name, false
	}
	return d, true
}

// SimpleName shortens a demangled C++ or Rust name (one containing "::" or
// starting with "operator", as Frame.Function shows it) to its qualified name without return type,
// template arguments and parameters, the form demangle.Filter gives with
// NoParams and NoTemplateParams: "std::hash<int>::operator()(int) const"
// becomes "std::hash::operator()". Other names are returned unchanged.
func SimpleName(name string) string {
	if !strings.Contains(name, "::") && !strings.HasPrefix(name, "operator") {
		return name
	}
	s := name
	// The parameter list: the last balanced (...) group at the end, after
	// qualifiers such as " const".
	for {
		t := strings.TrimRight(s, " &")
		for _, q := range []string{" const", " volatile"} {
			t = strings.TrimSuffix(t, q)
		}
		if t == s {
			break
		}
		s = t
	}
	if strings.HasSuffix(s, ")") {
		depth := 0
		for i := len(s) - 1; i >= 0; i-- {
			switch s[i] {
			case ')':
				depth++
			case '(':
				depth--
			}
			if depth == 0 {
				if i > 0 { // not a name that is all one parenthesized group
					s = s[:i]
				}
				break
			}
		}
	}
	// Template arguments, except the '<' of operator<, operator<< and the like.
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<' && depth == 0 && strings.HasSuffix(b.String(), "operator"):
			for i < len(s) && (s[i] == '<' || s[i] == '=') {
				b.WriteByte(s[i])
				i++
			}
			i--
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	s = b.String()
	// A return type (template functions): what precedes the last space
	// outside parentheses and before any "operator".
	head := s
	if i := strings.Index(s, "operator"); i >= 0 {
		head = s[:i]
	}
	depth = 0
	for i := len(head) - 1; i >= 0; i-- {
		switch head[i] {
		case ')':
			depth++
		case '(':
			depth--
		case ' ':
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}
