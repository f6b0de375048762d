package pyroscopetest

import (
	"fmt"
	"testing"
)

func TestParseSelector(t *testing.T) {
	labels := map[string]string{"service_name": "demo", "source": "ebpf", "pid": "42"}
	for _, tc := range []struct {
		sel   string
		match bool
		err   bool
	}{
		{``, true, false},
		{`{}`, true, false},
		{`{service_name="demo"}`, true, false},
		{`{service_name="demo", source="ebpf"}`, true, false},
		{`{service_name="demo",source="go"}`, false, false},
		{`{source!="go"}`, true, false},
		{`{pid=~"4[0-9]"}`, true, false},
		{`{pid=~"4"}`, false, false}, // anchored, as in Prometheus
		{`{pid!~"4.*"}`, false, false},
		{`{missing=""}`, true, false},
		{`{service_name="de\"mo"}`, false, false},
		{`service_name="demo"`, false, true},
		{`{service_name=demo}`, false, true},
		{`{service_name="demo" source="ebpf"}`, false, true},
		{`{="x"}`, false, true},
		{`{a=~"("}`, false, true},
	} {
		ms, err := parseSelector(tc.sel)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %t", tc.sel, err, tc.err)
			continue
		}
		if err == nil && matchAll(ms, labels) != tc.match {
			t.Errorf("%s: match %t, want %t (matchers %s)", tc.sel, !tc.match, tc.match, fmt.Sprint(ms))
		}
	}
}
