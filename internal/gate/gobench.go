package gate

import (
	"bytes"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// parseGoBench reads `go test -bench` output with benchfmt, which tidies
// the units the way benchstat does (ns/op becomes sec/op, MB/s B/s). Each
// result line is one sample per unit. A metric is the benchmark's full
// name as go test prints it (sub-benchmarks and their keys kept), without
// the -GOMAXPROCS suffix when every line of the data has the same one, so
// that two machines with different CPU counts still match; when the data
// holds several packages, the name starts with the package.
func parseGoBench(name, _ string, data []byte, into *Set) (bool, error) {
	type sample struct {
		name, unit string
		v          float64
	}
	var samples []sample
	var pkgs []string
	procs, sameProcs := "", true
	r := benchfmt.NewReader(bytes.NewReader(data), name)
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue // a syntax error or unit metadata: not a result line
		}
		base, parts := res.Name.Parts()
		p := ""
		if n := len(parts); n > 0 && isProcs(parts[n-1]) {
			p, parts = string(parts[n-1]), parts[:n-1]
		}
		if len(samples) == 0 {
			procs = p
		} else if p != procs {
			sameProcs = false
		}
		pkg := res.GetConfig("pkg")
		if !slices.Contains(pkgs, pkg) {
			pkgs = append(pkgs, pkg)
		}
		full := pkg + "\x00Benchmark" + string(base) + string(bytes.Join(parts, nil))
		for _, v := range res.Values {
			if err := finite(res.Name.String()+" "+v.Unit, v.Value); err != nil {
				return false, err
			}
			samples = append(samples, sample{full + "\x00" + p, v.Unit, v.Value})
		}
	}
	if len(samples) == 0 {
		return false, nil
	}
	for _, s := range samples {
		pkg, rest, _ := strings.Cut(s.name, "\x00")
		bench, p, _ := strings.Cut(rest, "\x00")
		if !sameProcs {
			bench += p
		}
		if len(pkgs) > 1 {
			bench = pkg + " " + bench
		}
		kind, higher := benchKind(s.unit)
		into.Add(bench, s.unit, kind, higher, s.v, name)
	}
	return true, nil
}

// isProcs reports whether a name part is benchfmt's GOMAXPROCS part.
func isProcs(part []byte) bool {
	if len(part) < 2 || part[0] != '-' {
		return false
	}
	for _, c := range part[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// benchKind is the kind of a tidied benchmark unit and whether higher is
// better.
func benchKind(unit string) (Kind, bool) {
	switch {
	case unit == "sec/op":
		return KindTime, false
	case unit == "B/op" || unit == "allocs/op":
		return KindMemory, false
	case strings.HasSuffix(unit, "/s"):
		return KindThroughput, true
	}
	return KindOther, false
}
