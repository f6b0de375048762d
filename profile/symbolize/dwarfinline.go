package symbolize

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
)

// Inlined functions of native code, from the DW_TAG_inlined_subroutine
// entries of .debug_info. Each compile unit's entries are read into an
// inlineTree on the first lookup inside the unit and cached with the
// others of the binary within maxInlineEntries.

// maxInlineEntries bounds the inlined subroutines and their address
// ranges one binary keeps decoded (28 and 16 bytes each, plus the
// function and file names); past it the decoded trees are dropped and
// decoded again when asked for. A variable for tests.
var maxInlineEntries = 1 << 18

// inlineTree is the inlined subroutines of one compile unit: nodes in the
// order of .debug_info, each linked to its first child and next sibling
// (an inlined call inside the inlined function), the outermost ones found
// through roots.
type inlineTree struct {
	nodes  []inlineNode
	ranges []addrRange // of nodes, each node's contiguous
	roots  []rootRange // the outermost nodes' ranges, sorted by lo
	funcs  []string    // function names as the DWARF spells them (linkage name when given)
	files  []string    // call files
}

type inlineNode struct {
	rlo, rhi    int32 // its ranges: ranges[rlo:rhi]
	first, next int32 // first child, next sibling; -1: none
	fn          int32 // index in funcs
	callFile    int32 // index in files; -1: unknown
	callLine    int32
}

type addrRange struct{ lo, hi uint64 }

type rootRange struct {
	addrRange
	node int32
}

// entries is what the tree counts against maxInlineEntries.
func (t *inlineTree) entries() int { return len(t.nodes) + len(t.ranges) }

func (t *inlineTree) contains(n int32, pc uint64) bool {
	for _, r := range t.ranges[t.nodes[n].rlo:t.nodes[n].rhi] {
		if r.lo <= pc && pc < r.hi {
			return true
		}
	}
	return false
}

// inlined returns the functions inlined at pc, innermost first, as
// Frame.Inlined holds them: the innermost at file:line (the line table's
// position of pc), each other at its call into the one before. callFile
// and callLine are the position of the call into the outermost one, the
// position of the real function. Without inlined functions at pc it
// returns nil and file, line unchanged.
func (l *dwarfLines) inlined(pc uint64, file string, line int) (callFile string, callLine int, inl []Frame) {
	return l.inlinedIn(l.unitOf(pc), pc, file, line)
}

// inlinedIn is inlined for pc in compile unit cu (-1: none).
func (l *dwarfLines) inlinedIn(cu int, pc uint64, file string, line int) (callFile string, callLine int, inl []Frame) {
	if cu < 0 || l.isec == nil {
		return file, line, nil
	}
	t := l.inlineTree(cu)
	if len(t.roots) == 0 {
		return file, line, nil
	}
	i := sort.Search(len(t.roots), func(i int) bool { return t.roots[i].lo > pc }) - 1
	n := int32(-1)
	for j := i; j >= 0 && j > i-8; j-- { // roots rarely overlap; look a little back
		if pc < t.roots[j].hi {
			n = t.roots[j].node
			break
		}
	}
	if n < 0 {
		return file, line, nil
	}
	// Outermost first, then reversed.
	var buf [8]int32
	chain := append(buf[:0], n)
	for len(chain) < maxInlineDepth {
		c := t.nodes[n].first
		for c >= 0 && !t.contains(c, pc) {
			c = t.nodes[c].next
		}
		if c < 0 {
			break
		}
		chain = append(chain, c)
		n = c
	}
	inl = make([]Frame, len(chain))
	for k := range chain {
		nd := t.nodes[chain[len(chain)-1-k]]
		name, sys := t.funcs[nd.fn], ""
		if d, ok := demangled(name); ok {
			name, sys = d, name
		}
		inl[k] = Frame{Function: name, SystemName: sys, File: file, Line: line, Known: true}
		file, line = "", int(nd.callLine)
		if nd.callFile >= 0 {
			file = t.files[nd.callFile]
		}
	}
	return file, line, inl
}

// noInlined is the tree of a compile unit without inlined subroutines.
var noInlined = &inlineTree{}

// inlineTree returns the inlined subroutines of compile unit cu (maybe
// noInlined), decoding them on first use.
func (l *dwarfLines) inlineTree(cu int) *inlineTree {
	if t := l.inl[cu].Load(); t != nil {
		return t
	}
	l.imu.Lock()
	defer l.imu.Unlock()
	if t := l.inl[cu].Load(); t != nil {
		return t
	}
	t := noInlined
	if inl, refAddr := l.isec.scanAbbrev(l.cus[cu].abbrev); inl {
		if d := l.decodeInline(l.cus[cu], refAddr); d != nil {
			t = d
		}
	}
	n := t.entries()
	if l.inlEntries+n > maxInlineEntries {
		for _, c := range l.decoded {
			l.inl[c].Store(nil)
		}
		l.decoded, l.inlEntries = l.decoded[:0], 0
	}
	l.inl[cu].Store(t)
	l.decoded = append(l.decoded, cu)
	l.inlEntries += n
	return t
}

// inlineSections are the DWARF sections of a binary, kept for its
// inlined subroutines. A unit is read through a debug/dwarf Data of its
// own (as dwarfLines.oneUnit does for line tables): one over the whole
// .debug_info would parse and keep every unit's abbreviations (libc's
// debug file: 21.6 MB kept, against 8.7 MB for the sections alone). A unit whose entries refer
// into other units (DW_FORM_ref_addr, as LTO gives) is read through full,
// made on first need.
type inlineSections struct {
	data map[string][]byte // by name without ".debug_"
	bo   binary.ByteOrder
	full *dwarf.Data // guarded by dwarfLines.imu
}

// unitData returns a dwarf.Data for the unit whose header is at start in
// .debug_info, and the offset in .debug_info its offsets are relative to.
func (s *inlineSections) unitData(start uint64, whole bool) (*dwarf.Data, uint64, error) {
	info := s.data["info"]
	if whole {
		if s.full == nil {
			d, err := s.newData(info)
			if err != nil {
				return nil, 0, err
			}
			s.full = d
		}
		return s.full, 0, nil
	}
	if start+4 > uint64(len(info)) {
		return nil, 0, fmt.Errorf("unit at %#x past .debug_info", start)
	}
	n, hdr := uint64(s.bo.Uint32(info[start:])), uint64(4)
	if n == 0xffffffff && start+12 <= uint64(len(info)) {
		n, hdr = s.bo.Uint64(info[start+4:]), 12
	}
	if n > uint64(len(info))-start-hdr {
		return nil, 0, fmt.Errorf("unit at %#x past .debug_info", start)
	}
	d, err := s.newData(info[start : start+hdr+n])
	return d, start, err
}

func (s *inlineSections) newData(info []byte) (*dwarf.Data, error) {
	d, err := dwarf.New(s.data["abbrev"], nil, nil, info, s.data["line"], nil, s.data["ranges"], s.data["str"])
	if err != nil {
		return nil, err
	}
	for _, n := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := s.data[n]; b != nil {
			if err := d.AddSection(".debug_"+n, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// scanAbbrev tells whether the abbreviation table at off in .debug_abbrev
// declares DW_TAG_inlined_subroutine entries (a unit whose abbreviations
// do not has none, and is not read), and whether it uses
// DW_FORM_ref_addr. A malformed table answers true, true.
func (s *inlineSections) scanAbbrev(off uint64) (inlined, refAddr bool) {
	abbrev := s.data["abbrev"]
	if off >= uint64(len(abbrev)) {
		return true, true
	}
	b := abbrev[off:]
	uleb := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	for len(b) > 0 {
		if code := uleb(); code == 0 {
			return inlined, refAddr // the end of the table
		}
		tag := uleb()
		if len(b) == 0 {
			return true, true
		}
		inlined = inlined || tag == uint64(dwarf.TagInlinedSubroutine)
		b = b[1:] // children flag
		for len(b) > 0 {
			attr, form := uleb(), uleb()
			switch form {
			case 0x10: // DW_FORM_ref_addr
				refAddr = true
			case 0x21: // DW_FORM_implicit_const: a signed LEB128 value follows
				if _, n := binary.Varint(b); n > 0 {
					b = b[n:]
				} else {
					b = nil
				}
			}
			if attr == 0 && form == 0 {
				break
			}
		}
	}
	return true, true
}

// walkInto are the entries whose children may hold code with inlined
// calls, or functions: the children of others (types, variables,
// parameters, call sites) are skipped.
var walkInto = map[dwarf.Tag]bool{
	dwarf.TagSubprogram:        true,
	dwarf.TagLexDwarfBlock:     true,
	dwarf.TagInlinedSubroutine: true,
	dwarf.TagNamespace:         true,
	dwarf.TagModule:            true,
	dwarf.TagStructType:        true,
	dwarf.TagClassType:         true,
	dwarf.TagUnionType:         true,
	dwarf.TagTryDwarfBlock:     true,
	dwarf.TagCatchDwarfBlock:   true,
	dwarf.TagWithStmt:          true,
	dwarf.TagCommonDwarfBlock:  true,
	dwarf.TagInterfaceType:     true,
}

// decodeInline reads the inlined subroutines of compile unit cu, or
// returns nil when there are none (or its DWARF is malformed).
func (l *dwarfLines) decodeInline(cu compUnit, whole bool) (t *inlineTree) {
	defer func() {
		if recover() != nil { // debug/dwarf on malformed input
			t = nil
		}
	}()
	d, base, err := l.isec.unitData(cu.start, whole)
	if err != nil || uint64(cu.off) < base {
		return nil
	}
	r := d.Reader()
	r.Seek(cu.off - dwarf.Offset(base))
	top, err := r.Next()
	if err != nil || top == nil || top.Tag != dwarf.TagCompileUnit || !top.Children {
		return nil
	}
	t = &inlineTree{}
	origins := d.Reader() // for the entries inlined subroutines refer to
	fnOf := map[dwarf.Offset]int32{}
	var lineFiles []*dwarf.LineFile
	filesRead := false
	fileOf := map[int64]int32{}
	callFile := func(idx int64) int32 {
		if !filesRead {
			filesRead = true
			if lr, err := d.LineReader(top); err == nil && lr != nil {
				lineFiles = lr.Files()
			}
		}
		if f, ok := fileOf[idx]; ok {
			return f
		}
		f := int32(-1)
		if idx >= 0 && idx < int64(len(lineFiles)) && lineFiles[idx] != nil {
			f = int32(len(t.files))
			t.files = append(t.files, sourceName(lineFiles[idx].Name, cu.compDir))
		}
		fileOf[idx] = f
		return f
	}

	// open holds, per entry with children being walked, the innermost
	// node it is in (-1: none) and whether the entry is that node.
	type open struct {
		node int32
		own  bool
	}
	stack := []open{{-1, false}}
	last := map[int32]int32{} // the last child added to each node (-1: roots)
	for len(stack) > 0 {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit || e.Tag == dwarf.TagTypeUnit || e.Tag == dwarf.TagSkeletonUnit {
			break // past the end of the unit (its end marker missing)
		}
		parent := stack[len(stack)-1].node
		cur, own := parent, false
		switch e.Tag {
		case dwarf.TagSubprogram:
			cur = -1 // a nested function: its calls are its own
		case dwarf.TagInlinedSubroutine:
			if n := addNode(d, t, e, parent, last, origins, fnOf, callFile); n >= 0 {
				cur, own = n, true
			}
		}
		if !e.Children {
			continue
		}
		if !walkInto[e.Tag] {
			r.SkipChildren()
			continue
		}
		stack = append(stack, open{cur, own})
	}
	if len(t.nodes) == 0 {
		return nil
	}
	sort.Slice(t.roots, func(i, j int) bool { return t.roots[i].lo < t.roots[j].lo })
	return t
}

// addNode adds inlined subroutine e, inside node parent (-1: none), to t
// and returns its index, or -1 when it has no address range.
func addNode(d *dwarf.Data, t *inlineTree, e *dwarf.Entry, parent int32, last map[int32]int32, origins *dwarf.Reader, fnOf map[dwarf.Offset]int32, callFile func(int64) int32) int32 {
	rs, err := d.Ranges(e)
	if err != nil {
		return -1
	}
	rlo := int32(len(t.ranges))
	for _, r := range rs {
		if r[0] < r[1] {
			t.ranges = append(t.ranges, addrRange{r[0], r[1]})
		}
	}
	if int32(len(t.ranges)) == rlo {
		return -1
	}
	n := int32(len(t.nodes))
	nd := inlineNode{rlo: rlo, rhi: int32(len(t.ranges)), first: -1, next: -1, callFile: -1}
	if f, ok := e.Val(dwarf.AttrCallFile).(int64); ok {
		nd.callFile = callFile(f)
	}
	if ln, ok := e.Val(dwarf.AttrCallLine).(int64); ok && ln > 0 && ln < 1<<31 {
		nd.callLine = int32(ln)
	}
	origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	fn, ok := fnOf[origin]
	if !ok {
		fn = int32(len(t.funcs))
		t.funcs = append(t.funcs, originName(origins, e))
		fnOf[origin] = fn
	}
	nd.fn = fn
	t.nodes = append(t.nodes, nd)
	if prev, ok := last[parent]; ok {
		t.nodes[prev].next = n
	} else if parent >= 0 {
		t.nodes[parent].first = n
	}
	last[parent] = n
	if parent < 0 {
		for _, r := range t.ranges[nd.rlo:nd.rhi] {
			t.roots = append(t.roots, rootRange{r, n})
		}
	}
	return n
}

// originName is the name of the function an inlined subroutine is an
// instance of: the linkage name (mangled C++ or Rust, for demangled) when
// one of its abstract origins or specifications gives it, else the first
// DW_AT_name among them, else "?".
func originName(r *dwarf.Reader, e *dwarf.Entry) string {
	name := ""
	for hop := 0; hop < 8 && e != nil; hop++ { // 0x2007: DW_AT_MIPS_linkage_name, older GCC
		for _, a := range []dwarf.Attr{dwarf.AttrLinkageName, dwarf.Attr(0x2007)} {
			if s, ok := e.Val(a).(string); ok && s != "" {
				return s
			}
		}
		if s, ok := e.Val(dwarf.AttrName).(string); ok && s != "" && name == "" {
			name = s
		}
		off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			if off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
				break
			}
		}
		r.Seek(off)
		next, err := r.Next()
		if err != nil || next == nil || next.Offset != off {
			break
		}
		e = next
	}
	if name == "" {
		return "?"
	}
	return name
}
