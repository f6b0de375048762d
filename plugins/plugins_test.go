package plugins

import (
	"errors"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/profile"
)

// fake returns fixed findings or an error, or panics.
type fake struct {
	name     string
	findings []Finding
	err      error
	panics   bool
	needs    []Need
}

func (f fake) Name() string  { return f.name }
func (f fake) Doc() string   { return "test plugin" }
func (f fake) Needs() []Need { return f.needs }
func (f fake) Diagnose(ev *Evidence) ([]Finding, error) {
	if f.panics {
		var m map[string]int
		m["boom"]++ // a nil map write: a real runtime panic
	}
	return append([]Finding(nil), f.findings...), f.err
}

// stacks builds a profile of one sample type with one sample per stack
// (leaf first, ";"-separated).
func stacks(typ string, byStack map[string]int64) *pprof.Profile {
	p := &pprof.Profile{SampleType: []*pprof.ValueType{{Type: "samples", Unit: "count"}, {Type: typ, Unit: "nanoseconds"}}}
	funcs := map[string]*pprof.Function{}
	for stack, v := range byStack {
		s := &pprof.Sample{Value: []int64{max(1, v/10e6), v}} // 100 Hz
		for _, name := range strings.Split(stack, ";") {
			f := funcs[name]
			if f == nil {
				f = &pprof.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			l := &pprof.Location{ID: uint64(len(p.Location) + 1), Line: []pprof.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			s.Location = append(s.Location, l)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// Run: every plugin runs, a panicking or failing one is reported as failed
// and the others' findings stay; a missing need is not_applicable with what
// to enable; findings are finished (id, severity from score, status new)
// and ranked.
func TestRunStatuses(t *testing.T) {
	ps := []Plugin{
		fake{name: "finds", findings: []Finding{
			{Title: "small", Score: 30, Key: []string{"a"}},
			{Title: "big", Score: 90, Key: []string{"b"}},
			{Title: "mid", Score: 60, Key: []string{"c"}},
		}},
		fake{name: "panics", panics: true},
		fake{name: "fails", err: errors.New("cannot read the thing")},
		fake{name: "na-need", needs: []Need{{Any: []string{"probe:tls"}, What: "TLS handshake events", Enable: "run with --probes tls"}}},
		fake{name: "na-late", err: NotApplicable("no Go runtime", "attach to a Go program")},
		fake{name: "healthy"},
	}
	ev := &Evidence{Capture: &profile.Capture{Probes: []string{"cpu"}}, Source: "test"}
	rep := RunPlugins(ev, ps)
	want := map[string]string{"finds": StatusOK, "panics": StatusFailed, "fails": StatusFailed, "na-need": StatusNotApplicable, "na-late": StatusNotApplicable, "healthy": StatusOK}
	for _, st := range rep.Plugins {
		if st.Status != want[st.Name] {
			t.Errorf("plugin %s: status %s (%s), want %s", st.Name, st.Status, st.Reason, want[st.Name])
		}
		switch st.Name {
		case "panics":
			if !strings.Contains(st.Reason, "panic: assignment to entry in nil map") || !strings.Contains(st.Reason, "plugins_test.go") {
				t.Errorf("panic reason %q lacks the panic and its site", st.Reason)
			}
		case "na-need":
			if st.Reason != "no TLS handshake events in this capture" || st.Enable != "run with --probes tls" {
				t.Errorf("not applicable: %q / %q", st.Reason, st.Enable)
			}
		case "healthy":
			if st.Reason != "nothing found" {
				t.Errorf("healthy reason %q", st.Reason)
			}
		}
	}
	var titles []string
	for _, f := range rep.Findings {
		titles = append(titles, f.Title+"/"+f.Severity.String())
		if f.Plugin != "finds" || f.Status != StatusNew || len(f.ID) != 16 || f.Category != "finds" {
			t.Errorf("finding not finished: %+v", f)
		}
	}
	if got := strings.Join(titles, " "); got != "big/critical mid/warning small/info" {
		t.Errorf("ranked findings %s", got)
	}
	// The same problem, the same id; another key, another id.
	a := Fingerprint("p", "c", []string{"main.f"})
	if a != Fingerprint("p", "c", []string{"main.f"}) || a == Fingerprint("p", "c", []string{"main.g"}) {
		t.Error("fingerprint is not a function of its key")
	}
}

// Frame classification handles Go's renames and C, C++ and Rust names.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		fn   string
		want Category
	}{
		{"crypto/internal/fips140/sha256.blockSHANI", CatHashing},
		{"crypto/sha256.block", CatHashing},
		{"crypto/sha256.(*digest).Write", CatHashing},
		{"hash/crc32.ieeeCLMUL", CatHashing},
		{"sha256_block_data_order_avx2", CatHashing},
		{"SHA256_Update", CatHashing},
		{"sha2::sha256::compress256", CatHashing},
		{"_ZN8CryptoPP6SHA2569TransformEPjPKj", CatHashing},                             // mangled C++: CryptoPP::SHA256::Transform
		{"_ZNSt5mutex4lockEv", CatLock},                                                 // std::mutex::lock()
		{"_ZN4sha26sha25611compress25617h1234567890abcdefE", CatHashing},                // legacy Rust mangling
		{"CryptoPP::SHA256::Transform(unsigned int*, unsigned int const*)", CatHashing}, // as the symbolizer demangles it
		{"std::mutex::lock()", CatLock},
		{"operator new(unsigned long)", CatAllocation},
		{"crypto/tls.(*Conn).clientHandshake", CatTLSHandshake},
		{"crypto/tls.(*serverHandshakeStateTLS13).handshake", CatTLSHandshake},
		{"SSL_do_handshake", CatTLSHandshake},
		{"crypto/internal/fips140/nistec.(*P256Point).ScalarMult", CatCrypto},
		{"crypto/internal/fips140/aes/gcm.seal", CatCrypto},
		{"encoding/json.(*encodeState).marshal", CatSerialization},
		{"google.golang.org/protobuf/internal/impl.(*MessageInfo).marshal", CatSerialization},
		{"serde_json::ser::to_vec", CatSerialization},
		{"compress/flate.(*compressor).deflate", CatCompression},
		{"deflate_slow", CatCompression},
		{"runtime.gcBgMarkWorker", CatGC},
		{"runtime.scanobject", CatGC},
		{"runtime.mallocgc", CatAllocation},
		{"runtime.mallocgcSmallNoscan", CatAllocation},
		{"sync.(*Mutex).lockSlow", CatLock},
		{"internal/sync.(*Mutex).lockSlow", CatLock},
		{"futex_wait_[k]", CatLock},
		{"regexp.Compile", CatRegexp},
		{"regexp/syntax.(*parser).push", CatRegexp},
		{"reflect.Value.Field", CatReflection},
		{"fmt.Sprintf", CatFmtLogging},
		{"log/slog.(*Logger).Info", CatFmtLogging},
		{"syscall.Fsync", CatFsync},
		{"vfs_fsync_range_[k]", CatFsync},
		{"runtime/pprof.(*profileBuilder).build", CatProfilerCost},
		{"net/http/pprof.handler.ServeHTTP", CatProfilerCost},
		{"github.com/felixge/fgprof.Handler.func1", CatProfilerCost},
		{"runtime.sigprof", CatProfilerCost},
		{"regexp.MustCompile", CatRegexp},
		{"regexp/syntax.(*compiler).rune", CatRegexp},
		{"reflect.deepValueEqual", CatReflection},
		{"runtime.mallocgcSmallNoScanSC2", CatAllocation},
		{"runtime.gcDrainMarkWorkerDedicated", CatGC},
		{"crypto/internal/fips140/aes/gcm.gcmAesEnc", CatCrypto},
		{"sha256_transform", CatHashing},
	} {
		got := Classify(c.fn, "")
		ok := false
		for _, g := range got {
			ok = ok || g == c.want
		}
		if !ok {
			t.Errorf("Classify(%q) = %v, want %s among them", c.fn, got, c.want)
		}
	}
	for _, fn := range []string{"main.main", "runtime.goexit", "net/http.(*conn).serve", "crypto/tls.(*Conn).Read", "syscall_exit_to_user_mode_[k]", "example.com/notcrypto/sha256.block", "mySHA256_Update", "runtime.sighandler", "main.neutralWork"} {
		if got := Classify(fn, ""); got != nil {
			t.Errorf("Classify(%q) = %v, want none", fn, got)
		}
	}
}

// InCategory: inclusive shares, proving stacks, the entry function that
// calls into the category and the leafmost category frames.
func TestInCategory(t *testing.T) {
	ev := &Evidence{Profile: stacks(profile.TypeOnCPU, map[string]int64{
		"crypto/internal/fips140/sha256.blockSHANI;crypto/sha256.(*digest).Write;main.checksum;main.handle": 300e6,
		"crypto/sha256.block;main.checksum;main.handle":                                                     100e6,
		"main.spin;main.handle": 600e6,
	})}
	m := ev.InCategory(profile.TypeOnCPU, CatHashing)
	if m.Value != 400e6 || m.Total != 1e9 || m.Share != 0.4 || m.Samples != 40 {
		t.Errorf("match %+v, want 400 ms of 1 s in 40 samples", m)
	}
	if len(m.Entries) == 0 || m.Entries[0] != "main.checksum" {
		t.Errorf("entries %v, want main.checksum first", m.Entries)
	}
	if len(m.Frames) == 0 || m.Frames[0] != "crypto/internal/fips140/sha256.blockSHANI" {
		t.Errorf("frames %v", m.Frames)
	}
	if len(m.Stacks) != 2 || m.Stacks[0].Value != 300e6 {
		t.Errorf("stacks %+v", m.Stacks)
	}
	h := CPUHotSpot{PluginName: "hashing", Category: CatHashing, What: "hashing", Advice: "hash less"}
	ev.Duration = 2 * time.Second
	fs, err := h.Diagnose(ev)
	if err != nil || len(fs) != 1 {
		t.Fatalf("hot spot: %v %+v", err, fs)
	}
	Finish(&fs[0], "hashing")
	f := fs[0]
	if f.Severity != Warning || f.Title != "40% of CPU time is hashing from main.checksum" || f.Key[0] != "main.checksum" {
		t.Errorf("finding %s %q key %v", f.Severity, f.Title, f.Key)
	}
	if !strings.Contains(f.Query, "-sample_index=oncpu") || !strings.Contains(f.Query, "-focus=") {
		t.Errorf("query %q", f.Query)
	}
}

// Absolute evidence gates a share: 40% of a 5 ms capture stays info.
func TestScoreGates(t *testing.T) {
	for _, c := range []struct {
		name          string
		share         float64
		value, window time.Duration
		samples       int64
		sev           Severity
		gated         bool
	}{
		{"large and long", 0.6, 3 * time.Second, 5 * time.Second, 300, Critical, false},
		{"warning", 0.3, time.Second, 5 * time.Second, 100, Warning, false},
		{"tiny window", 0.6, 3 * time.Millisecond, 5 * time.Millisecond, 3, Info, true},
		{"few ms of CPU", 0.6, 50 * time.Millisecond, 5 * time.Second, 50, Info, true},
		{"few samples", 0.6, time.Second, 5 * time.Second, 5, Info, true},
		{"small share", 0.05, time.Second, 20 * time.Second, 100, Info, false},
	} {
		s, gated := HotSpot.Score(c.share, c.value, c.samples, c.window)
		if SeverityOf(s) != c.sev || (gated != "") != c.gated {
			t.Errorf("%s: score %d (%s) gated %q", c.name, s, SeverityOf(s), gated)
		}
	}
}
