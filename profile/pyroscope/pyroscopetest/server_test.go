package pyroscopetest_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/pprof/profile"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/push/v1/pushv1connect"
	querierv1 "github.com/grafana/pyroscope/api/gen/proto/go/querier/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/querier/v1/querierv1connect"
	typesv1 "github.com/grafana/pyroscope/api/gen/proto/go/types/v1"

	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

// A plain (not gzipped) pprof with two sample types is stored as two
// profile types, queried back per type; invalid series are refused with
// InvalidArgument; unimplemented queries say so.
func TestServerSplitsTypes(t *testing.T) {
	srv := pyroscopetest.New(t)
	f := &profile.Function{ID: 1, Name: "main.f"}
	l := &profile.Location{ID: 1, Line: []profile.Line{{Function: f}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     1e7,
		Function:   []*profile.Function{f},
		Location:   []*profile.Location{l},
		Sample:     []*profile.Sample{{Value: []int64{3, 3e7}, Location: []*profile.Location{l}}},
	}
	var raw bytes.Buffer
	if err := p.WriteUncompressed(&raw); err != nil {
		t.Fatal(err)
	}
	pc := pushv1connect.NewPusherServiceClient(http.DefaultClient, srv.URL)
	series := func(ls ...string) *pushv1.PushRequest {
		s := &pushv1.RawProfileSeries{Samples: []*pushv1.RawSample{{RawProfile: raw.Bytes()}}}
		for i := 0; i < len(ls); i += 2 {
			s.Labels = append(s.Labels, &typesv1.LabelPair{Name: ls[i], Value: ls[i+1]})
		}
		return &pushv1.PushRequest{Series: []*pushv1.RawProfileSeries{s}}
	}
	ctx := context.Background()
	if _, err := pc.Push(ctx, connect.NewRequest(series("__name__", "process_cpu", "service_name", "x"))); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*pushv1.PushRequest{series("service_name", "x"), series("__name__", "a", "9x", "y"), series("b", "1", "a", "2", "__name__", "c")} {
		if _, err := pc.Push(ctx, connect.NewRequest(bad)); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("bad series %v: %v, want invalid_argument", bad.Series[0].Labels, err)
		}
	}
	for typ, want := range map[string]int64{"process_cpu:samples:count:cpu:nanoseconds": 3, "process_cpu:cpu:nanoseconds:cpu:nanoseconds": 3e7} {
		got, err := srv.SelectMerge(ctx, typ, `{service_name="x"}`)
		if err != nil || got == nil || len(got.SampleType) != 1 || got.Sample[0].Value[0] != want {
			t.Errorf("%s: %v, %v; want one sample of %d", typ, got, err, want)
		}
	}
	qc := querierv1connect.NewQuerierServiceClient(http.DefaultClient, srv.URL)
	types, err := qc.ProfileTypes(ctx, connect.NewRequest(&querierv1.ProfileTypesRequest{}))
	if err != nil || len(types.Msg.ProfileTypes) != 2 {
		t.Errorf("profile types: %v, %v; want 2", types, err)
	}
	vals, err := qc.LabelValues(ctx, connect.NewRequest(&typesv1.LabelValuesRequest{Name: "service_name"}))
	if err != nil || len(vals.Msg.Names) != 1 || vals.Msg.Names[0] != "x" {
		t.Errorf("label values: %v, %v", vals, err)
	}
	if _, err := qc.Diff(ctx, connect.NewRequest(&querierv1.DiffRequest{})); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("Diff: %v, want unimplemented", err)
	}
	if n := srv.Pushes(); n != 1 {
		t.Errorf("%d pushes accepted, want 1", n)
	}
}
