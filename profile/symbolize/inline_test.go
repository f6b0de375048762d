package symbolize

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// inlineProgram has main.inner and main.middle inlined into main.outer
// (checked with -gcflags=-m in TestInlinedFrames). It prints the return
// address of its call to leaf, inside the inlined body of inner, and then
// what runtime.CallersFrames says of it.
const inlineProgram = `package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"
)

var pcs = make([]uintptr, 3)

//go:noinline
func leaf() uintptr {
	runtime.Callers(2, pcs)
	return pcs[0]
}

func inner() uintptr {
	return leaf() // LEAFCALL
}

func middle() uintptr {
	return inner() + 1 // INNERCALL
}

//go:noinline
func outer() uintptr {
	return middle() - 1 // MIDDLECALL
}

// busy runs code of the standard library, which inlines a lot, for d.
func busy(d time.Duration) int {
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		m := map[string]int{}
		var xs []int
		for i := range 1000 {
			s := strconv.Itoa(i * 7919)
			m[s] += len(strings.TrimSpace(" " + s + " "))
			xs = append(xs, i*7919%1000)
		}
		sort.Ints(xs)
		n += len(m) + xs[0]
	}
	return n
}

func main() {
	// With PROFILE_OUT set, the Go runtime's own CPU profile of busy.
	if out := os.Getenv("PROFILE_OUT"); out != "" {
		f, err := os.Create(out)
		if err != nil {
			panic(err)
		}
		pprof.StartCPUProfile(f)
		busy(time.Second)
		pprof.StopCPUProfile()
		f.Close()
	}
	pc := outer()
	fmt.Printf("%#x\n", pc)
	var where []string
	// The real return address and the virtual pcs of its inlined callers.
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		where = append(where, fmt.Sprintf("%s:%d", f.Function, f.Line))
		if !more {
			break
		}
	}
	fmt.Println(strings.Join(where, " "))
	bufio.NewReader(os.Stdin).ReadString('\n')
}
`

func buildInline(t testing.TB, v goVariant) string {
	t.Helper()
	goTool := lookTool(t, "go")
	if len(v.env) > 0 {
		lookTool(t, "gcc")
	}
	args := append([]string{goTool, "build", "-o", "OUT"}, v.flags...)
	files := map[string]string{"main.go": inlineProgram, "go.mod": "module prog\n\ngo 1.26\n"}
	return build(t, "inline-"+v.name, "prog", files, append([]string{"GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local"}, v.env...), args...)
}

// TestInlinedFrames: an address inside an inlined body symbolizes to the
// inlined functions, innermost first, each with its file:line, and to the
// real function at its call into them, as runtime.CallersFrames says, in
// plain, stripped, PIE and externally linked stripped cgo builds.
func TestInlinedFrames(t *testing.T) {
	goTool := lookTool(t, "go")
	// The premise: the compiler inlines inner and middle into outer.
	dir := t.TempDir()
	buildInline(t, goVariants[0])
	cmd := exec.Command(goTool, "build", "-gcflags=-m", "-o", dir+"/prog", ".")
	cmd.Dir = buildDir + "/inline-default"
	cmd.Env = append(cmd.Environ(), "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, want := range []string{"inlining call to middle", "inlining call to inner"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("go build -gcflags=-m does not say %q; the test's premise is gone:\n%s", want, out)
		}
	}

	leafCall := lineOf(t, inlineProgram, "// LEAFCALL")
	innerCall := lineOf(t, inlineProgram, "// INNERCALL")
	middleCall := lineOf(t, inlineProgram, "// MIDDLECALL")
	want := fmt.Sprintf("main.inner:%d main.middle:%d main.outer:%d", leafCall, innerCall, middleCall)
	for _, v := range goVariants {
		t.Run(v.name, func(t *testing.T) {
			tg := start(t, buildInline(t, v))
			runtimeSays, err := tg.out.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(runtimeSays); got != want {
				t.Errorf("runtime.CallersFrames says %q, want %q", got, want)
			}
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			f := p.Symbolize(tg.addrs[0], true)
			var got []string
			for _, fr := range f.Frames() {
				got = append(got, fmt.Sprintf("%s:%d", fr.Function, fr.Line))
				if !strings.HasSuffix(fr.File, "/main.go") || !fr.Known || fr.Addr != f.Addr || fr.Mapping != f.Mapping {
					t.Errorf("frame %+v: want main.go, known, the address and mapping of the outer frame", fr)
				}
			}
			if strings.Join(got, " ") != want {
				t.Errorf("Symbolize(%#x) frames %q, want %q", tg.addrs[0], strings.Join(got, " "), want)
			}
			if len(f.Inlined) != 2 || f.Function != "main.outer" || f.Line != middleCall {
				t.Errorf("Symbolize(%#x) = %s:%d with %d inlined, want main.outer:%d with 2", tg.addrs[0], f.Function, f.Line, len(f.Inlined), middleCall)
			}
		})
	}
}

// TestGoFrameMatchesGosym: at every pc of a stripped Go binary, the
// hand-written reader names the function debug/gosym names, and its
// innermost frame has the position debug/gosym gives.
func TestGoFrameMatchesGosym(t *testing.T) {
	tg := start(t, buildInline(t, goVariants[1])) // stripped
	tg.out.ReadString('\n')
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := p.find(tg.addrs[0] - 1)
	o := m.obj
	o.load()
	if o.gotab == nil || o.gotab.ft == nil || o.gotab.ft.gofunc == nil {
		t.Fatal("no Go 1.20+ pclntab with a go:func.* area found")
	}
	start := time.Now()
	checked, inlined := 0, 0
	for i := range o.gotab.tab.Funcs {
		fn := &o.gotab.tab.Funcs[i]
		for pc := fn.Entry; pc < fn.End; pc++ {
			var f Frame
			if !o.goFrame(&f, pc) {
				t.Fatalf("pc %#x of %s: not resolved", pc, fn.Name)
			}
			file, line, _ := o.gotab.tab.PCToLine(pc)
			line = max(line, 0)
			inner := f.Frames()[0]
			if f.Function != fn.Name || inner.File != file || inner.Line != line {
				t.Fatalf("pc %#x: %s, innermost %s:%d; debug/gosym says %s at %s:%d", pc, f.Function, inner.File, inner.Line, fn.Name, file, line)
			}
			checked++
			if len(f.Inlined) > 0 {
				inlined++
			}
		}
	}
	t.Logf("%d pcs checked against debug/gosym in %v, %d of them in inlined code", checked, time.Since(start), inlined)
	if inlined == 0 {
		t.Error("no pc in inlined code")
	}
}

// TestInlinedLikeGoProfile: every location of the Go runtime's own CPU
// profile of a program (its addresses, with the lines runtime/pprof gave
// them) symbolizes to the same functions and lines, inlined ones
// included, in the same order.
func TestInlinedLikeGoProfile(t *testing.T) {
	for _, v := range []goVariant{goVariants[1], goVariants[2]} { // stripped, PIE
		t.Run(v.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "cpu.pprof")
			t.Setenv("PROFILE_OUT", out)
			tg := start(t, buildInline(t, v))
			tg.out.ReadString('\n')
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			prof, err := profile.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := New().Process(tg.pid())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			compared, inlined := 0, 0
			for _, l := range prof.Location {
				fr := p.Symbolize(l.Address, false)
				if !fr.Known || fr.Mapping == nil || !strings.HasSuffix(fr.Mapping.Path, "/prog") {
					continue
				}
				var want, got []string
				for _, ln := range l.Line {
					want = append(want, fmt.Sprintf("%s:%d", ln.Function.Name, ln.Line))
				}
				for _, x := range fr.Frames() {
					got = append(got, fmt.Sprintf("%s:%d", x.Function, x.Line))
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%#x: symbolized as %v, the Go profile says %v", l.Address, got, want)
				}
				compared++
				if len(l.Line) > 1 {
					inlined++
				}
			}
			t.Logf("%d locations compared with runtime/pprof's, %d with inlined functions", compared, inlined)
			if inlined == 0 {
				t.Error("no location with inlined functions in the Go profile")
			}
		})
	}
}

// BenchmarkSymbolizeGoInlined is the uncached cost of an address with two
// inlined functions (compare BenchmarkSymbolizeGo/uncached: none).
func BenchmarkSymbolizeGoInlined(b *testing.B) {
	tg := start(b, buildInline(b, goVariants[0]))
	tg.out.ReadString('\n')
	p, err := New().Process(tg.pid())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.Symbolize(tg.addrs[0], true) // parse the binary outside the loop
	for b.Loop() {
		p.mu.Lock()
		clear(p.cache)
		p.mu.Unlock()
		if f := p.Symbolize(tg.addrs[0], true); len(f.Inlined) != 2 {
			b.Fatal(f)
		}
	}
}
