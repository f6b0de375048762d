package symbolize

import (
	"debug/elf"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
)

// DebugDirs are the global debug directories searched for the separate debug
// file of a stripped binary, by build id (DIR/.build-id/xx/yyyy.debug) and by
// .gnu_debuglink (DIR/<directory of the binary>/NAME), as gdb does. Each is
// tried inside the target's root (/proc/PID/root) first, then on the host.
// Set it before creating a Symbolizer; it is read when binaries are loaded.
var DebugDirs = []string{"/usr/lib/debug"}

// debugLoc is where a binary was found, to look for its debug file.
type debugLoc struct {
	root string // "/proc/PID/root", or "" when the file is not in a process's file system
	path string // the binary's path inside root
}

// debugSymbols returns the code symbols of the separate debug file of o, or
// nil when none is found: local files first, then debuginfod. It is called
// from load for a binary without .symtab.
func (o *objFile) debugSymbols() []symbol {
	for _, p := range o.debugCandidates() {
		if syms := debugFileSymbols(p.path, o.buildID, p.crc, p.checkCRC); len(syms) > 0 {
			return syms
		}
	}
	if p := debuginfodFile(o.buildID); p != "" {
		return debugFileSymbols(p, o.buildID, 0, false)
	}
	return nil
}

type debugCandidate struct {
	path     string
	crc      uint32
	checkCRC bool
}

// debugCandidates lists the files that may hold o's debug info, most
// specific first: by build id, then by .gnu_debuglink.
func (o *objFile) debugCandidates() []debugCandidate {
	roots := []string{"/"}
	if o.loc.root != "" {
		roots = []string{o.loc.root, "/"}
	}
	var out []debugCandidate
	if id := o.buildID; len(id) > 2 && isHex(id) {
		for _, d := range DebugDirs {
			for _, r := range roots {
				out = append(out, debugCandidate{path: filepath.Join(r, d, ".build-id", id[:2], id[2:]+".debug")})
			}
		}
	}
	name, crc, ok := debugLink(o.ef)
	if !ok || o.loc.path == "" {
		return out
	}
	dir := path.Dir(o.loc.path)
	dirs := []string{dir, path.Join(dir, ".debug")}
	for _, d := range DebugDirs {
		dirs = append(dirs, path.Join(d, dir))
	}
	for _, d := range dirs {
		for _, r := range roots {
			out = append(out, debugCandidate{path: filepath.Join(r, d, name), crc: crc, checkCRC: true})
		}
	}
	return out
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// debugLink reads the .gnu_debuglink section: a NUL-terminated file name,
// padding to 4 bytes, and the CRC32 of the debug file.
func debugLink(ef *elf.File) (name string, crc uint32, ok bool) {
	s := ef.Section(".gnu_debuglink")
	if s == nil {
		return "", 0, false
	}
	b, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	off := (n + 4) &^ 3
	if n == 0 || off+4 > len(b) {
		return "", 0, false
	}
	name = string(b[:n])
	if name != filepath.Base(name) {
		return "", 0, false // a link names a file, not a path
	}
	return name, ef.ByteOrder.Uint32(b[off:]), true
}

// debugFileSymbols reads the .symtab of the debug file at p. The file must
// carry the same build id as the binary (when the binary has one) and, for
// a debuglink, the CRC32 the link names.
func debugFileSymbols(p, buildIDWant string, crc uint32, checkCRC bool) []symbol {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	if checkCRC {
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, f); err != nil || h.Sum32() != crc {
			return nil
		}
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil
	}
	if buildIDWant != "" && buildID(ef) != buildIDWant {
		return nil
	}
	symtab, err := ef.Symbols()
	if err != nil {
		return nil
	}
	return elfSymbols(ef, symtab)
}
