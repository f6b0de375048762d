package symbolize

import (
	"debug/dwarf"
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
func (t *inlineTree) entries() int {
	if t == nil {
		return 0
	}
	return len(t.nodes) + len(t.ranges)
}

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
func (l *dwarfLines) inlined(pc uint64, file string, line int) (inl []Frame, callFile string, callLine int) {
	cu := l.unitOf(pc)
	if cu < 0 || l.d == nil {
		return nil, file, line
	}
	t := l.inlineTree(cu)
	if t == nil {
		return nil, file, line
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
		return nil, file, line
	}
	// Outermost first, then reversed.
	chain := []int32{n}
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
	return inl, file, line
}

// inlineTree returns the inlined subroutines of compile unit cu, or nil
// when it has none.
func (l *dwarfLines) inlineTree(cu int) *inlineTree {
	l.imu.Lock()
	defer l.imu.Unlock()
	if t, ok := l.inl[cu]; ok {
		return t
	}
	t := l.decodeInline(l.cus[cu])
	n := t.entries()
	if l.inlEntries+n > maxInlineEntries {
		clear(l.inl)
		l.inlEntries = 0
	}
	l.inl[cu] = t
	l.inlEntries += n
	return t
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
func (l *dwarfLines) decodeInline(cu compUnit) (t *inlineTree) {
	defer func() {
		if recover() != nil { // debug/dwarf on malformed input
			t = nil
		}
	}()
	r := l.d.Reader()
	r.Seek(cu.off)
	top, err := r.Next()
	if err != nil || top == nil || top.Tag != dwarf.TagCompileUnit || !top.Children {
		return nil
	}
	t = &inlineTree{}
	origins := l.d.Reader() // for the entries inlined subroutines refer to
	fnOf := map[dwarf.Offset]int32{}
	var lineFiles []*dwarf.LineFile
	filesRead := false
	fileOf := map[int64]int32{}
	callFile := func(idx int64) int32 {
		if !filesRead {
			filesRead = true
			if lr, err := l.d.LineReader(top); err == nil && lr != nil {
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
			if n := l.addNode(t, e, parent, last, origins, fnOf, callFile); n >= 0 {
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
func (l *dwarfLines) addNode(t *inlineTree, e *dwarf.Entry, parent int32, last map[int32]int32, origins *dwarf.Reader, fnOf map[dwarf.Offset]int32, callFile func(int64) int32) int32 {
	rs, err := l.d.Ranges(e)
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
