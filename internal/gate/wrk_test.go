package gate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// wrk 4.1.0's output with --latency (the numbers of a real run).
const wrkLatencyText = `Running 1s test @ http://127.0.0.1:18931/api/items?x=1
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.11ms    2.71ms  21.09ms   77.21%
    Req/Sec     0.99k   180.20     1.21k    60.00%
  Latency Distribution
     50%  812.00us
     75%    5.59ms
     90%    7.89ms
     99%    1.02s 
  995 requests in 1.02s, 2.69MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
Requests/sec:    975.51
Transfer/sec:      2.64MB
`

// Without --latency, two runs in one file, the second with errors.
const wrkPlainText = `Running 1s test @ http://10.0.0.1:9000
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.07ms    2.95ms  25.80ms   87.56%
    Req/Sec     1.51k   218.98     1.97k    80.00%
  1505 requests in 1.00s, 764.44KB read
Requests/sec:   1503.77
Transfer/sec:    763.82KB
Running 1s test @ http://10.0.0.1:9001/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   950.00us    2.95ms    1.50m   87.56%
    Req/Sec     1.51k   218.98     1.97k    80.00%
  1505 requests in 1.00s, 764.44KB read
  Non-2xx or 3xx responses: 1505
Requests/sec:   1400.00
Transfer/sec:    512B
`

func TestWrkLatency(t *testing.T) {
	s := mustParse(t, "wrk.txt", wrkLatencyText)
	const m = "wrk /api/items?x=1"
	wantSamples(t, metric(t, s, m, "req/s"), KindThroughput, true, 975.51)
	wantSamples(t, metric(t, s, m+" latency p50", "s"), KindLatency, false, 812e-6)
	wantSamples(t, metric(t, s, m+" latency p75", "s"), KindLatency, false, 5.59e-3)
	wantSamples(t, metric(t, s, m+" latency p90", "s"), KindLatency, false, 7.89e-3)
	wantSamples(t, metric(t, s, m+" latency p99", "s"), KindLatency, false, 1.02)
	wantSamples(t, metric(t, s, m+" transfer", "B/s"), KindThroughput, true, 2.64*1024*1024)
	wantSamples(t, metric(t, s, m+" errors", "count"), KindOther, false, 10)
	if s.Len() != 7 {
		t.Errorf("%d metrics, want 7:\n%s", s.Len(), s)
	}
}

func TestWrkPlain(t *testing.T) {
	s := mustParse(t, "wrk.txt", wrkPlainText)
	const m = "wrk /" // host and port dropped: both runs are one metric
	wantSamples(t, metric(t, s, m, "req/s"), KindThroughput, true, 1503.77, 1400)
	wantSamples(t, metric(t, s, m+" latency mean", "s"), KindLatency, false, 3.07e-3, 950e-6)
	wantSamples(t, metric(t, s, m+" latency max", "s"), KindLatency, false, 25.80e-3, 90)
	wantSamples(t, metric(t, s, m+" transfer", "B/s"), KindThroughput, true, 763.82*1024, 512)
	wantSamples(t, metric(t, s, m+" errors", "count"), KindOther, false, 0, 1505)
	if s.Len() != 5 {
		t.Errorf("%d metrics, want 5:\n%s", s.Len(), s)
	}
}

// A text that mentions Requests/sec without wrk's Running line is not
// wrk's output.
func TestWrkNotRecognised(t *testing.T) {
	s := NewSet()
	if ok, err := ParseData("notes", []byte("we got Requests/sec: 12\nRequests/sec: 13\n"), s); ok || err != nil || s.Len() != 0 {
		t.Errorf("ParseData = %v, %v, %d metrics; want not recognised", ok, err, s.Len())
	}
}

func TestWrkMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"bad rate":         "Running 1s test @ http://h/\nRequests/sec: lots\n",
		"bad latency unit": "Running 1s test @ http://h/\n  Latency Distribution\n     50%  3.1parsecs\nRequests/sec: 12\n",
		"bad transfer":     "Running 1s test @ http://h/\nRequests/sec: 12\nTransfer/sec: 3XB\n",
		"run without rate": "Running 1s test @ http://h/a\nRequests/sec: 1\nRunning 1s test @ http://h/b\n",
	} {
		s := NewSet()
		ok, err := ParseData("w", []byte(in), s)
		if ok || err == nil || s.Len() != 0 {
			t.Errorf("%s: ParseData = %v, %v, %d metrics; want an error", name, ok, err, s.Len())
		} else if !strings.Contains(err.Error(), "wrk") {
			t.Errorf("%s: error %q does not name wrk", name, err)
		}
	}
}

// A real wrk run against a loopback server: the parsed figures are the
// printed ones, converted to seconds.
func TestWrkReal(t *testing.T) {
	wrk := needTool(t, "wrk")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	defer srv.Close()
	out, err := exec.Command(wrk, "-t1", "-c4", "-d2s", "--latency", srv.URL+"/hello").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	s := mustParse(t, "wrk.txt", string(out))
	text := string(out)
	rps := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindStringSubmatch(text)
	if rps == nil {
		t.Fatalf("no Requests/sec in:\n%s", text)
	}
	v, _ := strconv.ParseFloat(rps[1], 64)
	if v <= 0 {
		t.Fatalf("wrk made no requests:\n%s", text)
	}
	wantSamples(t, metric(t, s, "wrk /hello", "req/s"), KindThroughput, true, v)
	scale := map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1}
	pcts := regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`).FindAllStringSubmatch(text, -1)
	if len(pcts) != 4 {
		t.Fatalf("%d percentile lines, want 4:\n%s", len(pcts), text)
	}
	for _, p := range pcts {
		v, _ := strconv.ParseFloat(p[2], 64)
		wantSamples(t, metric(t, s, "wrk /hello latency p"+p[1], "s"), KindLatency, false, v*scale[p[3]])
	}
	wantSamples(t, metric(t, s, "wrk /hello errors", "count"), KindOther, false, 0)
}
