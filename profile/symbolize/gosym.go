package symbolize

import (
	"debug/elf"
	"debug/gosym"
)

// goTable resolves addresses of a Go executable through its pclntab, which
// Go keeps even in stripped (-ldflags=-s -w) builds.
type goTable struct {
	tab *gosym.Table
}

// newGoTable returns nil when ef is not a Go executable or its pclntab
// cannot be read. syms is the content of .symtab, possibly empty.
func newGoTable(ef *elf.File, syms []elf.Symbol) *goTable {
	data, addr := pclntab(ef, syms)
	if data == nil {
		return nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, goTextStart(ef, syms, addr)))
	if err != nil || len(tab.Funcs) == 0 {
		return nil
	}
	return &goTable{tab: tab}
}

// pclntab returns the bytes and address of the Go pclntab: the .gopclntab
// section, or for old externally linked PIE builds the range between the
// runtime.pclntab and runtime.epclntab symbols.
func pclntab(ef *elf.File, syms []elf.Symbol) ([]byte, uint64) {
	if sec := ef.Section(".gopclntab"); sec != nil && sec.Type != elf.SHT_NOBITS {
		if data, err := sec.Data(); err == nil {
			return data, sec.Addr
		}
		return nil, 0
	}
	var start, end uint64
	for _, s := range syms {
		switch s.Name {
		case "runtime.pclntab":
			start = s.Value
		case "runtime.epclntab":
			end = s.Value
		}
	}
	for _, sec := range ef.Sections {
		if start != 0 && start < end && sec.Addr <= start && end <= sec.Addr+sec.Size && sec.Type != elf.SHT_NOBITS {
			if data, err := sec.Data(); err == nil {
				return data[start-sec.Addr : end-sec.Addr], start
			}
		}
	}
	return nil, 0
}

func (g *goTable) lookup(pc uint64) (name, file string, line int, ok bool) {
	fn := g.tab.PCToFunc(pc)
	if fn == nil {
		return "", "", 0, false
	}
	file, line, _ = g.tab.PCToLine(pc)
	return fn.Name, file, line, true
}

// goTextStart returns the address of the runtime.text symbol, the base of
// all PCs in a Go 1.18+ pclntab. The pclntab header has a textStart field,
// but Go 1.26 binaries leave it 0 on disk, so it is taken from, in order:
// the runtime.text symbol (absent when stripped); the runtime's moduledata,
// found by its first word pointing at the pclntab (its minpc and text fields
// are runtime.text); the start of .text. Only the last can be wrong, and
// only for stripped cgo binaries, where C code precedes runtime.text.
func goTextStart(ef *elf.File, syms []elf.Symbol, pclntab uint64) uint64 {
	for _, s := range syms {
		if s.Name == "runtime.text" {
			return s.Value
		}
	}
	text := ef.Section(".text")
	if text == nil {
		return 0
	}
	inText := func(a uint64) bool { return a >= text.Addr && a < text.Addr+text.Size }

	ptr, word := 8, ef.ByteOrder.Uint64
	if ef.Class == elf.ELFCLASS32 {
		ptr, word = 4, func(b []byte) uint64 { return uint64(ef.ByteOrder.Uint32(b)) }
	}
	// moduledata: pcHeader, 6 slices (3 words each), findfunctab, minpc,
	// maxpc, text, etext, ... (runtime/symtab.go, unchanged since Go 1.16).
	const minpcWord, textWord = 20, 22
	for _, name := range []string{".go.module", ".noptrdata"} {
		sec := ef.Section(name)
		if sec == nil || sec.Type == elf.SHT_NOBITS {
			continue
		}
		data, err := sec.Data()
		if err != nil {
			continue
		}
		for off := 0; off+(textWord+1)*ptr <= len(data); off += ptr {
			if word(data[off:]) != pclntab {
				continue
			}
			minpc, t := word(data[off+minpcWord*ptr:]), word(data[off+textWord*ptr:])
			if minpc == t && inText(t) {
				return t
			}
		}
	}
	return text.Addr
}
