package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"sync"
)

// funcTab reads functions, lines and inline trees from a Go 1.20+ pclntab.
// Hand-written: debug/gosym does not expose inlining, nor does any
// maintained library. Layouts are those of runtime/symtab.go,
// runtime/runtime2.go (_func) and runtime/symtabinl.go (inlinedCall),
// unchanged from Go 1.20 through 1.26.
//
// The inline tree of a function is one of its funcdata, an offset from
// moduledata.gofunc, the start of the go:func.* area (in .rodata up to
// Go 1.25, in .gopclntab from Go 1.26). That address is taken from the
// go:func.* symbol when .symtab has it, else from the gofunc field of the
// runtime's moduledata, found as for goTextStart (its first word points at
// the pclntab), which stripped and PIE builds keep. Without it, functions
// and lines still resolve, without inlined frames.
type funcTab struct {
	bo        binary.ByteOrder
	quantum   uint64 // instruction size unit of pc deltas
	nfunc     int
	text      uint64 // runtime.text: the base of entry offsets
	funcnames []byte
	cutab     []byte
	filetab   []byte
	pctab     []byte
	ftab      []byte // functab ((nfunc+1) × {entryOff, funcOff uint32}), then the _func records
	gofunc    []byte // the go:func.* area; nil when not found

	mu   sync.Mutex
	strs map[int]string // interned names and file names, by offset into pclntab data
	base []byte         // the whole pclntab, for the offsets of strs
}

// Go 1.20+ layout constants.
const (
	pclntabMagic120   = 0xfffffff1
	funcHeaderSize    = 44 // _func up to its pcdata array
	pcdataInlTreeIdx  = 2  // PCDATA_InlTreeIndex
	funcdataInlTree   = 3  // FUNCDATA_InlTree
	inlinedCallSize   = 16 // {funcID uint8; _ [3]byte; nameOff, parentPc, startLine int32}
	maxInlineDepth    = 100
	moduledataGofunc  = 40 // word index of moduledata.gofunc
	moduledataMinWord = 41 // words a moduledata candidate must have
)

// newFuncTab parses the header of the pclntab data (at address addr) and
// returns nil unless it is a Go 1.20+ one; older pclntabs resolve through
// debug/gosym alone. text is runtime.text (goTextStart), gofunc the
// address of go:func.* (0 when unknown).
func newFuncTab(ef *elf.File, data []byte, addr, text, gofunc uint64) *funcTab {
	if len(data) < 8 || ef.ByteOrder.Uint32(data) != pclntabMagic120 || data[4] != 0 || data[5] != 0 {
		return nil
	}
	ptr := int(data[7])
	if ptr != 4 && ptr != 8 || data[6] == 0 || len(data) < 8+8*ptr {
		return nil
	}
	word := func(i int) uint64 {
		if ptr == 4 {
			return uint64(ef.ByteOrder.Uint32(data[8+4*i:]))
		}
		return ef.ByteOrder.Uint64(data[8+8*i:])
	}
	// nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
	sub := func(i int) []byte {
		if off := word(i); off < uint64(len(data)) {
			return data[off:]
		}
		return nil
	}
	t := &funcTab{
		bo: ef.ByteOrder, quantum: uint64(data[6]), nfunc: int(word(0)), text: text,
		funcnames: sub(3), cutab: sub(4), filetab: sub(5), pctab: sub(6), ftab: sub(7),
		strs: map[int]string{}, base: data,
	}
	if t.funcnames == nil || t.cutab == nil || t.filetab == nil || t.pctab == nil || t.ftab == nil ||
		t.nfunc <= 0 || uint64(t.nfunc+1)*8 > uint64(len(t.ftab)) {
		return nil
	}
	if gofunc != 0 {
		t.gofunc = goFuncArea(ef, data, addr, gofunc)
	}
	return t
}

// goFuncArea returns the bytes from gofunc to the end of its section: a
// slice of the pclntab (Go 1.26+) or a copy of the rest of .rodata.
func goFuncArea(ef *elf.File, pclntab []byte, addr, gofunc uint64) []byte {
	if gofunc >= addr && gofunc-addr < uint64(len(pclntab)) {
		return pclntab[gofunc-addr:]
	}
	for _, sec := range ef.Sections {
		if sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 || gofunc < sec.Addr || gofunc-sec.Addr >= sec.Size {
			continue
		}
		b := make([]byte, sec.Size-(gofunc-sec.Addr))
		if _, err := sec.ReadAt(b, int64(gofunc-sec.Addr)); err != nil {
			return nil
		}
		return b
	}
	return nil
}

// goFunc is one _func record.
type goFunc struct {
	entry uint64
	rec   []byte // from the _func record to the end of the table
}

func (t *funcTab) u32(b []byte, off uint64) (uint32, bool) {
	if off+4 > uint64(len(b)) || off+4 < off {
		return 0, false
	}
	return t.bo.Uint32(b[off:]), true
}

// find returns the function containing pc.
func (t *funcTab) find(pc uint64) (goFunc, bool) {
	if pc < t.text {
		return goFunc{}, false
	}
	off := pc - t.text
	// Largest i with entryOff(i) <= off.
	lo, hi := 0, t.nfunc
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if uint64(t.bo.Uint32(t.ftab[8*m:])) <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < 0 || off >= uint64(t.bo.Uint32(t.ftab[8*(i+1):])) {
		return goFunc{}, false
	}
	foff := uint64(t.bo.Uint32(t.ftab[8*i+4:]))
	if foff+funcHeaderSize > uint64(len(t.ftab)) {
		return goFunc{}, false
	}
	return goFunc{entry: t.text + uint64(t.bo.Uint32(t.ftab[8*i:])), rec: t.ftab[foff:]}, true
}

// pcvalue decodes the pc-value table at pctab offset off for pc in f, as
// the runtime's pcvalue does; -1 when there is none.
func (t *funcTab) pcvalue(f goFunc, off uint32, pc uint64) int32 {
	if off == 0 || uint64(off) >= uint64(len(t.pctab)) {
		return -1
	}
	p := t.pctab[off:]
	cur, val := f.entry, int32(-1)
	for {
		uv, n := binary.Uvarint(p)
		if n <= 0 || uv == 0 && cur != f.entry {
			return -1
		}
		p = p[n:]
		val += int32(-(uint32(uv) & 1) ^ (uint32(uv) >> 1))
		pcd, n := binary.Uvarint(p)
		if n <= 0 {
			return -1
		}
		p = p[n:]
		cur += pcd * t.quantum
		if pc < cur {
			return val
		}
	}
}

// str returns the NUL-terminated string at off in tab, interned.
func (t *funcTab) str(tab []byte, off uint64) string {
	if off >= uint64(len(tab)) {
		return "?"
	}
	key := len(t.base) - len(tab) + int(off)
	t.mu.Lock()
	s, ok := t.strs[key]
	t.mu.Unlock()
	if ok {
		return s
	}
	b := tab[off:]
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	s = string(b[:n])
	t.mu.Lock()
	t.strs[key] = s
	t.mu.Unlock()
	return s
}

// fileLine returns the source position at pc in f.
func (t *funcTab) fileLine(f goFunc, pc uint64) (string, int) {
	pcfile, _ := t.u32(f.rec, 20)
	pcln, _ := t.u32(f.rec, 24)
	cu, _ := t.u32(f.rec, 32)
	file := ""
	if fno := t.pcvalue(f, pcfile, pc); fno >= 0 {
		if foff, ok := t.u32(t.cutab, 4*(uint64(cu)+uint64(fno))); ok && foff != ^uint32(0) {
			file = t.str(t.filetab, uint64(foff))
		}
	}
	return file, max(int(t.pcvalue(f, pcln, pc)), 0)
}

// resolve names the function containing pc and its source position, and
// the functions inlined into it at pc, innermost first: each with its
// own position at pc (the innermost) or at its call into the previous
// one. The real function's position is then that of its call into the
// outermost inlined function.
func (t *funcTab) resolve(pc uint64) (name, file string, line int, inlined []Frame, ok bool) {
	f, ok := t.find(pc)
	if !ok {
		return "", "", 0, nil, false
	}
	nameOff, _ := t.u32(f.rec, 4)
	name = t.str(t.funcnames, uint64(nameOff))
	file, line = t.fileLine(f, pc)
	tree := t.inlTree(f)
	if tree == nil {
		return name, file, line, nil, true
	}
	npcdata, _ := t.u32(f.rec, 28)
	if npcdata <= pcdataInlTreeIdx {
		return name, file, line, nil, true
	}
	idxTab, _ := t.u32(f.rec, funcHeaderSize+4*pcdataInlTreeIdx)
	for idx := t.pcvalue(f, idxTab, pc); idx >= 0 && len(inlined) < maxInlineDepth; idx = t.pcvalue(f, idxTab, pc) {
		e := uint64(idx) * inlinedCallSize
		if e+inlinedCallSize > uint64(len(tree)) {
			break
		}
		callee := t.str(t.funcnames, uint64(t.bo.Uint32(tree[e+4:])))
		inlined = append(inlined, Frame{Function: callee, File: file, Line: line, Known: true})
		pc = f.entry + uint64(int64(int32(t.bo.Uint32(tree[e+8:]))))
		file, line = t.fileLine(f, pc)
	}
	return name, file, line, inlined, true
}

// inlTree returns f's inline tree (from its start to the end of the
// go:func.* area), or nil.
func (t *funcTab) inlTree(f goFunc) []byte {
	if t.gofunc == nil {
		return nil
	}
	npcdata, _ := t.u32(f.rec, 28)
	nfuncdata := uint32(f.rec[funcHeaderSize-1])
	if nfuncdata <= funcdataInlTree {
		return nil
	}
	off, ok := t.u32(f.rec, funcHeaderSize+4*uint64(npcdata)+4*funcdataInlTree)
	if !ok || off == ^uint32(0) || uint64(off) >= uint64(len(t.gofunc)) {
		return nil
	}
	return t.gofunc[off:]
}

// Frames lists f and the functions inlined at its address as separate
// frames, innermost first: f.Inlined, then f.
func (f Frame) Frames() []Frame {
	if len(f.Inlined) == 0 {
		return []Frame{f}
	}
	out := make([]Frame, 0, len(f.Inlined)+1)
	out = append(out, f.Inlined...)
	f.Inlined = nil
	return append(out, f)
}
