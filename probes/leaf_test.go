package probes

import (
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
)

// The code ranges of this process: its executable's text is among them,
// and an address of this function falls in one.
func TestReadLeafText(t *testing.T) {
	lt, err := ReadLeafText(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pc := funcPC(t)
	found := false
	for i := range LeafRanges {
		if lt.Start[i] <= pc && pc < lt.End[i] {
			found = true
		}
	}
	if !found || pc < lt.Lo || pc >= lt.Hi {
		t.Errorf("pc %#x not in the code ranges %+v", pc, lt)
	}
}

// A full leaf_text forgets the processes that are gone and takes the new one.
func TestPutLeafTextPrunes(t *testing.T) {
	if err := CheckPrivileges(); err != nil {
		if os.Getenv("PERFPROBE_REQUIRE_BPF") == "1" {
			t.Fatalf("PERFPROBE_REQUIRE_BPF=1 but needs root: %v", err)
		}
		t.Skipf("needs root or CAP_BPF: %v", err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: uint32(8 * (2 + 2*LeafRanges)), MaxEntries: 2, Flags: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gone := uint32(1<<22 + 12345) // above pid_max's default and limit: never a process
	for _, pid := range []uint32{gone, gone + 1} {
		if err := m.Put(pid, &LeafText{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := PutLeafText(m, os.Getpid()); err != nil {
		t.Fatalf("PutLeafText on a map full of gone processes: %v", err)
	}
	var lt LeafText
	if err := m.Lookup(uint32(os.Getpid()), &lt); err != nil || lt.Hi == 0 {
		t.Errorf("own entry: %+v, %v", lt, err)
	}
}

func funcPC(t *testing.T) uint64 {
	t.Helper()
	pcs := make([]uintptr, 1)
	if runtime.Callers(1, pcs) == 0 {
		t.Fatal("no caller pc")
	}
	return uint64(pcs[0])
}
