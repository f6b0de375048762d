// Package pyroscopetest is an in-process Pyroscope server for tests, built
// from Pyroscope's official generated connect handlers: it stores what
// PusherService.Push receives, split per sample type as the real server
// does, answers the queries tests need (SelectMergeProfile, ProfileTypes,
// LabelNames, LabelValues, Series), and can fail on demand (500s, 400s,
// 429s, hanging, or gone) to test a client's retries.
package pyroscopetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/pprof/profile"
	googlev1 "github.com/grafana/pyroscope/api/gen/proto/go/google/v1"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/push/v1/pushv1connect"
	querierv1 "github.com/grafana/pyroscope/api/gen/proto/go/querier/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/querier/v1/querierv1connect"
	typesv1 "github.com/grafana/pyroscope/api/gen/proto/go/types/v1"
)

// Failure is how the server answers pushes.
type Failure string

// The failure modes of SetFailure.
const (
	None      Failure = "none"      // accept pushes
	Status500 Failure = "status500" // plain HTTP 500, as a broken proxy answers
	Status400 Failure = "status400" // connect InvalidArgument (HTTP 400), as the server answers a profile it refuses
	Status429 Failure = "status429" // connect ResourceExhausted (HTTP 429), the server's rate limit
	Hang      Failure = "hang"      // the push handler blocks until the request's context is done
	Down      Failure = "down"      // the listener is closed; Up reopens it on the same address
)

// Received is one request the server saw (pushes and queries alike),
// with its headers, for tests to check auth and tenant. Tests must not log
// the headers: they hold the credentials.
type Received struct {
	Path   string
	Header http.Header
	Time   time.Time
}

// Stored is one stored profile: one sample type of one pushed RawSample.
type Stored struct {
	Labels  map[string]string // the series labels, __name__ included
	TypeID  string            // __name__:type:unit:periodtype:periodunit
	ID      string            // the RawSample's ID
	Profile *profile.Profile  // the pushed pprof with only this sample type
}

// Option configures New.
type Option func(*Server)

// WithPathPrefix serves the API under prefix (e.g. "/pyroscope"), as
// behind a reverse proxy; URL includes it.
func WithPathPrefix(prefix string) Option {
	return func(s *Server) { s.prefix = "/" + strings.Trim(prefix, "/") }
}

// WithTLS serves https with a fresh self-signed certificate for
// 127.0.0.1; CAFile is a PEM file of it.
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// maxRequests bounds the requests kept for Requests.
const maxRequests = 100000

// Server is an in-process Pyroscope server. httptest.Server cannot reopen
// on the same address after Close, which Down/Up need, hence our own
// listener.
type Server struct {
	URL    string // base URL for clients, the path prefix included
	CAFile string // with WithTLS: the PEM of the server's certificate

	prefix  string
	tls     bool
	tlsConf *tls.Config
	addr    string
	handler http.Handler

	mu       sync.Mutex
	srv      *http.Server
	failure  Failure
	failN    int // failures left before None; <= 0: until SetFailure
	pushes   int
	requests []Received
	stored   []Stored
	closed   bool
}

// New starts a server on a loopback port and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{failure: None}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.Handle(pushv1connect.NewPusherServiceHandler(pusher{s}))
	mux.Handle(querierv1connect.NewQuerierServiceHandler(querier{s: s}))
	var h http.Handler = s.middleware(mux)
	if s.prefix != "" {
		h = http.StripPrefix(s.prefix, h)
	}
	s.handler = h
	scheme := "http"
	if s.tls {
		scheme = "https"
		cert, pemBytes, err := selfSigned()
		if err != nil {
			t.Fatalf("pyroscopetest: creating a certificate: %v", err)
		}
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.CAFile = filepath.Join(t.TempDir(), "pyroscopetest-ca.pem")
		if err := os.WriteFile(s.CAFile, pemBytes, 0o600); err != nil {
			t.Fatalf("pyroscopetest: writing the CA file: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pyroscopetest: listening: %v", err)
	}
	s.addr = ln.Addr().String()
	s.URL = scheme + "://" + s.addr + s.prefix
	s.serve(ln)
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(ln net.Listener) {
	if s.tlsConf != nil {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// Close stops the server for good.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// SetFailure sets how the server answers pushes from now on; Down closes
// the listener (and open connections), any other mode reopens it.
func (s *Server) SetFailure(f Failure) error { return s.SetFailureN(f, 0) }

// SetFailureN fails the next n pushes in mode f (not Down), then accepts
// again; n <= 0 fails until the next SetFailure.
func (s *Server) SetFailureN(f Failure, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("pyroscopetest: server closed")
	}
	s.failure, s.failN = f, n
	if f == Down {
		if s.srv != nil {
			_ = s.srv.Close()
			s.srv = nil
		}
		return nil
	}
	if s.srv == nil {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("pyroscopetest: listening again on %s: %w", s.addr, err)
		}
		s.serve(ln)
	}
	return nil
}

// Up reopens the listener on the same address and accepts pushes again.
func (s *Server) Up() error { return s.SetFailure(None) }

// Pushes is the number of push requests the server accepted.
func (s *Server) Pushes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes
}

// Requests returns the requests seen so far (the first 100000).
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Stored returns the stored profiles, in the order received.
func (s *Server) Stored() []Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if len(s.requests) < maxRequests {
			s.requests = append(s.requests, Received{Path: r.URL.Path, Header: r.Header.Clone(), Time: time.Now()})
		}
		f := None
		if r.URL.Path == pushv1connect.PusherServicePushProcedure {
			f = s.failure
			if f != None && s.failN > 0 {
				if s.failN--; s.failN == 0 {
					s.failure = None
				}
			}
		}
		s.mu.Unlock()
		switch f {
		case Status500:
			http.Error(w, "pyroscopetest: internal error", http.StatusInternalServerError)
		case Hang:
			<-r.Context().Done()
		case Status400, Status429:
			code := connect.CodeInvalidArgument
			if f == Status429 {
				code = connect.CodeResourceExhausted
			}
			_ = connect.NewErrorWriter().Write(w, r, connect.NewError(code, fmt.Errorf("pyroscopetest: push refused (%s)", f)))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

type pusher struct{ s *Server }

// Push validates the series as the real server does (and is stricter:
// label names must come sorted), parses each RawSample's pprof (gzipped
// or not) and stores one profile per sample type.
func (p pusher) Push(_ context.Context, req *connect.Request[pushv1.PushRequest]) (*connect.Response[pushv1.PushResponse], error) {
	var add []Stored
	for _, series := range req.Msg.Series {
		labels, err := checkLabels(series.Labels)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		for _, raw := range series.Samples {
			prof, err := profile.ParseData(raw.RawProfile)
			if err != nil {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("parsing profile of series %v: %w", labels, err))
			}
			for i, st := range prof.SampleType {
				one := prof.Copy()
				one.SampleType = []*profile.ValueType{st}
				one.DefaultSampleType = ""
				kept := one.Sample[:0]
				for _, smp := range one.Sample {
					if v := smp.Value[i]; v != 0 {
						smp.Value = []int64{v}
						kept = append(kept, smp)
					}
				}
				one.Sample = kept
				pt, pu := "", ""
				if one.PeriodType != nil {
					pt, pu = one.PeriodType.Type, one.PeriodType.Unit
				}
				add = append(add, Stored{
					Labels:  labels,
					TypeID:  strings.Join([]string{labels["__name__"], st.Type, st.Unit, pt, pu}, ":"),
					ID:      raw.ID,
					Profile: one,
				})
			}
		}
	}
	p.s.mu.Lock()
	p.s.pushes++
	p.s.stored = append(p.s.stored, add...)
	p.s.mu.Unlock()
	return connect.NewResponse(&pushv1.PushResponse{}), nil
}

func checkLabels(ls []*typesv1.LabelPair) (map[string]string, error) {
	out := make(map[string]string, len(ls))
	for i, l := range ls {
		if !validName(l.Name) {
			return nil, fmt.Errorf("invalid label name %q", l.Name)
		}
		if _, dup := out[l.Name]; dup {
			return nil, fmt.Errorf("duplicate label name %q", l.Name)
		}
		if i > 0 && ls[i-1].Name > l.Name {
			return nil, fmt.Errorf("labels not sorted: %q after %q", l.Name, ls[i-1].Name)
		}
		out[l.Name] = l.Value
	}
	if out["__name__"] == "" {
		return nil, errors.New("series without __name__ label")
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type querier struct {
	querierv1connect.UnimplementedQuerierServiceHandler
	s *Server
}

// selectStored returns the stored profiles of type typeID ("" any) whose
// labels match selector and whose time is in [start, end] (milliseconds;
// end 0: no bound).
func (s *Server) selectStored(typeID, selector string, start, end int64) ([]Stored, error) {
	ms, err := parseSelector(selector)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Stored
	for _, st := range s.stored {
		ms0 := st.Profile.TimeNanos / 1e6
		if typeID != "" && st.TypeID != typeID || !matchAll(ms, st.Labels) || end > 0 && (ms0 < start || ms0 > end) {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

func (q querier) SelectMergeProfile(_ context.Context, req *connect.Request[querierv1.SelectMergeProfileRequest]) (*connect.Response[googlev1.Profile], error) {
	m := req.Msg
	if m.ProfileTypeID == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("profile_typeID is required"))
	}
	sel, err := q.s.selectStored(m.ProfileTypeID, m.LabelSelector, m.Start, m.End)
	if err != nil {
		return nil, err
	}
	if len(sel) == 0 {
		return connect.NewResponse(&googlev1.Profile{}), nil
	}
	ps := make([]*profile.Profile, len(sel))
	for i, st := range sel {
		ps[i] = st.Profile.Copy()
		ps[i].Period = sel[0].Profile.Period
	}
	merged, err := profile.Merge(ps)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("merging profiles: %w", err))
	}
	var buf bytes.Buffer
	if err := merged.WriteUncompressed(&buf); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	out := &googlev1.Profile{}
	if err := out.UnmarshalVT(buf.Bytes()); err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("converting profile: %w", err))
	}
	return connect.NewResponse(out), nil
}

func (q querier) ProfileTypes(context.Context, *connect.Request[querierv1.ProfileTypesRequest]) (*connect.Response[querierv1.ProfileTypesResponse], error) {
	sel, _ := q.s.selectStored("", "", 0, 0)
	seen := map[string]bool{}
	resp := &querierv1.ProfileTypesResponse{}
	for _, st := range sel {
		if seen[st.TypeID] {
			continue
		}
		seen[st.TypeID] = true
		f := strings.Split(st.TypeID, ":")
		resp.ProfileTypes = append(resp.ProfileTypes, &typesv1.ProfileType{ID: st.TypeID, Name: f[0], SampleType: f[1], SampleUnit: f[2], PeriodType: f[3], PeriodUnit: f[4]})
	}
	slices.SortFunc(resp.ProfileTypes, func(a, b *typesv1.ProfileType) int { return cmp.Compare(a.ID, b.ID) })
	return connect.NewResponse(resp), nil
}

func (q querier) matching(matchers []string, start, end int64) ([]Stored, error) {
	if len(matchers) == 0 {
		return q.s.selectStored("", "", start, end)
	}
	var out []Stored
	for _, m := range matchers {
		sel, err := q.s.selectStored("", m, start, end)
		if err != nil {
			return nil, err
		}
		out = append(out, sel...)
	}
	return out, nil
}

func (q querier) LabelNames(_ context.Context, req *connect.Request[typesv1.LabelNamesRequest]) (*connect.Response[typesv1.LabelNamesResponse], error) {
	sel, err := q.matching(req.Msg.Matchers, req.Msg.Start, req.Msg.End)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, st := range sel {
		for k := range st.Labels {
			names[k] = true
		}
	}
	return connect.NewResponse(&typesv1.LabelNamesResponse{Names: slices.Sorted(maps.Keys(names))}), nil
}

func (q querier) LabelValues(_ context.Context, req *connect.Request[typesv1.LabelValuesRequest]) (*connect.Response[typesv1.LabelValuesResponse], error) {
	sel, err := q.matching(req.Msg.Matchers, req.Msg.Start, req.Msg.End)
	if err != nil {
		return nil, err
	}
	values := map[string]bool{}
	for _, st := range sel {
		if v, ok := st.Labels[req.Msg.Name]; ok {
			values[v] = true
		}
	}
	return connect.NewResponse(&typesv1.LabelValuesResponse{Names: slices.Sorted(maps.Keys(values))}), nil
}

func (q querier) Series(_ context.Context, req *connect.Request[querierv1.SeriesRequest]) (*connect.Response[querierv1.SeriesResponse], error) {
	sel, err := q.matching(req.Msg.Matchers, req.Msg.Start, req.Msg.End)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	resp := &querierv1.SeriesResponse{}
	for _, st := range sel {
		var ls []*typesv1.LabelPair
		for _, k := range slices.Sorted(maps.Keys(st.Labels)) {
			if len(req.Msg.LabelNames) == 0 || slices.Contains(req.Msg.LabelNames, k) {
				ls = append(ls, &typesv1.LabelPair{Name: k, Value: st.Labels[k]})
			}
		}
		key := fmt.Sprint(ls)
		if !seen[key] {
			seen[key] = true
			resp.LabelsSet = append(resp.LabelsSet, &typesv1.Labels{Labels: ls})
		}
	}
	return connect.NewResponse(resp), nil
}

// SelectMerge queries the server through the official querier client
// (SelectMergeProfile over all time) and returns the merged profile; nil
// when nothing matched.
func (s *Server) SelectMerge(ctx context.Context, typeID, selector string) (*profile.Profile, error) {
	hc := http.DefaultClient
	if s.tlsConf != nil {
		pool := x509.NewCertPool()
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(pemBytes)
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	qc := querierv1connect.NewQuerierServiceClient(hc, s.URL)
	resp, err := qc.SelectMergeProfile(ctx, connect.NewRequest(&querierv1.SelectMergeProfileRequest{
		ProfileTypeID: typeID, LabelSelector: selector, Start: 0, End: 0,
	}))
	if err != nil {
		return nil, fmt.Errorf("selecting %s %s: %w", typeID, selector, err)
	}
	if len(resp.Msg.SampleType) == 0 {
		return nil, nil
	}
	b, err := resp.Msg.MarshalVT()
	if err != nil {
		return nil, err
	}
	return profile.ParseData(b)
}

// selfSigned makes a certificate for 127.0.0.1 and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pyroscopetest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}
