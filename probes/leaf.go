package probes

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// LeafRanges is the number of text ranges per process in a probe's
// leaf_text map (LEAF_RANGES of bpf/leaf.h).
const LeafRanges = 8

// LeafText mirrors struct leaf_text of bpf/leaf.h: the code of one
// process, whose words at the user SP probes keep beside user stacks.
type LeafText struct {
	Lo, Hi     uint64
	Start, End [LeafRanges]uint64
}

// ReadLeafText returns the executable mappings of pid, at most LeafRanges
// of them: the executable's, libc's and the dynamic loader's first, then
// the others in address order; adjacent ranges are merged.
func ReadLeafText(pid int) (LeafText, error) {
	var lt LeafText
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return lt, fmt.Errorf("reading the code ranges of pid %d: %w", pid, err)
	}
	defer f.Close()
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	type rng struct {
		start, end uint64
		first      bool
	}
	var rs []rng
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || !strings.Contains(fs[1], "x") {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		path := ""
		if len(fs) >= 6 {
			path = fs[5]
		}
		base := filepath.Base(path)
		first := path == exe || strings.HasPrefix(base, "libc.so") || strings.HasPrefix(base, "libc-") || strings.HasPrefix(base, "ld-linux")
		if n := len(rs); n > 0 && rs[n-1].end == start {
			rs[n-1].end, rs[n-1].first = end, rs[n-1].first || first
			continue
		}
		rs = append(rs, rng{start, end, first})
	}
	if err := sc.Err(); err != nil {
		return lt, fmt.Errorf("reading the code ranges of pid %d: %w", pid, err)
	}
	n := 0
	for _, pass := range []bool{true, false} {
		for _, r := range rs {
			if r.first == pass && n < LeafRanges {
				lt.Start[n], lt.End[n] = r.start, r.end
				if n == 0 || r.start < lt.Lo {
					lt.Lo = r.start
				}
				lt.Hi = max(lt.Hi, r.end)
				n++
			}
		}
	}
	return lt, nil
}

// PutLeafText puts the code ranges of pid in m, a probe's leaf_text map.
// A process that is gone is no error: it has nothing left to sample.
func PutLeafText(m *ebpf.Map, pid int) error {
	lt, err := ReadLeafText(pid)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if err := m.Put(uint32(pid), &lt); err != nil {
		pruneLeafText(m) // full: forget the processes that are gone, once
		if err := m.Put(uint32(pid), &lt); err != nil {
			return fmt.Errorf("putting the code ranges of pid %d in leaf_text: %w", pid, err)
		}
	}
	return nil
}

// pruneLeafText deletes the entries of processes that no longer exist.
func pruneLeafText(m *ebpf.Map) {
	var (
		pid  uint32
		lt   LeafText
		gone []uint32
	)
	it := m.Iterate()
	for it.Next(&pid, &lt) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			gone = append(gone, pid)
		}
	}
	for _, pid := range gone {
		_ = m.Delete(pid)
	}
}

// LeafWords turns the leaf words of a probe's key (struct leaf_words of
// bpf/leaf.h) into the form symbolize splices stacks from.
func LeafWords(word [4]uint64, idx [4]uint8, n uint32) []symbolize.StackWord {
	if n == 0 {
		return nil
	}
	out := make([]symbolize.StackWord, 0, min(int(n), len(word)))
	for i := range min(int(n), len(word)) {
		out = append(out, symbolize.StackWord{Index: int(idx[i]), Value: word[i]})
	}
	return out
}

// LeafFacts declares the counts that splicing frameless leaves adds to a
// capture for probe (internal/capture, leaf.go), counting unit.
func LeafFacts(probe, unit string) []Fact {
	return []Fact{
		{Name: probe + "_leaf_spliced", Desc: unit + " whose frameless leaf's skipped callers were put back from the words at the user SP"},
		{Name: probe + "_leaf_unresolved", Desc: unit + " whose leaf had no frame and whose caller could not be recovered: the stack lacks it"},
		{Name: probe + "_leaf_no_rule", Desc: unit + " whose leaf has no unwind rule (JIT or vDSO code, no .eh_frame): its caller may be missing"},
	}
}
