package bottlenecks

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

// A metric is what an SLO measures:
//
//	HISTOGRAM.STAT        a capture histogram's p50, p95, p99, max, mean (ns) or count
//	share(CAT|/RE/[, TYPE])  the share of a sample type (default: the CPU type) in a
//	                      frame category or in stacks with a function matching RE, in %
//	count(NAME)           a capture count
//	rate(NAME)            a capture count per second of the window
//	total(TYPE)           a sample type's total (ns for time types)
type metric struct {
	kind string // "histogram", "share", "count", "rate", "total"
	name string // histogram, count or sample type
	stat string // for a histogram
	cat  plugins.Category
	re   *regexp.Regexp
	typ  string // share's type, "" for the CPU type
}

// Histogram statistics a metric can read.
var stats = []string{"p50", "p95", "p99", "max", "mean", "count"}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	callRe = regexp.MustCompile(`^([A-Za-z_]+)\s*\((.*)\)$`)
)

func parseMetric(s string) (metric, error) {
	if c := callRe.FindStringSubmatch(s); c != nil {
		fn, arg := c[1], strings.TrimSpace(c[2])
		switch fn {
		case "share":
			return parseShare(arg)
		case "count", "rate", "total":
			if !nameRe.MatchString(arg) {
				return metric{}, fmt.Errorf("%s(%s): want a name of letters, digits and _", fn, arg)
			}
			return metric{kind: fn, name: arg}, nil
		}
		return metric{}, fmt.Errorf("unknown function %s: use share, count, rate or total (or HISTOGRAM.STAT)", fn)
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return metric{}, errors.New("want HISTOGRAM.STAT (tls_handshake.p95), share(CATEGORY, TYPE), count(NAME), rate(NAME) or total(TYPE)")
	}
	name, stat := s[:dot], s[dot+1:]
	if !nameRe.MatchString(name) {
		return metric{}, fmt.Errorf("histogram %q: want a name of letters, digits and _", name)
	}
	if !slices.Contains(stats, stat) {
		if g := suggest(stat, stats); g != "" {
			return metric{}, fmt.Errorf("unknown statistic %q: did you mean %s?", stat, g)
		}
		return metric{}, fmt.Errorf("unknown statistic %q (use %s)", stat, strings.Join(stats, ", "))
	}
	return metric{kind: "histogram", name: name, stat: stat}, nil
}

// parseShare reads share's arguments: a frame category or /regexp/, and
// an optional sample type.
func parseShare(arg string) (metric, error) {
	m := metric{kind: "share"}
	var what string
	if strings.HasPrefix(arg, "/") {
		end := strings.LastIndexByte(arg, '/')
		if end == 0 {
			return m, errors.New("share(/RE/): the regexp has no closing /")
		}
		what, arg = arg[:end+1], strings.TrimSpace(arg[end+1:])
		re, err := regexp.Compile(what[1:end])
		if err != nil {
			return m, err
		}
		m.re = re
		if arg != "" && !strings.HasPrefix(arg, ",") {
			return m, errors.New("share(/RE/, TYPE): a comma goes after the regexp")
		}
		arg = strings.TrimPrefix(arg, ",")
	} else {
		what, arg, _ = strings.Cut(arg, ",")
		cat, err := parseFrameCategory(strings.TrimSpace(what))
		if err != nil {
			return m, fmt.Errorf("share: %w", err)
		}
		m.cat = cat
	}
	if t := strings.TrimSpace(arg); t != "" {
		if !nameRe.MatchString(t) {
			return m, fmt.Errorf("share: type %q: want a sample type such as oncpu or go_cpu", t)
		}
		m.typ = t
	}
	return m, nil
}

// unit is the metric's unit as SLOResult.Unit says it. total's is "ns"
// until the profile says otherwise (Apply checks the type's unit).
func (m metric) unit() string {
	switch m.kind {
	case "histogram":
		if m.stat == "count" {
			return "count"
		}
		return "ns"
	case "share":
		return "%"
	case "count":
		return "count"
	case "rate":
		return "/s"
	}
	return "ns"
}

type limitKind int

const (
	limitNumber limitKind = iota
	limitDuration
	limitPercent
)

// parseLimit reads a limit (a duration, a percentage or a plain number)
// in unit: durations only for "ns", percentages only for "%".
func parseLimit(s, unit string) (float64, limitKind, error) {
	var v float64
	var kind limitKind
	var err error
	switch {
	case strings.HasSuffix(s, "%"):
		kind = limitPercent
		v, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	case unit == "/s" && strings.HasSuffix(s, "/s"):
		v, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "/s")), 64)
	default:
		if v, err = strconv.ParseFloat(s, 64); err != nil {
			var d time.Duration
			if d, err = time.ParseDuration(s); err == nil {
				kind, v = limitDuration, float64(d)
			}
		}
	}
	if err != nil {
		return 0, kind, fmt.Errorf("cannot read %q: want a duration (5ms), a percentage (25%%) or a number", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, kind, fmt.Errorf("%s: want a finite number, 0 or more", s)
	}
	switch {
	case unit == "%" && kind != limitPercent:
		return 0, kind, fmt.Errorf("%s: a share's limit is a percentage (25%%)", s)
	case unit != "%" && kind == limitPercent:
		return 0, kind, fmt.Errorf("%s: a percentage, but the metric is in %s", s, unitWords(unit))
	case unit != "ns" && kind == limitDuration:
		return 0, kind, fmt.Errorf("%s: a duration, but the metric is in %s", s, unitWords(unit))
	}
	return v, kind, nil
}

func unitWords(unit string) string {
	switch unit {
	case "ns":
		return "nanoseconds"
	case "count":
		return "events (a plain number)"
	case "/s":
		return "events per second (a plain number)"
	case "%":
		return "percent"
	}
	return unit
}

// Value computes a metric written as an SLO's (tls_handshake.p95,
// share(hashing, oncpu), count(NAME), ...) from the evidence, in the unit
// it returns: the same computation as an SLO, for readers that compare
// captures (gate).
func Value(ev *plugins.Evidence, metric string) (v float64, unit string, err error) {
	m, err := parseMetric(metric)
	if err != nil {
		return 0, "", fmt.Errorf("metric %s: %w", metric, err)
	}
	return m.value(ev)
}
