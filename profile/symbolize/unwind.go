package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"sort"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// Frameless leaves. A frame-pointer walk starts from the leaf's pc and the
// frame pointer register. A leaf that has not pushed a frame (libc's
// syscall wrappers are built without frame pointers; Go leaf functions
// with no locals never make one) leaves the register pointing at its
// caller's frame, so the walk goes on from the caller's caller: the caller
// is missing. Its return address is still on the stack, at a place the
// leaf's unwind rule tells: Go's pcsp table (the SP delta at each pc) or
// the CFA rule of .eh_frame. The probes keep, with each user stack, the
// words at the user SP that fall in the process's code (bpf/leaf.h);
// SpliceLeaf puts the caller back from them.
//
// .eh_frame is parsed with delve's pkg/dwarf/frame (parser and CFA
// interpreter; it adds only delve's small pkg/dwarf and leb128 packages);
// Go's pcsp table is read by hand: debug/gosym does not expose it.

// StackWord is one word read at a thread's user stack pointer when its
// stack was walked: Value was at SP + 8*Index.
type StackWord struct {
	Index int
	Value uint64
}

// LeafResult says what SpliceLeaf did to a stack.
type LeafResult int

const (
	// LeafFramed: the leaf had its frame (or the walk already had its
	// caller); the stack is unchanged.
	LeafFramed LeafResult = iota
	// LeafSpliced: the callers the walk skipped were put back.
	LeafSpliced
	// LeafUnresolved: the leaf had no frame but its caller could not be
	// recovered (its return address was not among the words, or a rule
	// was missing further up); the stack is unchanged.
	LeafUnresolved
	// LeafNoRule: no unwind rule is known for the leaf's pc (no .eh_frame
	// entry, JIT or vDSO code, an unmapped address); the stack is unchanged.
	LeafNoRule
)

// maxSplice bounds the frameless frames put back above one leaf
// (nanosleep -> __clock_nanosleep are two).
const maxSplice = 4

// SpliceLeaf returns the user stack (leaf first) with the callers that a
// frame-pointer walk skipped above a frameless leaf put back, recovered
// from words, the words found at the stack pointer with it. It splices
// only when every frame from the leaf up to one that keeps a frame
// pointer has a rule placing its return address on a kept word; otherwise
// user is returned as it is. user is not modified.
func (p *Process) SpliceLeaf(user []uint64, words []StackWord) ([]uint64, LeafResult) {
	if len(user) == 0 {
		return user, LeafFramed
	}
	r := p.frameRule(user[0], false)
	switch r.kind {
	case ruleFrame:
		return user, LeafFramed
	case ruleUnknown:
		return user, LeafNoRule
	}
	var callers [maxSplice]uint64
	n, base := 0, 0
	for r.kind == ruleSP {
		if n == maxSplice {
			return user, LeafUnresolved
		}
		idx := base + r.ra
		ra, ok := wordAt(words, idx)
		if !ok {
			return user, LeafUnresolved
		}
		callers[n] = ra
		n++
		base = idx + 1 // the caller's SP once the return address is popped
		r = p.frameRule(ra, true)
	}
	if r.kind != ruleFrame {
		return user, LeafUnresolved
	}
	if len(user) > 1 { // the walk already has them from here on
		for i := range n {
			if callers[i] == user[1] {
				n = i
				break
			}
		}
	}
	if n == 0 {
		return user, LeafFramed
	}
	out := make([]uint64, 0, len(user)+n)
	out = append(out, user[0])
	out = append(out, callers[:n]...)
	return append(out, user[1:]...), LeafSpliced
}

func wordAt(words []StackWord, idx int) (uint64, bool) {
	for _, w := range words {
		if w.Index == idx {
			return w.Value, true
		}
	}
	return 0, false
}

// Kinds of frame rules.
const (
	ruleUnknown = iota // no rule for the pc
	ruleFrame          // the frame pointer is the function's own: the walk is right from here
	ruleSP             // frameless at this pc: the return address is ra words above SP
)

// frameRule is where a function's return address is at one pc.
type frameRule struct {
	kind uint8
	ra   int
}

// frameRule returns the rule at addr (a return address: the call before it).
func (p *Process) frameRule(addr uint64, returnAddr bool) frameRule {
	pc := addr
	if returnAddr {
		pc--
	}
	p.mu.RLock()
	m := p.find(pc)
	p.mu.RUnlock()
	if m == nil || m.obj == nil {
		return frameRule{}
	}
	va, ok := m.obj.vaddr(pc - m.Start + m.Offset)
	if !ok {
		return frameRule{}
	}
	return m.obj.unwind.rule(m.obj, va)
}

// unwindCache holds a binary's frame rules, computed for the pcs seen.
type unwindCache struct {
	once  sync.Once
	gopc  *pcspTable                    // Go functions' SP deltas, nil when not Go
	fdes  frame.FrameDescriptionEntries // from .eh_frame, nil when absent
	mu    sync.Mutex
	rules map[uint64]frameRule
}

// maxCachedRules bounds one binary's cache of rules.
const maxCachedRules = 1 << 16

func (u *unwindCache) rule(o *objFile, va uint64) frameRule {
	u.once.Do(func() { u.init(o) })
	u.mu.Lock()
	r, ok := u.rules[va]
	u.mu.Unlock()
	if ok {
		return r
	}
	r = u.compute(va)
	u.mu.Lock()
	if u.rules == nil || len(u.rules) >= maxCachedRules {
		u.rules = make(map[uint64]frameRule)
	}
	u.rules[va] = r
	u.mu.Unlock()
	return r
}

// init finds the Go pclntab (already read for symbols) and the .eh_frame
// of the file, which it opens again: symbols are read once and the file
// closed (load).
func (u *unwindCache) init(o *objFile) {
	defer func() { recover() }() // a malformed file leaves its rules unknown
	o.load()
	if o.gotab != nil && len(o.gotab.tab.Funcs) > 0 {
		lt := o.gotab.tab.Funcs[0].LineTable
		u.gopc = newPCSPTable(lt.Data, lt.PC)
	}
	if o.loc.root == "" && o.loc.path == "" {
		return
	}
	f, err := os.Open(o.loc.root + o.loc.path)
	if err != nil {
		return
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil || (o.buildID != "" && buildID(ef) != o.buildID) {
		return // another file there now
	}
	sec := ef.Section(".eh_frame")
	if sec == nil || sec.Type == elf.SHT_NOBITS || ef.Class != elf.ELFCLASS64 {
		return
	}
	data, err := sec.Data()
	if err != nil {
		return
	}
	if fdes, err := frame.Parse(data, binary.LittleEndian, 0, 8, sec.Addr); err == nil {
		// FDEForPC searches by address; .eh_frame need not be in order.
		sort.Slice(fdes, func(i, j int) bool { return fdes[i].Begin() < fdes[j].Begin() })
		u.fdes = fdes
	}
}

// x86-64 DWARF register numbers.
const (
	dwarfRBP = 6
	dwarfRSP = 7
)

func (u *unwindCache) compute(va uint64) (r frameRule) {
	defer func() {
		if recover() != nil {
			r = frameRule{}
		}
	}()
	if u.gopc != nil {
		if sp, ok := u.gopc.at(va); ok {
			if sp == 0 {
				return frameRule{kind: ruleSP}
			}
			return frameRule{kind: ruleFrame} // Go saves BP as it makes its frame
		}
	}
	if u.fdes == nil {
		return frameRule{}
	}
	fde, err := u.fdes.FDEForPC(va)
	if err != nil {
		return frameRule{}
	}
	fc, err := fde.EstablishFrame(va)
	if err != nil || fc.CFA.Rule != frame.RuleCFA {
		return frameRule{}
	}
	switch {
	case fc.CFA.Reg == dwarfRBP:
		return frameRule{kind: ruleFrame}
	case fc.CFA.Reg == dwarfRSP && fc.CFA.Offset >= 8 && fc.CFA.Offset%8 == 0:
		return frameRule{kind: ruleSP, ra: int(fc.CFA.Offset-8) / 8} // the return address is at CFA-8
	}
	return frameRule{}
}

// pcspTable reads the SP delta tables of a Go 1.18+ pclntab (the layout of
// runtime/symtab.go's pcHeader, _func and pcvalue encoding).
type pcspTable struct {
	data      []byte
	text      uint64 // runtime.text: function entries are offsets from it
	quantum   uint64
	nfunc     uint64
	functab   []byte
	pctab     []byte
	funcStart uint64 // offset of the functab in data
}

func newPCSPTable(data []byte, text uint64) *pcspTable {
	if len(data) < 72 {
		return nil
	}
	magic := binary.LittleEndian.Uint32(data)
	if (magic != 0xfffffff0 && magic != 0xfffffff1) || data[7] != 8 {
		return nil // Go before 1.18, or not 64-bit
	}
	word := func(i int) uint64 { return binary.LittleEndian.Uint64(data[8+8*i:]) }
	nfunc, pctabOff, pclnOff := word(0), word(6), word(7)
	if pctabOff > uint64(len(data)) || pclnOff > uint64(len(data)) || (nfunc+1)*8 > uint64(len(data))-pclnOff {
		return nil
	}
	return &pcspTable{data: data, text: text, quantum: uint64(data[6]), nfunc: nfunc,
		functab: data[pclnOff : pclnOff+(nfunc+1)*8], pctab: data[pctabOff:], funcStart: pclnOff}
}

// at returns the SP delta of the Go function at pc (0: at its entry or
// after its frame is gone: the return address is at SP), and false when
// pc is in no Go function.
func (t *pcspTable) at(pc uint64) (int64, bool) {
	if pc < t.text {
		return 0, false
	}
	off := pc - t.text
	entry := func(i uint64) uint64 { return uint64(binary.LittleEndian.Uint32(t.functab[i*8:])) }
	if t.nfunc == 0 || off < entry(0) || off >= entry(t.nfunc) {
		return 0, false
	}
	lo, hi := uint64(0), t.nfunc // the last i with entry(i) <= off
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if entry(mid) <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	funcOff := t.funcStart + uint64(binary.LittleEndian.Uint32(t.functab[lo*8+4:]))
	if funcOff+20 > uint64(len(t.data)) {
		return 0, false
	}
	f := t.data[funcOff:]
	start := uint64(binary.LittleEndian.Uint32(f))
	pcsp := uint64(binary.LittleEndian.Uint32(f[16:]))
	if pcsp == 0 || pcsp >= uint64(len(t.pctab)) {
		return 0, false
	}
	return pcValue(t.pctab[pcsp:], start, off, t.quantum)
}

// pcValue decodes a pcvalue table (value deltas zigzag-encoded, pc deltas
// in quanta, both varints) from entry, the function's start, to target.
func pcValue(p []byte, entry, target, quantum uint64) (int64, bool) {
	val, pc := int64(-1), entry
	for first := true; ; first = false {
		uv, n := binary.Uvarint(p)
		if n <= 0 || (uv == 0 && !first) {
			return 0, false
		}
		p = p[n:]
		d := int64(uv >> 1)
		if uv&1 != 0 {
			d = ^d
		}
		val += d
		pcd, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		pc += pcd * quantum
		if target < pc {
			return val, true
		}
	}
}
