package symbolize

import (
	"debug/elf"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
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

// debugFile is an opened separate debug file.
type debugFile struct {
	ef   *elf.File
	f    *os.File
	path string
}

func (d *debugFile) close() { d.f.Close() }

// findDebugFile opens the separate debug file of o, or returns nil: local
// files first, then, when network is set, the DEBUGINFOD_URLS servers. It
// is called from load; what went wrong with a server is added to o's
// warnings.
func (o *objFile) findDebugFile(network bool) *debugFile {
	for _, p := range o.debugCandidates() {
		if d := openDebugFile(p.path, o.buildID, p.crc, p.checkCRC); d != nil {
			return d
		}
	}
	if !network {
		return nil
	}
	p, warns := debuginfodFile(o.buildID)
	o.warnings = append(o.warnings, warns...)
	if p == "" {
		return nil
	}
	return openDebugFile(p, o.buildID, 0, false)
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

// openDebugFile opens the debug file at p. The file must carry the same
// build id as the binary (when the binary has one) and, for a debuglink,
// the CRC32 the link names.
func openDebugFile(p, buildIDWant string, crc uint32, checkCRC bool) *debugFile {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	if checkCRC {
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, f); err != nil || h.Sum32() != crc {
			f.Close()
			return nil
		}
	}
	ef, err := elf.NewFile(f)
	if err != nil || buildIDWant != "" && buildID(ef) != buildIDWant {
		f.Close()
		return nil
	}
	return &debugFile{ef: ef, f: f, path: p}
}

// Warnings says what went wrong while reading the symbols of the binaries
// this process maps that were looked up so far, each once: a debuginfod
// server that failed, debug info too large or malformed. Binaries nobody
// looked up say nothing.
func (p *Process) Warnings() []string {
	p.mu.RLock()
	objs := make([]*objFile, 0, len(p.held))
	for o := range p.held {
		objs = append(objs, o)
	}
	p.mu.RUnlock()
	var out []string
	for _, o := range objs {
		if !o.loaded.Load() {
			continue
		}
		for _, w := range o.warnings {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	sort.Strings(out)
	return out
}
