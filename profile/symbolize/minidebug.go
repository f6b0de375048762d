package symbolize

import (
	"bytes"
	"debug/elf"
	"io"
	"sort"

	"github.com/ulikunitz/xz"
)

// maxMiniDebugInfo bounds the decompressed size of a .gnu_debugdata
// section (Fedora's are tens to hundreds of KiB).
const maxMiniDebugInfo = 64 << 20

// miniDebugSymbols returns the code symbols of ef's MiniDebugInfo, as
// Fedora and others ship it: an xz-compressed ELF file in the
// .gnu_debugdata section whose .symtab holds the functions .dynsym lacks.
// The result merges both; it is nil when ef has no usable .gnu_debugdata.
func miniDebugSymbols(ef *elf.File) (syms []symbol) {
	s := ef.Section(".gnu_debugdata")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil
	}
	defer func() {
		if recover() != nil { // debug/elf on malformed input
			syms = nil
		}
	}()
	data, err := s.Data()
	if err != nil {
		return nil
	}
	r, err := xz.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxMiniDebugInfo+1))
	if err != nil || len(raw) > maxMiniDebugInfo {
		return nil
	}
	mini, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	symtab, err := mini.Symbols()
	if err != nil || len(symtab) == 0 {
		return nil
	}
	return mergeSymbols(elfSymbols(ef, nil), elfSymbols(mini, symtab))
}

// mergeSymbols merges two sorted symbol lists into one, sorted, with one
// symbol per address: a's where both have one.
func mergeSymbols(a, b []symbol) []symbol {
	out := make([]symbol, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	n := 0
	for _, s := range out {
		if n > 0 && out[n-1].addr == s.addr {
			out[n-1].size = max(out[n-1].size, s.size)
			continue
		}
		out[n] = s
		n++
	}
	return out[:n]
}
