package gate

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// wrk 4.x prints one block per run:
//
//	Running 10s test @ http://127.0.0.1:8080/path
//	  Thread Stats   Avg      Stdev     Max   +/- Stdev
//	    Latency     4.11ms    2.71ms  21.09ms   77.21%
//	  Latency Distribution          (with --latency)
//	     50%    3.29ms
//	  Non-2xx or 3xx responses: 12
//	  Socket errors: connect 0, read 1, write 0, timeout 3
//	Requests/sec:    975.51
//	Transfer/sec:      2.64MB
//
// Metrics are named "wrk /path": the host and port are dropped, since the
// two sides' services often listen on different ports. Each block is one
// sample of each metric.
var (
	wrkRunning = regexp.MustCompile(`(?m)^Running .* test @ (\S+)`)
	wrkLatency = regexp.MustCompile(`(?m)^[ \t]*Latency[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)`)
	wrkPct     = regexp.MustCompile(`(?m)^[ \t]*(50|75|90|99)(?:\.0+)?%[ \t]+(\S+)[ \t]*$`)
	wrkReqs    = regexp.MustCompile(`(?m)^Requests/sec:[ \t]+(\S+)`)
	wrkXfer    = regexp.MustCompile(`(?m)^Transfer/sec:[ \t]+(\S+)`)
	wrkNon2xx  = regexp.MustCompile(`(?m)^[ \t]*Non-2xx or 3xx responses:[ \t]+(\d+)`)
	wrkSocket  = regexp.MustCompile(`(?m)^[ \t]*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func parseWrk(name, _ string, data []byte, into *Set) (bool, error) {
	if !bytes.Contains(data, []byte("Requests/sec:")) {
		return false, nil
	}
	starts := wrkRunning.FindAllSubmatchIndex(data, -1)
	if len(starts) == 0 {
		return false, nil // no "Running ... test @ URL": not wrk's
	}
	for i, s := range starts {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		if err := parseWrkRun(name, string(data[s[2]:s[3]]), data[s[1]:end], into); err != nil {
			return false, err
		}
	}
	return true, nil
}

func parseWrkRun(name, rawURL string, run []byte, into *Set) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("wrk URL %q: %w", rawURL, err)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	metric := "wrk " + path
	m := wrkReqs.FindSubmatch(run)
	if m == nil {
		return fmt.Errorf("wrk run of %s has no Requests/sec line", rawURL)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || finite(metric, rps) != nil {
		return fmt.Errorf("wrk Requests/sec %q is not a number", m[1])
	}
	into.Add(metric, "req/s", KindThroughput, true, rps, name)

	if pcts := wrkPct.FindAllSubmatch(run, -1); len(pcts) > 0 {
		for _, p := range pcts {
			v, err := wrkSeconds(string(p[2]))
			if err != nil {
				return err
			}
			into.Add(metric+" latency p"+string(p[1]), "s", KindLatency, false, v, name)
		}
	} else if l := wrkLatency.FindSubmatch(run); l != nil {
		mean, err := wrkSeconds(string(l[1]))
		if err != nil {
			return err
		}
		mx, err := wrkSeconds(string(l[3]))
		if err != nil {
			return err
		}
		into.Add(metric+" latency mean", "s", KindLatency, false, mean, name)
		into.Add(metric+" latency max", "s", KindLatency, false, mx, name)
	}

	if x := wrkXfer.FindSubmatch(run); x != nil {
		v, err := wrkBytes(string(x[1]))
		if err != nil {
			return err
		}
		into.Add(metric+" transfer", "B/s", KindThroughput, true, v, name)
	}

	var errs float64
	if e := wrkNon2xx.FindSubmatch(run); e != nil {
		n, _ := strconv.ParseFloat(string(e[1]), 64)
		errs += n
	}
	if e := wrkSocket.FindSubmatch(run); e != nil {
		for _, f := range e[1:] {
			n, _ := strconv.ParseFloat(string(f), 64)
			errs += n
		}
	}
	into.Add(metric+" errors", "count", KindOther, false, errs, name)
	return nil
}

// wrkSeconds reads a wrk duration: a number and us, ms, s, m or h
// (wrk's units.c).
func wrkSeconds(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			if v, err := strconv.ParseFloat(num, 64); err == nil && finite("", v) == nil {
				return v * u.scale, nil
			}
			break
		}
	}
	return 0, fmt.Errorf("wrk latency %q: want a number and us, ms, s, m or h", s)
}

// wrkBytes reads a wrk byte count: a number and B, KB, MB, GB, TB (powers
// of 1024, wrk's units.c).
func wrkBytes(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "B")
	if ok {
		scale := 1.0
		for i, p := range []string{"K", "M", "G", "T", "P"} {
			if n, ok := strings.CutSuffix(num, p); ok {
				num, scale = n, float64(uint64(1)<<(10*(i+1)))
				break
			}
		}
		if v, err := strconv.ParseFloat(num, 64); err == nil && finite("", v) == nil {
			return v * scale, nil
		}
	}
	return 0, fmt.Errorf("wrk Transfer/sec %q: want a number and B, KB, MB, GB or TB", s)
}
