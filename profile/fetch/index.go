package fetch

import (
	"bytes"
	"path"
	"slices"
	"strings"
)

// parseIndex reads the links of a pprof index page and reports whether it
// looks like net/http/pprof's: it must link to the "profile" (CPU) and
// "goroutine" handlers. names are the linked profile names, sorted. Links
// may be relative ("profile?debug=1", net/http/pprof's form) or absolute
// ("/admin/debug/pprof/profile"); only the last path element counts.
func parseIndex(page []byte) (names []string, ok bool) {
	seen := map[string]bool{}
	rest := page
	for {
		i := indexFold(rest, "href=")
		if i < 0 {
			break
		}
		rest = rest[i+len("href="):]
		var link []byte
		switch {
		case len(rest) > 0 && (rest[0] == '\'' || rest[0] == '"'):
			end := bytes.IndexByte(rest[1:], rest[0])
			if end < 0 {
				rest = nil
				continue
			}
			link, rest = rest[1:1+end], rest[1+end:]
		default:
			end := bytes.IndexAny(rest, " \t\r\n>")
			if end < 0 {
				end = len(rest)
			}
			link, rest = rest[:end], rest[end:]
		}
		if name := linkName(string(link)); name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, seen["profile"] && seen["goroutine"]
}

// linkName returns the last path element of an href, without query or
// fragment.
func linkName(link string) string {
	link, _, _ = strings.Cut(link, "#")
	link, _, _ = strings.Cut(link, "?")
	link = strings.TrimRight(link, "/")
	if link == "" {
		return ""
	}
	return path.Base(link)
}

// indexFold is bytes.Index ignoring ASCII case; sep is lower case.
func indexFold(s []byte, sep string) int {
	b := []byte(sep)
	for i := 0; i+len(b) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(b)], b) {
			return i
		}
	}
	return -1
}
