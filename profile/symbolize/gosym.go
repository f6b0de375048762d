package symbolize

import (
	"debug/elf"
	"debug/gosym"
)

// goTable resolves addresses of a Go executable through its pclntab, which
// Go keeps even in stripped (-ldflags=-s -w) builds.
type goTable struct {
	tab *gosym.Table
	ft  *funcTab // Go 1.20+: names, lines and inlined frames; nil for older pclntabs
}

// newGoTable returns nil when ef is not a Go executable or its pclntab
// cannot be read. syms is the content of .symtab, possibly empty.
func newGoTable(ef *elf.File, syms []elf.Symbol) *goTable {
	data, addr := pclntab(ef, syms)
	if data == nil {
		return nil
	}
	text := goTextStart(ef, syms, addr)
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil || len(tab.Funcs) == 0 {
		return nil
	}
	return &goTable{tab: tab, ft: newFuncTab(ef, data, addr, text, goFuncStart(ef, syms, addr))}
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

// lookup names the function containing pc and gives the source position
// at pc (inside the innermost inlined function, if any).
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

	// moduledata: pcHeader, 6 slices (3 words each), findfunctab, minpc,
	// maxpc, text, etext, ... (runtime/symtab.go, unchanged since Go 1.16).
	const minpcWord, textWord = 20, 22
	var text0 uint64
	moduledata(ef, pclntab, textWord+1, func(word func(int) uint64) bool {
		minpc, t := word(minpcWord), word(textWord)
		if minpc == t && inText(t) {
			text0 = t
			return true
		}
		return false
	})
	if text0 != 0 {
		return text0
	}
	return text.Addr
}

// moduledata calls fn with a reader of the words of each candidate for
// the runtime's moduledata: a place in .go.module or .noptrdata whose
// first word is the pclntab address and which has at least n words, until
// fn returns true. Internally linked PIE builds keep these pointers in the
// file too (their dynamic relocations repeat them), so this also works
// for them.
func moduledata(ef *elf.File, pclntab uint64, n int, fn func(word func(int) uint64) bool) {
	ptr, word := 8, ef.ByteOrder.Uint64
	if ef.Class == elf.ELFCLASS32 {
		ptr, word = 4, func(b []byte) uint64 { return uint64(ef.ByteOrder.Uint32(b)) }
	}
	for _, name := range []string{".go.module", ".noptrdata"} {
		sec := ef.Section(name)
		if sec == nil || sec.Type == elf.SHT_NOBITS {
			continue
		}
		data, err := sec.Data()
		if err != nil {
			continue
		}
		for off := 0; off+n*ptr <= len(data); off += ptr {
			if word(data[off:]) != pclntab {
				continue
			}
			at := data[off:]
			if fn(func(i int) uint64 { return word(at[i*ptr:]) }) {
				return
			}
		}
	}
}

// goFuncStart returns the address of the go:func.* area, the base of the
// funcdata offsets of a Go 1.18+ pclntab: the go:func.* symbol when
// .symtab has it, else moduledata.gofunc (Go 1.20+ layout: word 40; the
// candidate must also have minpc == text at words 20 and 22), else 0.
func goFuncStart(ef *elf.File, syms []elf.Symbol, pclntab uint64) uint64 {
	for _, s := range syms {
		if s.Name == "go:func.*" {
			return s.Value
		}
	}
	var gofunc uint64
	moduledata(ef, pclntab, moduledataMinWord, func(word func(int) uint64) bool {
		if word(20) != word(22) || word(39) > word(moduledataGofunc) { // minpc == text; rodata <= gofunc
			return false
		}
		gofunc = word(moduledataGofunc)
		return true
	})
	return gofunc
}

// goFrame fills f from the Go function containing the ELF virtual address
// vaddr, with the functions inlined there. It returns false when vaddr is
// in no Go function or the pclntab predates Go 1.20; lookup then names it.
func (o *objFile) goFrame(f *Frame, vaddr uint64) bool {
	o.load()
	if o.gotab == nil || o.gotab.ft == nil {
		return false
	}
	name, file, line, inl, ok := o.gotab.ft.resolve(vaddr)
	if !ok {
		return false
	}
	for i := range inl {
		inl[i].Addr, inl[i].Mapping = f.Addr, f.Mapping
	}
	f.Function, f.File, f.Line, f.Known, f.Inlined = name, file, line, true, inl
	return true
}
