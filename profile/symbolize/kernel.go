package symbolize

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"unsafe"
)

// kernelSlack is how far past the last kallsyms symbol an address is still
// attributed to it; kallsyms gives no symbol sizes.
const kernelSlack = 4096

// Kernel resolves kernel addresses through a snapshot of /proc/kallsyms.
// It is immutable and safe for concurrent use. Its ~150,000 names sit in
// one byte array: a slice of strings would take three times the memory
// of the continuous agent, which keeps the table for its lifetime.
type Kernel struct {
	mapping Mapping
	addrs   []uint64 // sorted, one per address
	offs    []uint32 // the name of addrs[i] is names[offs[i]:offs[i+1]]
	names   []byte
}

// Kernel returns the kernel symbol table from /proc/kallsyms, parsed on the
// first successful call and cached.
func (s *Symbolizer) Kernel() (*Kernel, error) {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.kernel != nil {
		return s.kernel, nil
	}
	k, err := KernelFrom(s.kallsyms)
	if err != nil {
		return nil, err
	}
	s.kernel = k
	return k, nil
}

// KernelFrom parses a file in /proc/kallsyms format ("ADDR TYPE NAME
// [\t[MODULE]]"). Absolute symbols (type a/A) are ignored. It fails when
// every address is 0, which is how kernel.kptr_restrict hides them.
func KernelFrom(path string) (*Kernel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening kernel symbols: %w", err)
	}
	defer f.Close()

	type cand struct {
		addr   uint64
		off, n uint32 // the name in blob
		rank   int32
	}
	var (
		cands []cand
		blob  []byte
	)
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// The format is three words and an optional module; parsed by hand as
		// no library reads it.
		addrStr, rest, ok1 := bytes.Cut(sc.Bytes(), []byte(" "))
		typ, name, ok2 := bytes.Cut(rest, []byte(" "))
		if !ok1 || !ok2 || len(typ) != 1 {
			continue
		}
		lines++
		if typ[0] == 'a' || typ[0] == 'A' {
			continue
		}
		addr, err := strconv.ParseUint(string(addrStr), 16, 64)
		if err != nil || addr == 0 {
			continue
		}
		name, _, _ = bytes.Cut(name, []byte("\t")) // drop "\t[module]"
		if name = bytes.TrimSpace(name); len(name) == 0 {
			continue
		}
		// Among aliases prefer global symbols, then fewer leading underscores
		// (at the start of text: srso_alias_untrain_ret over _stext).
		rank := int32(10 * min(len(name)-len(bytes.TrimLeft(name, "_")), 9))
		if typ[0] >= 'a' {
			rank += 100
		}
		cands = append(cands, cand{addr: addr, off: uint32(len(blob)), n: uint32(len(name)), rank: rank})
		blob = append(blob, name...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(cands) == 0 {
		if lines > 0 {
			return nil, fmt.Errorf("reading %s: all kernel symbol addresses are 0: kernel.kptr_restrict hides them (run as root or set kernel.kptr_restrict=0)", path)
		}
		return nil, fmt.Errorf("reading %s: %w", path, errors.New("no symbols"))
	}
	nameOf := func(c cand) []byte { return blob[c.off : c.off+c.n] }
	slices.SortFunc(cands, func(a, b cand) int {
		if a.addr != b.addr {
			return cmp.Compare(a.addr, b.addr)
		}
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		return bytes.Compare(nameOf(a), nameOf(b))
	})
	k := &Kernel{}
	size := 0
	for i, c := range cands {
		if i == 0 || cands[i-1].addr != c.addr {
			size += int(c.n)
			k.addrs = append(k.addrs, c.addr)
		}
	}
	k.addrs = slices.Clip(k.addrs)
	k.offs = make([]uint32, 0, len(k.addrs)+1)
	k.names = make([]byte, 0, size)
	for i, c := range cands {
		if i == 0 || cands[i-1].addr != c.addr {
			k.offs = append(k.offs, uint32(len(k.names)))
			k.names = append(k.names, nameOf(c)...)
		}
	}
	k.offs = append(k.offs, uint32(len(k.names)))
	k.mapping = Mapping{
		Start:  k.addrs[0],
		Limit:  k.addrs[len(k.addrs)-1] + kernelSlack,
		Path:   "[kernel.kallsyms]",
		Kernel: true,
	}
	return k, nil
}

// Mapping returns the pseudo mapping covering all kernel symbols.
func (k *Kernel) Mapping() *Mapping { return &k.mapping }

// Symbolize names the kernel function containing addr: the nearest symbol
// at or below it (kallsyms has no sizes). Addresses outside Mapping() are
// "[unknown]+0xADDR" with a nil Mapping. A return address of a call to a
// noreturn function that ends its caller belongs to the next symbol; pass
// addr-1 to attribute such a frame to the caller.
func (k *Kernel) Symbolize(addr uint64) Frame {
	if addr < k.mapping.Start || addr >= k.mapping.Limit {
		return Frame{Addr: addr, Function: fmt.Sprintf("[unknown]+%#x", addr)}
	}
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	return Frame{Addr: addr, Function: k.name(i), Mapping: &k.mapping, Known: true}
}

// name is symbol i's name. The names are never written once parsed, so
// the string shares their bytes.
func (k *Kernel) name(i int) string {
	b := k.names[k.offs[i]:k.offs[i+1]]
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
