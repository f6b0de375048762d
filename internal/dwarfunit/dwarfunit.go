// Package dwarfunit reads the unit headers of a DWARF .debug_info section,
// for readers that seek straight to the units they need.
package dwarfunit

import (
	"debug/dwarf"
	"encoding/binary"
	"math"
)

// Header is where a unit's first entry is, and its abbreviations.
type Header struct {
	Entry  dwarf.Offset // in .debug_info
	Abbrev uint64       // offset of its abbreviations in .debug_abbrev
	Start  uint64       // of the unit's header in .debug_info
}

// Headers reads the unit headers of a .debug_info section (debug/dwarf
// keeps them private, and its Reader reaches the next unit only by parsing
// every entry). Malformed input ends the list.
func Headers(info []byte, bo binary.ByteOrder) []Header {
	var out []Header
	for off := uint64(0); off+4 <= uint64(len(info)); {
		n, hdr, osz := uint64(bo.Uint32(info[off:])), uint64(4), uint64(4)
		switch {
		case n == 0xffffffff: // 64-bit DWARF
			if off+12 > uint64(len(info)) {
				return out
			}
			n, hdr, osz = bo.Uint64(info[off+4:]), 12, 8
		case n >= 0xfffffff0:
			return out
		}
		if n > uint64(len(info))-off-hdr || n < 2 {
			return out
		}
		end, p := off+hdr+n, off+hdr
		word := func(at uint64) uint64 {
			switch {
			case at+osz > end:
				return math.MaxUint64
			case osz == 8:
				return bo.Uint64(info[at:])
			}
			return uint64(bo.Uint32(info[at:]))
		}
		var abbrev uint64
		switch vers := bo.Uint16(info[p:]); {
		case vers >= 2 && vers <= 4: // version, abbrev offset, address size
			abbrev = word(p + 2)
			p += 2 + osz + 1
		case vers == 5 && p+3 <= end: // version, unit type, address size, abbrev offset
			abbrev = word(p + 4)
			switch info[p+2] {
			case 0x02, 0x06: // DW_UT_type, DW_UT_split_type: signature, type offset
				p += 4 + osz + 8 + osz
			case 0x04, 0x05: // DW_UT_skeleton, DW_UT_split_compile: dwo id
				p += 4 + osz + 8
			default:
				p += 4 + osz
			}
		default:
			p = end
		}
		if p < end {
			out = append(out, Header{dwarf.Offset(p), abbrev, off})
		}
		off = end
	}
	return out
}
