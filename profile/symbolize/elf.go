package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// objFile is one parsed object file (executable, shared library or the
// vDSO). It is shared by every mapping of the file in every process. ELF
// headers and the build id are read when it is created; symbol tables are
// read on the first lookup, after which the underlying file is closed.
type objFile struct {
	key     fileKey  // where the Symbolizer caches it
	loc     debugLoc // where the file was found, to find its separate debug file
	buildID string
	loads   []elf.ProgHeader // PT_LOAD headers, executable ones first

	once     sync.Once
	ef       *elf.File   // nil once symbols are loaded
	closer   io.Closer   // the opened file, closed once symbols are loaded
	gotab    *goTable    // non-nil for Go executables with a usable .gopclntab
	syms     []symbol    // sorted by addr, one per addr (see load)
	lines    *dwarfLines // file and line of native code, nil without DWARF
	warnings []string    // what went wrong reading symbols and lines (Process.Warnings)
	loaded   atomic.Bool // set once the above are final

	unwind unwindCache // frame rules for frameless leaves (unwind.go)
}

// symbol is a function symbol from .symtab or .dynsym.
type symbol struct {
	addr, size uint64
	name       string
}

// newObjFile reads the ELF headers and build id of r. c, if not nil, is
// closed after the symbols have been loaded (or now, on error).
func newObjFile(r io.ReaderAt, c io.Closer) (*objFile, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, err
	}
	o := &objFile{ef: ef, closer: c, buildID: buildID(ef)}
	for _, x := range []bool{true, false} {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_LOAD && (p.Flags&elf.PF_X != 0) == x {
				o.loads = append(o.loads, p.ProgHeader)
			}
		}
	}
	return o, nil
}

// vaddr translates a file offset into the ELF virtual address the linker
// assigned to it, using the PT_LOAD header whose file range contains it.
// This is right for PIE, shared libraries and fixed-address executables.
func (o *objFile) vaddr(fileOff uint64) (uint64, bool) {
	for _, p := range o.loads {
		if p.Off <= fileOff && fileOff < p.Off+p.Filesz {
			return fileOff - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

// load reads the symbol tables once and releases the file. Names come from
// the Go pclntab, else .symtab, else the separate debug file's .symtab
// (debuginfo.go), else MiniDebugInfo (minidebug.go), else .dynsym. File
// and line of native code come from the DWARF of the binary, else of its
// debug file. Only a binary without .symtab asks debuginfod servers.
func (o *objFile) load() {
	o.once.Do(func() {
		defer func() {
			recover() // a malformed file leaves its frames unknown
			o.ef = nil
			if o.closer != nil {
				o.closer.Close()
				o.closer = nil
			}
			o.loaded.Store(true)
		}()
		symtab, _ := o.ef.Symbols()
		o.gotab = newGoTable(o.ef, symtab)
		if o.gotab == nil { // Go code has its lines in the pclntab
			o.loadNative(symtab)
		}
		if o.syms == nil {
			o.syms = elfSymbols(o.ef, symtab)
		}
		if o.gotab != nil {
			// Go functions resolve through the pclntab; keep only the rest
			// (C code of cgo binaries) to save memory.
			o.syms = slices.DeleteFunc(o.syms, func(s symbol) bool { return o.gotab.tab.PCToFunc(s.addr) != nil })
		}
	})
}

// loadNative sets the symbols (unless .symtab has them) and the lines of a
// native binary from its DWARF, its debug file or its MiniDebugInfo.
func (o *objFile) loadNative(symtab []elf.Symbol) {
	name := o.loc.path
	if name == "" {
		name = "build id " + o.buildID
	}
	var warn string
	raw, _ := o.closer.(io.ReaderAt)
	o.lines, warn = newDWARFLines(o.ef, raw, name)
	if warn != "" {
		o.warnings = append(o.warnings, warn)
	}
	if len(symtab) > 0 && (o.lines != nil || warn != "") {
		return
	}
	if d := o.findDebugFile(len(symtab) == 0); d != nil {
		defer d.close()
		if len(symtab) == 0 {
			if dsyms, err := d.ef.Symbols(); err == nil && len(dsyms) > 0 {
				o.syms = elfSymbols(d.ef, dsyms)
			}
		}
		if o.lines == nil && warn == "" {
			o.lines, warn = newDWARFLines(d.ef, d.f, d.path)
			if warn != "" {
				o.warnings = append(o.warnings, warn)
			}
		}
	}
	if len(symtab) == 0 && o.syms == nil {
		o.syms = miniDebugSymbols(o.ef)
	}
}

// drop releases the file of an objFile nothing will look up any more.
func (o *objFile) drop() {
	o.once.Do(func() {
		o.ef = nil
		if o.closer != nil {
			o.closer.Close()
			o.closer = nil
		}
	})
}

// lookup names the function containing the ELF virtual address vaddr,
// and the functions inlined into it there (native code with DWARF; see
// Frame for what file and line are then).
func (o *objFile) lookup(vaddr uint64) (name, file string, line int, inlined []Frame, ok bool) {
	o.load()
	if o.gotab != nil {
		if name, file, line, ok = o.gotab.lookup(vaddr); ok {
			return name, file, line, nil, true
		}
	}
	if s, ok := lookupSymbol(o.syms, vaddr); ok {
		if o.lines != nil {
			file, line, inlined = o.lines.position(vaddr)
		}
		return s.name, file, line, inlined, true
	}
	return "", "", 0, nil, false
}

// lookupSymbol finds the symbol containing addr in syms (sorted by addr). An
// address past the end of a sized symbol is not attributed to it; a symbol
// of size 0 (common for assembly) extends to the next symbol.
func lookupSymbol(syms []symbol, addr uint64) (symbol, bool) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > addr }) - 1
	if i < 0 {
		return symbol{}, false
	}
	if s := syms[i]; s.size == 0 || addr-s.addr < s.size {
		return s, true
	}
	return symbol{}, false
}

// elfSymbols returns the code symbols of .symtab (given as symtab), or of
// .dynsym when there is no .symtab, sorted by address, one per address.
func elfSymbols(ef *elf.File, symtab []elf.Symbol) []symbol {
	raw := symtab
	if len(raw) == 0 {
		raw, _ = ef.DynamicSymbols()
	}
	type cand struct {
		symbol
		rank int
	}
	var cands []cand
	for _, s := range raw {
		if s.Name == "" || s.Value == 0 || int(s.Section) >= len(ef.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		switch elf.ST_TYPE(s.Info) {
		case elf.STT_FUNC, elf.STT_LOOS /* STT_GNU_IFUNC */, elf.STT_NOTYPE:
		default:
			continue
		}
		if ef.Sections[s.Section].Flags&elf.SHF_EXECINSTR == 0 {
			continue // NOTYPE markers like _end, or code symbols in odd sections
		}
		cands = append(cands, cand{symbol{s.Value, s.Size, s.Name}, symbolRank(s)})
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
	// Several names at one address are aliases (printf and _IO_printf):
	// keep the best-ranked name, and the largest size among them.
	var syms []symbol
	for _, c := range cands {
		if n := len(syms); n > 0 && syms[n-1].addr == c.addr {
			syms[n-1].size = max(syms[n-1].size, c.size)
			continue
		}
		syms = append(syms, c.symbol)
	}
	return syms
}

// symbolRank orders aliases: global before weak before local, then names with
// fewer leading underscores (printf before _IO_printf, malloc before
// __libc_malloc), then sized before unsized symbols.
func symbolRank(s elf.Symbol) int {
	r := 0
	switch elf.ST_BIND(s.Info) {
	case elf.STB_GLOBAL:
	case elf.STB_WEAK:
		r += 100
	default:
		r += 200
	}
	r += 10 * min(len(s.Name)-len(strings.TrimLeft(s.Name, "_")), 9)
	if s.Size == 0 {
		r++
	}
	if elf.ST_TYPE(s.Info) == elf.STT_NOTYPE {
		r += 2
	}
	return r
}

// buildID returns the GNU build id in hex, else the Go build id, else "".
// debug/elf does not parse notes, hence the hand-written walk below.
func buildID(ef *elf.File) string {
	// Both sections and segments: Go's linker leaves the GNU note out of
	// its PT_NOTE segment, and section headers may be stripped.
	var blobs [][]byte
	var aligns []uint64
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := s.Data(); err == nil {
				blobs, aligns = append(blobs, b), append(aligns, s.Addralign)
			}
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			if b, err := io.ReadAll(p.Open()); err == nil {
				blobs, aligns = append(blobs, b), append(aligns, p.Align)
			}
		}
	}
	var gnuID, goID string
	for i, b := range blobs {
		align := uint64(4)
		if aligns[i] == 8 {
			align = 8
		}
		walkNotes(ef.ByteOrder, b, align, func(name string, typ uint32, desc []byte) {
			switch {
			case name == "GNU" && typ == 3 && gnuID == "": // NT_GNU_BUILD_ID
				gnuID = hex.EncodeToString(desc)
			case name == "Go" && typ == 4 && goID == "": // ELF_NOTE_GOBUILDID_TAG
				goID = string(desc)
			}
		})
	}
	if gnuID != "" {
		return gnuID
	}
	return goID
}

// walkNotes calls fn for each note in an ELF note segment or section.
func walkNotes(bo binary.ByteOrder, b []byte, align uint64, fn func(name string, typ uint32, desc []byte)) {
	pad := func(n uint64) uint64 { return (n + align - 1) &^ (align - 1) }
	for uint64(len(b)) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(b)), uint64(bo.Uint32(b[4:])), bo.Uint32(b[8:])
		b = b[12:]
		if pad(namesz) > uint64(len(b)) {
			return
		}
		name := strings.TrimRight(string(b[:namesz]), "\x00")
		b = b[pad(namesz):]
		if descsz > uint64(len(b)) {
			return
		}
		fn(name, typ, b[:descsz])
		if pad(descsz) >= uint64(len(b)) {
			return
		}
		b = b[pad(descsz):]
	}
}
