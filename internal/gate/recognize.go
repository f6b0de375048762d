package gate

import (
	"bytes"
	"fmt"
)

// Formats names what ParseData and Load understand, for messages.
const Formats = "Go benchmark text (go test -bench), wrk output, hyperfine --export-json, " +
	"a perfprobe capture.json, or the simple JSON {\"perfprobe_results\": 1, ...}"

// ParseData reads one result file or one command's output, recognised by
// content (not by name): Go benchmark text, wrk's output, hyperfine's
// --export-json, a perfprobe capture.json, or the simple JSON of named
// samples. It adds what it understood to into; ok is false when the data
// is none of these. name is used in metric sources and messages.
//
// Data alone has no profile beside it: a capture.json gives its
// histograms here, and its profile shares only through Load.
func ParseData(name string, data []byte, into *Set) (ok bool, err error) {
	return parseData(name, "", data, into)
}

// parseData is ParseData for a file in dir ("" when the data has no
// directory), where a capture.json finds its profile. A recogniser's
// samples reach into only when it succeeded.
func parseData(name, dir string, data []byte, into *Set) (bool, error) {
	recognisers := []func(name, dir string, data []byte, into *Set) (bool, error){
		parseSimpleJSON, parseHyperfine, parseCaptureJSON, parseWrk, parseGoBench,
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		recognisers = recognisers[3:] // not JSON: skip the JSON kinds
	}
	for _, r := range recognisers {
		s := NewSet()
		s.shares = into.shares
		ok, err := r(name, dir, data, s)
		if err != nil {
			return ok, fmt.Errorf("reading %s: %w", name, err)
		}
		if ok {
			into.Merge(s)
			return true, nil
		}
	}
	return false, nil
}
