package probes_test

import (
	"bytes"
	"embed"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/internal/bpftest"
)

// verifierBudget is the most instructions the kernel's verifier may
// process for any one of our programs. Its time is most of attach's: at
// 400k (sched_switch, issue 13's first loops) attaching took 2-3 times
// longer, and under emulation long enough for short-lived test targets
// to exit before the window opened. Today's largest is ~33k on Linux
// 6.18 and ~24k on Debian's 6.1 (kernel matrix).
const verifierBudget = 60000

// The objects are embedded: the kernel matrix runs the test binary without
// the source tree.
//
//go:embed *_bpfel.o */*_bpfel.o
var objects embed.FS

// Every program of every probe, loaded alone, stays within the verifier
// budget on this kernel.
func TestVerifierCost(t *testing.T) {
	bpftest.Require(t)
	objs, err := fs.Glob(objects, "*_bpfel.o")
	more, _ := fs.Glob(objects, "*/*_bpfel.o")
	if objs = append(objs, more...); err != nil || len(objs) < 5 {
		t.Fatalf("BPF objects: %v %v", objs, err)
	}
	processed := regexp.MustCompile(`processed (\d+) insns`)
	for _, obj := range objs {
		data, err := objects.ReadFile(obj)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(spec.Programs))
		for name := range spec.Programs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			one := spec.Copy()
			for n := range one.Programs {
				if n != name {
					delete(one.Programs, n)
				}
			}
			began := time.Now()
			coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
				Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
			})
			took := time.Since(began)
			if err != nil {
				// a program for a hook or helper this kernel lacks: its
				// probe loads it only where it applies, and the probe's
				// own tests check that it loads where it must
				t.Logf("%s %s: not loaded here: %v", obj, name, err)
				continue
			}
			m := processed.FindStringSubmatch(coll.Programs[name].VerifierLog)
			coll.Close()
			if m == nil {
				t.Errorf("%s %s: no verifier statistics in its log", obj, name)
				continue
			}
			n, _ := strconv.Atoi(m[1])
			t.Logf("%-26s %-32s %7d instructions verified, loaded in %v", obj, name, n, took.Round(time.Millisecond))
			if n > verifierBudget {
				t.Errorf("%s %s: the verifier processed %d instructions, budget %d: attaching slows down with it (loops inlined into every path of their caller? see bpf/leaf.h)", obj, name, n, verifierBudget)
			}
		}
	}
}
