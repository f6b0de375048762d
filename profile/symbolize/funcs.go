package symbolize

import (
	"debug/elf"
	"fmt"
	"os"
)

// Func is a function found by name in an ELF file, for attaching probes.
type Func struct {
	Name   string
	Addr   uint64 // ELF virtual address of the first instruction
	End    uint64 // ELF virtual address just past the function; 0 when the symbol has no size
	Offset uint64 // file offset of Addr: what a uprobe attaches to
	Go     bool   // found in .gopclntab (Go ABI), not in an ELF symbol table
}

// Size is End-Addr, or 0 when the end is unknown.
func (f Func) Size() uint64 {
	if f.End <= f.Addr {
		return 0
	}
	return f.End - f.Addr
}

// FindFuncs looks up functions by exact name in the ELF file at path (which
// may be /proc/PID/exe or /proc/PID/root/...): Go functions through the
// .gopclntab, which stripped (-ldflags=-s -w) and PIE builds keep, then
// the rest in .symtab and .dynsym. Names that are not there, or that are
// not in an executable PT_LOAD segment, are absent from the result.
func FindFuncs(path string, names ...string) (map[string]Func, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return findFuncs(ef, names)
}

func findFuncs(ef *elf.File, names []string) (out map[string]Func, err error) {
	defer func() {
		if r := recover(); r != nil { // debug/gosym and debug/elf on a malformed file
			out, err = nil, fmt.Errorf("malformed ELF or pclntab: %v", r)
		}
	}()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out = make(map[string]Func)
	o := &objFile{}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			o.loads = append(o.loads, p.ProgHeader)
		}
	}
	add := func(name string, addr, end uint64, isGo bool) {
		if _, dup := out[name]; dup || !want[name] || addr == 0 {
			return
		}
		for _, p := range o.loads {
			if p.Vaddr <= addr && addr < p.Vaddr+p.Filesz {
				out[name] = Func{Name: name, Addr: addr, End: end, Offset: addr - p.Vaddr + p.Off, Go: isGo}
				return
			}
		}
	}

	symtab, _ := ef.Symbols()
	if g := newGoTable(ef, symtab); g != nil {
		for i := range g.tab.Funcs {
			fn := &g.tab.Funcs[i]
			add(fn.Name, fn.Entry, fn.End, true)
		}
	}
	dynsym, _ := ef.DynamicSymbols()
	for _, syms := range [][]elf.Symbol{symtab, dynsym} {
		for _, s := range syms {
			if s.Section == elf.SHN_UNDEF || int(s.Section) >= len(ef.Sections) {
				continue
			}
			switch elf.ST_TYPE(s.Info) {
			case elf.STT_FUNC, elf.STT_LOOS /* STT_GNU_IFUNC */ :
			default:
				continue
			}
			end := uint64(0)
			if s.Size > 0 {
				end = s.Value + s.Size
			}
			add(s.Name, s.Value, end, false)
		}
	}
	return out, nil
}
