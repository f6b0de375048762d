package symbolize

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/perfprobe/perfprobe/internal/dwarfunit"
)

// MaxDWARFBytes bounds the DWARF sections read from one binary (or its
// debug file) for file and line lookups. A binary with more keeps its
// function names, has no lines, and a warning says so. Set it before
// creating a Symbolizer.
var MaxDWARFBytes = int64(256 << 20)

// NativeInlining expands the calls the compiler inlined into native code
// (C, C++, Rust) from the inlined subroutines of its DWARF, as
// Frame.Inlined. For that a binary keeps its DWARF sections in memory
// (.debug_info, .debug_abbrev, .debug_str and the range and address
// tables, besides .debug_line), all within MaxDWARFBytes: for the C
// library's debug file (libc6-dbg, 8.5 MB of DWARF) 8.7 MB kept instead
// of 1.8 MB; a binary built with LTO, whose units refer into each other,
// also keeps debug/dwarf's index of them all (21.6 MB for libc) once one
// such unit is read. False keeps only .debug_line, and native frames
// have no Inlined. Set it before creating a Symbolizer.
var NativeInlining = true

// maxLineRows bounds the decoded line-table rows one binary keeps (16
// bytes each); past it the decoded tables are dropped and decoded again
// when asked for.
const maxLineRows = 1 << 18

// dwarfLines resolves addresses of native code to source file and line
// through the DWARF line tables (.debug_line) of one binary, and to the
// functions inlined there through the inlined subroutines of .debug_info
// (dwarfinline.go). When it is created, the compile units' address ranges
// and line-table offsets are read; then only .debug_line (with the string
// sections its DWARF 5 headers use) is kept, and with NativeInlining the
// raw sections inlined subroutines need: debug/dwarf's index of
// .debug_info, which holds every unit's abbreviations, is dropped. A
// unit's line table is decoded on the first lookup inside it and cached,
// within maxLineRows; so is its tree of inlined subroutines, within
// maxInlineEntries. It is safe for concurrent use.
type dwarfLines struct {
	line, str, lineStr []byte
	order              binary.AppendByteOrder
	addrSize           byte
	units              []unitRange // sorted by lo
	cus                []compUnit  // indexed by unitRange.cu

	mu     sync.Mutex
	tables map[int]*lineTable
	rows   int // in tables

	isec       *inlineSections              // nil without NativeInlining
	inl        []atomic.Pointer[inlineTree] // by compile unit: nil until decoded, noInlined when it has none
	imu        sync.Mutex                   // for decoding and the fields below
	decoded    []int                        // the units whose inl is set
	inlEntries int                          // nodes and ranges in inl
}

// compUnit is what decoding a compile unit's line table needs.
type compUnit struct {
	stmtList uint32 // offset of its line table in .debug_line
	compDir  string
	off      dwarf.Offset // of its entry in .debug_info, for its inlined subroutines
	abbrev   uint64       // offset of its abbreviations in .debug_abbrev
	start    uint64       // of its header in .debug_info
}

// unitRange is one address range of compile unit cu.
type unitRange struct {
	lo, hi uint64
	cu     int
}

// lineTable is the decoded line table of one compile unit, sorted by
// address: a row holds from its address up to the next row's.
type lineTable struct {
	rows  []lineRow
	files []string
}

type lineRow struct {
	addr uint64
	line uint32
	file int32 // index in files; -1 marks the end of a sequence
}

// dwarfSections are the sections file and line lookups need (DWARF 2 to 5).
var dwarfSections = []string{"abbrev", "info", "str", "line", "ranges", "addr", "line_str", "str_offsets", "rnglists"}

// newDWARFLines reads the DWARF of ef, whose file raw is (nil: read
// through ef only), for line lookups. It returns nil without a warning
// when ef has no line tables, and nil with a warning when they cannot be
// used (too large, malformed).
func newDWARFLines(ef *elf.File, raw io.ReaderAt, name string) (l *dwarfLines, warning string) {
	secs := map[string]*elf.Section{}
	var total uint64
	for _, n := range dwarfSections {
		s := ef.Section(".debug_" + n)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		secs[n] = s
		total += s.Size // the uncompressed size, also for SHF_COMPRESSED
	}
	if secs["info"] == nil || secs["line"] == nil || secs["abbrev"] == nil {
		return nil, ""
	}
	if total > uint64(MaxDWARFBytes) {
		return nil, fmt.Sprintf("DWARF of %s: %d MiB, over the %d MiB limit: its frames have names but no file and line (raise symbolize.MaxDWARFBytes to read it)", name, total>>20, MaxDWARFBytes>>20)
	}
	defer func() {
		if r := recover(); r != nil { // debug/dwarf on malformed input
			l, warning = nil, fmt.Sprintf("DWARF of %s: %v: its frames have names but no file and line", name, r)
		}
	}()
	data := map[string][]byte{}
	for n, s := range secs {
		b, err := sectionData(ef, s, raw)
		if err != nil {
			return nil, fmt.Sprintf("DWARF of %s: reading %s: %v: its frames have names but no file and line", name, s.Name, err)
		}
		data[n] = b
	}
	d, err := dwarf.New(data["abbrev"], nil, nil, data["info"], data["line"], nil, data["ranges"], data["str"])
	if err != nil {
		return nil, fmt.Sprintf("DWARF of %s: %v: its frames have names but no file and line", name, err)
	}
	for _, n := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := data[n]; b != nil {
			if err := d.AddSection(".debug_"+n, b); err != nil {
				return nil, fmt.Sprintf("DWARF of %s: %v: its frames have names but no file and line", name, err)
			}
		}
	}
	order, ok := ef.ByteOrder.(binary.AppendByteOrder)
	if !ok {
		return nil, ""
	}
	l = &dwarfLines{line: data["line"], order: order, addrSize: 8, tables: map[int]*lineTable{}}
	if ef.Class == elf.ELFCLASS32 {
		l.addrSize = 4
	}
	if data["line_str"] != nil { // DWARF 5: headers name files through the string sections
		l.str, l.lineStr = data["str"], data["line_str"]
	}
	r := d.Reader()
	for _, h := range dwarfunit.Headers(data["info"], ef.ByteOrder) {
		r.Seek(h.Entry)
		e, err := r.Next()
		if err != nil || e == nil || e.Tag != dwarf.TagCompileUnit {
			continue // type and partial units have no line table of their own
		}
		stmt, ok := e.Val(dwarf.AttrStmtList).(int64)
		if !ok || stmt < 0 || stmt >= int64(len(l.line)) || stmt > math.MaxUint32 {
			continue
		}
		ranges, err := d.Ranges(e)
		if err != nil || len(ranges) == 0 {
			continue
		}
		compDir, _ := e.Val(dwarf.AttrCompDir).(string)
		cu := len(l.cus)
		l.cus = append(l.cus, compUnit{uint32(stmt), compDir, e.Offset, h.Abbrev, h.Start})
		for _, rg := range ranges {
			if rg[0] < rg[1] {
				l.units = append(l.units, unitRange{rg[0], rg[1], cu})
			}
		}
	}
	if len(l.units) == 0 {
		return nil, ""
	}
	sort.Slice(l.units, func(i, j int) bool { return l.units[i].lo < l.units[j].lo })
	if NativeInlining {
		l.inl = make([]atomic.Pointer[inlineTree], len(l.cus))
		l.isec = &inlineSections{data: data, bo: ef.ByteOrder}
	}
	return l, ""
}

// unitOffsets returns the offset of the first entry of each unit in a
// .debug_info section. Hand-written because debug/dwarf keeps unit offsets
// private and its Reader reaches the next unit only by parsing every entry.
func unitOffsets(info []byte, bo binary.ByteOrder) []dwarf.Offset {
	var out []dwarf.Offset
	for _, h := range dwarfunit.Headers(info, bo) {
		out = append(out, h.Entry)
	}
	return out
}

// lookup returns the source file and line of the instruction at pc.
func (l *dwarfLines) lookup(pc uint64) (file string, line int, ok bool) {
	return l.lineIn(l.unitOf(pc), pc)
}

// position returns the source file and line of the instruction at pc and
// the functions inlined there, as Frame holds them: see inlinedIn.
func (l *dwarfLines) position(pc uint64) (file string, line int, inl []Frame) {
	cu := l.unitOf(pc)
	file, line, _ = l.lineIn(cu, pc)
	return l.inlinedIn(cu, pc, file, line)
}

// lineIn returns the source file and line of pc in compile unit cu (-1:
// none).
func (l *dwarfLines) lineIn(cu int, pc uint64) (file string, line int, ok bool) {
	if cu < 0 {
		return "", 0, false
	}
	t := l.table(cu)
	if t == nil {
		return "", 0, false
	}
	k := sort.Search(len(t.rows), func(k int) bool { return t.rows[k].addr > pc }) - 1
	if k < 0 || t.rows[k].file < 0 || t.rows[k].line == 0 {
		return "", 0, false
	}
	return t.files[t.rows[k].file], int(t.rows[k].line), true
}

// unitOf returns the compile unit whose ranges hold pc, or -1.
func (l *dwarfLines) unitOf(pc uint64) int {
	i := sort.Search(len(l.units), func(i int) bool { return l.units[i].lo > pc }) - 1
	for j := i; j >= 0 && j > i-8; j-- { // ranges rarely overlap; look a little back
		if pc < l.units[j].hi {
			return l.units[j].cu
		}
	}
	return -1
}

// table returns the decoded line table of compile unit cu, or nil.
func (l *dwarfLines) table(cu int) *lineTable {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.tables[cu]; ok {
		return t
	}
	t := l.decode(l.cus[cu])
	n := 0
	if t != nil {
		n = len(t.rows)
	}
	if l.rows+n > maxLineRows {
		clear(l.tables)
		l.rows = 0
	}
	l.tables[cu] = t
	l.rows += n
	return t
}

// oneUnit returns a .debug_abbrev and a .debug_info holding one DWARF 4
// compile unit that points at cu's line table. Hand-written so that
// debug/dwarf reads a line table without the whole .debug_info and its
// abbreviations kept in memory.
func (l *dwarfLines) oneUnit(cu compUnit) (abbrev, info []byte) {
	abbrev = []byte{
		1, byte(dwarf.TagCompileUnit), 0, // code 1, no children
		byte(dwarf.AttrStmtList), 0x17, // DW_FORM_sec_offset
		byte(dwarf.AttrCompDir), 0x08, // DW_FORM_string
		0, 0, 0,
	}
	var die []byte
	die = l.order.AppendUint16(die, 4) // version
	die = l.order.AppendUint32(die, 0) // abbreviation offset
	die = append(die, l.addrSize, 1)   // address size; abbreviation code
	die = l.order.AppendUint32(die, cu.stmtList)
	die = append(append(die, cu.compDir...), 0)
	info = l.order.AppendUint32(nil, uint32(len(die)))
	return abbrev, append(info, die...)
}

// decode reads the line table of compile unit cu, or returns nil.
func (l *dwarfLines) decode(cu compUnit) (t *lineTable) {
	defer func() {
		if recover() != nil { // debug/dwarf on malformed input
			t = nil
		}
	}()
	abbrev, info := l.oneUnit(cu)
	d, err := dwarf.New(abbrev, nil, nil, info, l.line, nil, nil, l.str)
	if err != nil {
		return nil
	}
	if l.lineStr != nil {
		if err := d.AddSection(".debug_line_str", l.lineStr); err != nil {
			return nil
		}
	}
	e, err := d.Reader().Next()
	if err != nil || e == nil {
		return nil
	}
	lr, err := d.LineReader(e)
	if err != nil || lr == nil {
		return nil
	}
	t = &lineTable{}
	fileIdx := map[*dwarf.LineFile]int32{}
	var le dwarf.LineEntry
	for {
		if err := lr.Next(&le); err != nil {
			break // io.EOF, or a malformed program: keep the rows so far
		}
		row := lineRow{addr: le.Address, file: -1}
		if !le.EndSequence {
			row.file = 0 // with line 0: no line (a row without a file or line)
			if le.File != nil && le.Line > 0 {
				idx, ok := fileIdx[le.File]
				if !ok {
					idx = int32(len(t.files))
					fileIdx[le.File] = idx
					t.files = append(t.files, sourceName(le.File.Name, cu.compDir))
				}
				row.file, row.line = idx, uint32(min(le.Line, 1<<31))
			}
		}
		t.rows = append(t.rows, row)
	}
	// Sequences may come in any order. At one address, a sequence's end
	// goes before the next sequence's first row; rows of one sequence keep
	// their order, so the last of several rows at one address wins.
	sort.SliceStable(t.rows, func(i, j int) bool {
		a, b := t.rows[i], t.rows[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return a.file < 0 && b.file >= 0
	})
	return t
}

// sourceName is the name of a file of a line table: debug/dwarf leaves
// DWARF 5 names in relative directories relative; they are relative to
// the compilation directory. A relative one (built with
// -fdebug-prefix-map, as distributions do) stays as it is.
func sourceName(name, compDir string) string {
	if !path.IsAbs(name) && path.IsAbs(compDir) {
		return path.Join(compDir, name)
	}
	return path.Clean(name)
}

// sectionData returns the contents of section s of ef. Compressed sections
// (SHF_COMPRESSED, as distributions ship debug files) are inflated here
// with klauspost/compress when raw gives the file's bytes: 1.6 times as
// fast as debug/elf for zlib, and far faster for zstd. Anything unusual
// goes through debug/elf.
func sectionData(ef *elf.File, s *elf.Section, raw io.ReaderAt) ([]byte, error) {
	hdr := uint64(24) // Elf64_Chdr: type, reserved, size, alignment
	if ef.Class == elf.ELFCLASS32 {
		hdr = 12 // Elf32_Chdr: type, size, alignment
	}
	if s.Flags&elf.SHF_COMPRESSED == 0 || raw == nil || s.FileSize <= hdr || s.FileSize > uint64(MaxDWARFBytes) {
		return s.Data()
	}
	b := make([]byte, s.FileSize)
	if _, err := raw.ReadAt(b, int64(s.Offset)); err != nil {
		return s.Data()
	}
	typ, size := elf.CompressionType(ef.ByteOrder.Uint32(b)), uint64(ef.ByteOrder.Uint32(b[4:]))
	if ef.Class != elf.ELFCLASS32 {
		size = ef.ByteOrder.Uint64(b[8:])
	}
	if size != s.Size || size > uint64(MaxDWARFBytes) {
		return s.Data()
	}
	out := make([]byte, size)
	switch typ {
	case elf.COMPRESS_ZLIB:
		zr, err := zlib.NewReader(bytes.NewReader(b[hdr:]))
		if err != nil {
			return s.Data()
		}
		if _, err := io.ReadFull(zr, out); err != nil {
			return s.Data()
		}
	case elf.COMPRESS_ZSTD:
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(size))
		if err != nil {
			return s.Data()
		}
		defer zr.Close()
		got, err := zr.DecodeAll(b[hdr:], out[:0])
		if err != nil || uint64(len(got)) != size {
			return s.Data()
		}
	default:
		return s.Data()
	}
	return out, nil
}
