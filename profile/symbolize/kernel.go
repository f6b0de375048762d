package symbolize

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// kernelSlack is how far past the last kallsyms symbol an address is still
// attributed to it; kallsyms gives no symbol sizes.
const kernelSlack = 4096

// Kernel resolves kernel addresses through a snapshot of /proc/kallsyms.
// It is immutable and safe for concurrent use.
type Kernel struct {
	mapping Mapping
	syms    []symbol // sorted by addr, one per addr; size unused
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
		symbol
		rank int
	}
	var cands []cand
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// The format is three words and an optional module; parsed by hand as
		// no library reads it.
		addrStr, rest, ok1 := strings.Cut(sc.Text(), " ")
		typ, name, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 || len(typ) != 1 {
			continue
		}
		lines++
		if typ == "a" || typ == "A" {
			continue
		}
		addr, err := strconv.ParseUint(addrStr, 16, 64)
		if err != nil || addr == 0 {
			continue
		}
		name, _, _ = strings.Cut(name, "\t") // drop "\t[module]"
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		// Among aliases prefer global symbols, then fewer leading underscores
		// (at the start of text: srso_alias_untrain_ret over _stext).
		rank := 10 * min(len(name)-len(strings.TrimLeft(name, "_")), 9)
		if typ[0] >= 'a' {
			rank += 100
		}
		cands = append(cands, cand{symbol{addr: addr, name: name}, rank})
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
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.name < b.name
	})
	k := &Kernel{}
	for _, c := range cands {
		if n := len(k.syms); n == 0 || k.syms[n-1].addr != c.addr {
			k.syms = append(k.syms, c.symbol)
		}
	}
	k.mapping = Mapping{
		Start:  k.syms[0].addr,
		Limit:  k.syms[len(k.syms)-1].addr + kernelSlack,
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
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr }) - 1
	return Frame{Addr: addr, Function: k.syms[i].name, Mapping: &k.mapping, Known: true}
}
