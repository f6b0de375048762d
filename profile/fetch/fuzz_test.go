package fetch

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"slices"
	"strings"
	"testing"
)

func FuzzParseNetTCP(f *testing.F) {
	for _, s := range []string{
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0",
		"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 42 1 0000000000000000 100 0 0 10 0",
		"   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 44 1",
		"   2: 0100007f:a1b2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 777 1",
		"0: 0:0 0 0 0 0 0 0 0 0",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		parseNetTCP([]byte(line + "\n" + line))
		s, err := parseNetTCPLine(line)
		if err != nil {
			return
		}
		// What parsed re-encodes to the same text, as the kernel prints it.
		fields := strings.Fields(line)
		want := strings.ToUpper(fields[1])
		got := encodeHexAddr(s.local.Addr()) + fmt.Sprintf(":%04X", s.local.Port())
		if got != want {
			t.Errorf("%q parsed as %v, which encodes as %s", line, s.local, got)
		}
		if fmt.Sprintf("%02X", s.state) != strings.ToUpper(fields[3]) {
			t.Errorf("%q: state %02X", line, s.state)
		}
		dialAddrs(s.local)
	})
}

func FuzzParseProfileAnswer(f *testing.F) {
	canned := cannedCPU()
	for _, seed := range []struct {
		body []byte
		ct   string
	}{
		{canned, "application/octet-stream"},
		{canned[:len(canned)/2], "application/octet-stream"},
		{goroutineProfile(), "application/octet-stream"},
		{gzipped([]byte("not a profile")), ""},
		{[]byte("Could not enable CPU profiling: cpu profiling already in use\n"), "text/plain; charset=utf-8"},
		{[]byte("<html><body>hi</body></html>"), "text/html"},
		{[]byte("--- contention:\ncycles/second=3000000000\n"), "application/octet-stream"},
		{[]byte("goroutine profile: total 1\n1 @ 0x1 0x2\n"), ""},
		{nil, ""},
	} {
		f.Add(seed.body, seed.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		p, err := parseProfileAnswer(body, ct, 1<<20)
		if err != nil {
			if p != nil || err.Error() == "" {
				t.Errorf("profile %v with error %q", p, err)
			}
			return
		}
		if err := p.CheckValid(); err != nil {
			t.Errorf("accepted an invalid profile: %v", err)
		}
		hasSampleType(p, "cpu/nanoseconds")
	})
}

func FuzzParseIndex(f *testing.F) {
	rec := httptest.NewRecorder()
	pprof.Index(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	index := rec.Body.Bytes()
	if _, ok := parseIndex(index); !ok {
		f.Fatalf("net/http/pprof's own index is not recognized:\n%s", index)
	}
	for _, seed := range [][]byte{
		index,
		index[:len(index)/2],
		[]byte(`<a href="/admin/debug/pprof/profile?seconds=30">cpu</a><A HREF=/x/goroutine?debug=2>g</A>`),
		[]byte(`<a href='profile`),
		[]byte(`href=`),
		[]byte("404 page not found\n"),
		nil,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		names, ok := parseIndex(page)
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("names not sorted and unique: %q", names)
		}
		if ok != (slices.Contains(names, "profile") && slices.Contains(names, "goroutine")) {
			t.Errorf("ok = %v with names %q", ok, names)
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "?#") || !bytes.Contains(page, []byte(n)) {
				t.Errorf("name %q not from the page", n)
			}
		}
	})
}
