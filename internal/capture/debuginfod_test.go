package capture_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/capture"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// TestCaptureDebuginfodDown captures a stripped C program (cspin built
// with -s: no .symtab, no debug file anywhere) with DEBUGINFOD_URLS
// naming a server that refuses connections, or one that accepts and never
// answers. The capture finishes; capture.json and the terminal summary
// carry one warning naming the server; hot_spin's frames stay addresses
// that keep their mapping, build id and address in the profile, so that
// pprof can symbolize them later.
func TestCaptureDebuginfodDown(t *testing.T) {
	bpftest.Require(t)
	bin := testtarget.Build(t, "cspin", "-s")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := ef.Symbols()
	ef.Close()
	if len(syms) > 0 {
		t.Fatalf("%s has %d .symtab entries: want it stripped", bin, len(syms))
	}

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accepts, reads and never answers
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	oldTimeout := symbolize.DebuginfodTimeout
	symbolize.DebuginfodTimeout = time.Second
	t.Cleanup(func() { symbolize.DebuginfodTimeout = oldTimeout })

	for _, tc := range []struct {
		name, url, what string
	}{
		{"refused", refusedURL, "connection refused"},
		{"silent", "http://" + silent.Addr().String(), "no answer within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DEBUGINFOD_URLS", tc.url)
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			p := testtarget.Start(t, bin, "-duration", "30")
			o := capture.FromConfig(probes.Config{Probes: []string{"cpu"}})
			o.Duration = time.Second
			res := bpftest.Attach(t, p.PID, o)

			var mine []string
			for _, w := range res.Capture.Warnings {
				if strings.Contains(w, "debuginfod") {
					mine = append(mine, w)
				}
			}
			if len(mine) != 1 || !strings.Contains(mine[0], "debuginfod server "+tc.url+": ") || !strings.Contains(mine[0], tc.what) {
				t.Fatalf("debuginfod warnings %q, want one naming %s and %q", mine, tc.url, tc.what)
			}
			t.Logf("warning: %s", mine[0])
			var doc struct{ Warnings []string }
			b, err := os.ReadFile(filepath.Join(res.Dir, "capture.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(doc.Warnings, mine[0]) {
				t.Errorf("capture.json warnings %q lack %q", doc.Warnings, mine[0])
			}
			var sum bytes.Buffer
			res.WriteSummary(&sum)
			if n := strings.Count(sum.String(), "Warning: "+mine[0]+"\n"); n != 1 {
				t.Errorf("the summary has the warning %d times, want once:\n%s", n, sum.String())
			}

			// cspin's frames (hot_spin, main): unknown, with the address,
			// mapping and build id; on nearly every stack.
			i := profile.ValueIndex(res.Profile, profile.TypeOnCPU)
			var total, in int64
			prefix := filepath.Base(bin) + "+0x"
			for _, s := range res.Profile.Sample {
				total += s.Value[i]
				found := false
				for _, l := range s.Location {
					if len(l.Line) == 0 || !strings.HasPrefix(l.Line[0].Function.Name, prefix) {
						continue
					}
					found = true
					if m := l.Mapping; l.Address == 0 || m == nil || m.File != bin || m.BuildID == "" || m.HasFunctions {
						t.Fatalf("unsymbolized frame %s: address %#x, mapping %+v: want the address, the binary, its build id and HasFunctions false", l.Line[0].Function.Name, l.Address, m)
					}
				}
				if found {
					in += s.Value[i]
				}
			}
			t.Logf("%.0f%% of on-CPU time on stacks with unsymbolized frames of %s", 100*float64(in)/float64(max(total, 1)), filepath.Base(bin))
			if total == 0 || float64(in) < 0.9*float64(total) {
				t.Errorf("stacks with frames of the binary: %d of %d ns on CPU, want >= 90%% (cspin spins in hot_spin, called from main)", in, total)
			}
		})
	}
}
