package tls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// goFunc assembles a function shaped like the Go 1.21+ compiler's output:
// stack check, frame setup, two returns, the stack-growth path jumping
// back to the top, INT3 padding. It returns the code, the entry offset
// and the RET offsets goProbeSites must find.
func goFunc(prefix, body []byte) (code []byte, entry uint64, rets []uint64) {
	var b bytes.Buffer
	b.Write(prefix)
	top := b.Len()
	b.Write([]byte{0x4c, 0x8d, 0xa4, 0x24, 0x70, 0xfe, 0xff, 0xff}) // LEAQ -0x190(SP), R12
	b.Write([]byte{0x4d, 0x3b, 0x66, 0x10})                         // CMPQ R12, 0x10(R14)
	jbe := b.Len()
	b.Write([]byte{0x0f, 0x86, 0, 0, 0, 0}) // JBE morestack (patched below)
	entry = uint64(b.Len())
	b.Write([]byte{0x55})                   // PUSHQ BP
	b.Write([]byte{0x48, 0x89, 0xe5})       // MOVQ SP, BP
	b.Write([]byte{0x48, 0x83, 0xec, 0x10}) // SUBQ $0x10, SP
	b.Write(body)
	b.Write([]byte{0x48, 0x85, 0xc0}) // TESTQ AX, AX
	b.Write([]byte{0x74, 0x06})       // JE +6
	b.Write([]byte{0x48, 0x83, 0xc4, 0x10, 0x5d})
	rets = append(rets, uint64(b.Len()))
	b.Write([]byte{0xc3}) // ADDQ $0x10, SP; POPQ BP; RET
	b.Write([]byte{0x48, 0x83, 0xc4, 0x10, 0x5d})
	rets = append(rets, uint64(b.Len()))
	b.Write([]byte{0xc3})
	morestack := b.Len()
	b.Write([]byte{0xe8, 0, 0, 0, 0}) // CALL runtime.morestack_noctxt
	b.Write([]byte{0xe9, 0, 0, 0, 0}) // JMP top
	b.Write([]byte{0xcc, 0xcc, 0xcc})
	code = b.Bytes()
	binary.LittleEndian.PutUint32(code[jbe+2:], uint32(morestack-(jbe+6)))
	binary.LittleEndian.PutUint32(code[morestack+6:], uint32(int32(top-(morestack+10))))
	return code, entry, rets
}

func TestGoProbeSites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefix  []byte
		body    []byte
		wantErr string
	}{
		{name: "plain"},
		{name: "endbr64", prefix: endbr64},
		{name: "undecodable", body: []byte{0x06}, wantErr: "does not decode"},                  // PUSH ES: invalid in 64-bit mode
		{name: "tail call", body: []byte{0xe9, 0, 0x10, 0, 0}, wantErr: "leaves the function"}, // JMP out
		{name: "early ret", prefix: []byte{0xc3}, wantErr: "before the frame setup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, wantEntry, wantRets := goFunc(tc.prefix, tc.body)
			entry, callerAtSP, rets, err := goProbeSites(0x401000, code)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if entry != wantEntry || !callerAtSP || !slices.Equal(rets, wantRets) {
				t.Errorf("entry %#x rets %#x, want entry %#x rets %#x", entry, rets, wantEntry, wantRets)
			}
		})
	}
	if _, _, _, err := goProbeSites(0, []byte{0xc3}); err == nil {
		t.Error("a function without frame setup was accepted")
	}
	if _, _, _, err := goProbeSites(0, []byte{0x55, 0x48, 0x89, 0xe5, 0xcc}); err == nil || !strings.Contains(err.Error(), "no RET") {
		t.Errorf("a function without RET: err = %v", err)
	}
	// Go 1.17-1.20: SUBQ $0x18, SP; MOVQ BP, 0x10(SP); LEAQ 0x10(SP), BP;
	// the entry is after the LEAQ and the walk sees the caller.
	old := []byte{0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0x6c, 0x24, 0x10, 0x48, 0x8d, 0x6c, 0x24, 0x10, 0x90, 0x48, 0x8b, 0x6c, 0x24, 0x10, 0x48, 0x83, 0xc4, 0x18, 0xc3}
	if entry, callerAtSP, rets, err := goProbeSites(0, old); err != nil || entry != 14 || callerAtSP || !slices.Equal(rets, []uint64{24}) {
		t.Errorf("Go 1.20 frame: entry %d callerAtSP %v rets %v err %v, want 14 false [24] nil", entry, callerAtSP, rets, err)
	}
}

// The RET sites and entry found in the real crypto/tls functions of a Go
// 1.26 binary are exactly those `go tool objdump` lists, and the stripped
// and PIE builds have the same number of them.
func TestGoPlanMatchesObjdump(t *testing.T) {
	plan := func(bin string) map[string]goSites {
		funcs, err := symbolize.FindFuncs(bin, goFuncs[0].name, goFuncs[1].name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sites, notes := goPlan(bin, funcs, f)
		if len(notes) > 0 || len(sites) != 2 {
			t.Fatalf("%s: sites %+v notes %q, want both functions", bin, sites, notes)
		}
		out := map[string]goSites{}
		for _, s := range sites {
			out[s.name] = s
		}
		return out
	}
	bin := testtarget.Build(t, "tlshandshakes")
	got := plan(bin)
	funcs, err := symbolize.FindFuncs(bin, goFuncs[0].name, goFuncs[1].name)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^\s+\S+\s+0x([0-9a-f]+)\s+[0-9a-f]+\s+(.*?)\s*$`)
	for _, gf := range goFuncs {
		out, err := exec.Command("go", "tool", "objdump", "-s", "^"+regexp.QuoteMeta(gf.name)+"$", bin).CombinedOutput()
		if err != nil {
			t.Fatalf("objdump: %v\n%s", err, out)
		}
		f := funcs[gf.name]
		var rets []uint64
		var entry uint64
		for _, l := range strings.Split(string(out), "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			addr, _ := strconv.ParseUint(m[1], 16, 64)
			off := addr - f.Addr + f.Offset
			if m[2] == "PUSHQ BP" && entry == 0 {
				entry = off
			}
			if m[2] == "RET" {
				rets = append(rets, off)
			}
		}
		s := got[gf.name]
		if s.entry != entry || !s.callerAtSP || !slices.Equal(s.rets, rets) {
			t.Errorf("%s: entry %#x rets %#x, objdump says entry %#x rets %#x", gf.name, s.entry, s.rets, entry, rets)
		}
		t.Logf("%s: entry at +%#x, %d RETs", gf.name, s.entry-f.Offset, len(s.rets))
		for _, flags := range [][]string{{"-ldflags=-s -w"}, {"-buildmode=pie"}} {
			other := plan(testtarget.Build(t, "tlshandshakes", flags...))[gf.name]
			if len(other.rets) != len(rets) {
				t.Errorf("%s %v: %d RETs, want %d", gf.name, flags, len(other.rets), len(rets))
			}
		}
	}
}

// The fallback for kernels without uprobe_multi links (one perf uprobe per
// site) counts the same.
func TestPerfUprobeFallback(t *testing.T) {
	bpftest.Require(t)
	forcePerfUprobes = true
	defer func() { forcePerfUprobes = false }()
	const n, fail = 20, 3
	bin := testtarget.Build(t, "tlshandshakes")
	p := testtarget.Start(t, bin, "-n", fmt.Sprint(n), "-fail", fmt.Sprint(fail), "-wait-signal")
	target, err := probes.OpenTarget(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	sess, err := probes.Start(target, probes.Config{Probes: []string{"tls"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Process.Signal(syscall.SIGUSR1)
	if err := p.Wait(nil); err != nil {
		t.Fatal(err)
	}
	c := sess.Stop("test")
	for k, v := range map[string]uint64{"tls_client_ok": n - fail, "tls_client_failed": fail, "tls_server_ok": n - fail, "tls_server_failed": fail} {
		if c.Counts[k] != v {
			t.Errorf("%s = %d, want %d", k, c.Counts[k], v)
		}
	}
}

func TestWithCaller(t *testing.T) {
	cases := []struct {
		user   []uint64
		caller uint64
		want   []uint64
	}{
		{[]uint64{0x10, 0x30}, 0x20, []uint64{0x10, 0x20, 0x30}},       // the walk missed the caller
		{[]uint64{0x10, 0x20, 0x30}, 0x20, []uint64{0x10, 0x20, 0x30}}, // the kernel already added it
		{[]uint64{0x10}, 0, []uint64{0x10}},                            // caller unknown
		{nil, 0x20, nil},
	}
	for _, c := range cases {
		if got := withCaller(c.user, c.caller); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("withCaller(%x, %x) = %x, want %x", c.user, c.caller, got, c.want)
		}
	}
}
