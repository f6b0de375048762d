package tls

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"go/version"
	"io"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// goFuncs are the crypto/tls functions that run one handshake, by side.
// Go 1.26 names them so (`go tool nm`); each is optional (the linker drops
// what the program never calls).
var goFuncs = []struct {
	name string
	side uint32
}{
	{"crypto/tls.(*Conn).clientHandshake", sideClient},
	{"crypto/tls.(*Conn).serverHandshake", sideServer},
}

// minGoVersion is the first Go with the register ABI on amd64 (g in R14,
// results in RAX, RBX, ...).
const minGoVersion = "go1.17"

// goSites are the uprobe sites of one Go function, as file offsets.
type goSites struct {
	name       string
	side       uint32
	entry      uint64   // the frame setup: PUSHQ BP, or the instruction after it
	callerAtSP bool     // entry is the PUSHQ BP: the direct caller's return address is at [SP]
	rets       []uint64 // every RET
	own        uint64   // cookie bits of the own-connection check (server side), 0 for none
}

// endbr64 is the CET landing pad; x86asm does not know it.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// goPlan finds the Go handshake functions in the executable at exe and
// their uprobe sites. Functions that are absent are left out silently;
// those that cannot be probed safely are left out with a note saying why.
func goPlan(exe string, funcs map[string]symbolize.Func, code io.ReaderAt) (sites []goSites, notes []string) {
	var found []symbolize.Func
	for _, gf := range goFuncs {
		if f, ok := funcs[gf.name]; ok && f.Go {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		return nil, []string{fmt.Sprintf("Go handshakes not probed: no Go build info in %s (%v): cannot tell whether it uses the register ABI", exe, err)}
	}
	// "go1.26.8", "go1.26.8 X:experiment", or "devel go1.27-abcdef" (newer).
	v, _, _ := strings.Cut(strings.TrimPrefix(bi.GoVersion, "devel "), " ")
	v, _, _ = strings.Cut(v, "-")
	if !version.IsValid(v) || version.Compare(v, minGoVersion) < 0 {
		return nil, []string{fmt.Sprintf("Go handshakes not probed: %s is built with %s, the probe needs %s or later (register ABI)", exe, bi.GoVersion, minGoVersion)}
	}
	var own uint64 // the server side's own-connection check, when the layout is known
	for _, gf := range goFuncs {
		if f, ok := funcs[gf.name]; ok && f.Go && gf.side == sideServer {
			if l, ok, note := goConnLayout(exe, v); ok {
				own = l.cookie()
			} else {
				notes = append(notes, note)
			}
		}
	}
	for _, gf := range goFuncs {
		f, ok := funcs[gf.name]
		if !ok || !f.Go {
			continue
		}
		if f.Size() == 0 || f.Size() > 1<<20 {
			notes = append(notes, fmt.Sprintf("%s not probed: implausible size %d", f.Name, f.Size()))
			continue
		}
		buf := make([]byte, f.Size())
		if _, err := code.ReadAt(buf, int64(f.Offset)); err != nil {
			notes = append(notes, fmt.Sprintf("%s not probed: reading its code: %v", f.Name, err))
			continue
		}
		entry, callerAtSP, rets, err := goProbeSites(f.Addr, buf)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not probed: %v", f.Name, err))
			continue
		}
		s := goSites{name: f.Name, side: gf.side, entry: f.Offset + entry, callerAtSP: callerAtSP}
		if gf.side == sideServer {
			s.own = own
		}
		for _, r := range rets {
			s.rets = append(s.rets, f.Offset+r)
		}
		sites = append(sites, s)
	}
	return sites, notes
}

// goProbeSites decodes the machine code of a Go function loaded at addr
// and returns, as offsets into code, where its entry uprobe goes and where
// each RET is. The entry is the frame setup, after the stack check, so
// that the stack-growth path, which re-enters the function from the top,
// does not count twice: the PUSHQ BP of Go 1.21+ (callerAtSP: the kernel
// emulates a push instead of single-stepping it, several times cheaper,
// but the frame-pointer walk from there misses the direct caller, whose
// return address is at [SP]), or the instruction after LEAQ off(SP), BP
// (Go 1.17-1.20). It fails closed: any byte that does not decode, a missing frame setup, no
// RET, or a direct jump out of the function (a tail call would leave
// without a RET) is an error. Go puts no data in its functions' code on
// amd64 (jump tables live in rodata) and pads them with INT3, so a linear
// sweep sees every instruction.
func goProbeSites(addr uint64, code []byte) (entry uint64, callerAtSP bool, rets []uint64, err error) {
	pc := 0
	if bytes.HasPrefix(code, endbr64) {
		pc = len(endbr64)
	}
	framed, pushAt := false, -1
	for n := 0; pc < len(code); n++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			return 0, false, nil, fmt.Errorf("byte %#02x at +%#x does not decode (%v): refusing to guess where it returns", code[pc], pc, err)
		}
		next := pc + inst.Len
		if inst.Op == x86asm.RET {
			if !framed {
				return 0, false, nil, fmt.Errorf("RET at +%#x before the frame setup", pc)
			}
			rets = append(rets, uint64(pc))
		}
		if rel, ok := inst.Args[0].(x86asm.Rel); ok && inst.Op != x86asm.CALL {
			if to := int64(next) + int64(rel); to < 0 || to >= int64(len(code)) {
				return 0, false, nil, fmt.Errorf("%v at +%#x leaves the function (to %#x): it may return without a RET", inst.Op, pc, addr+uint64(to))
			}
		}
		if !framed && setsFramePointer(inst) {
			framed, entry = true, uint64(next)
			if inst.Op == x86asm.MOV && pushAt >= 0 {
				entry, callerAtSP = uint64(pushAt), true
			}
		}
		pushAt = -1
		if !framed && inst.Op == x86asm.PUSH && inst.Args[0] == x86asm.RBP {
			pushAt = pc
		}
		if !framed && n >= 16 {
			return 0, false, nil, fmt.Errorf("no frame pointer setup (PUSHQ BP; MOVQ SP, BP) in its first %d instructions", n)
		}
		pc = next
	}
	if !framed {
		return 0, false, nil, fmt.Errorf("no frame pointer setup")
	}
	if len(rets) == 0 {
		return 0, false, nil, fmt.Errorf("no RET instruction")
	}
	if entry >= uint64(len(code)) {
		return 0, false, nil, fmt.Errorf("frame setup at the end of the function")
	}
	return entry, callerAtSP, rets, nil
}

// setsFramePointer reports whether inst points RBP into the new frame:
// MOVQ SP, BP (Go 1.21+, after PUSHQ BP) or LEAQ off(SP), BP (Go 1.17-1.20).
func setsFramePointer(inst x86asm.Inst) bool {
	if inst.Args[0] != x86asm.RBP {
		return false
	}
	switch inst.Op {
	case x86asm.MOV:
		return inst.Args[1] == x86asm.RSP
	case x86asm.LEA:
		m, ok := inst.Args[1].(x86asm.Mem)
		return ok && m.Base == x86asm.RSP && m.Index == 0
	}
	return false
}
