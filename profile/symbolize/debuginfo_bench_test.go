package symbolize

import (
	"path/filepath"
	"testing"
)

// BenchmarkSymbolizeDebugInfo is the cost of naming plantedHotLoop, with
// file and line where debug info has them, in each kind of binary:
//   - cold: a new Symbolizer and Process each time (maps read, binary
//     opened, symbols, debug file and DWARF read, one line table decoded);
//   - cached: a new Process of a Symbolizer that has the binary parsed
//     (another Process holds it), as the next capture of the same program;
//   - uncached: the same Process with its frame cache cleared (symbol and
//     line lookups in the parsed binary);
//   - warm: the same Process again (its frame cache).
func BenchmarkSymbolizeDebugInfo(b *testing.B) {
	dir := buildDebug(b)
	mini := buildMini(b)
	b.Setenv("DEBUGINFOD_URLS", "")
	for _, c := range []struct{ name, bin, debugDir, want string }{
		{"unstripped", filepath.Join(dir, "full"), "empty", "main.c"},
		{"build-id", filepath.Join(dir, "byid"), "root", "main.c"},
		{"debuglink", filepath.Join(dir, "link/prog"), "empty", "main.c"},
		{"minidebuginfo", mini, "empty", ""},
	} {
		withDebugDirs(b, filepath.Join(dir, c.debugDir))
		tg := start(b, c.bin)
		check := func(b *testing.B, f Frame) {
			if f.Function != "plantedHotLoop" || filepath.Base(f.File) != c.want && c.want != "" {
				b.Fatalf("%s: %+v", c.name, f)
			}
		}
		b.Run("cold/"+c.name, func(b *testing.B) {
			withDebugDirs(b, filepath.Join(dir, c.debugDir))
			for b.Loop() {
				p, err := New().Process(tg.pid())
				if err != nil {
					b.Fatal(err)
				}
				check(b, p.Symbolize(tg.addrs[0], false))
				p.Close()
			}
		})
		b.Run("cached/"+c.name, func(b *testing.B) {
			withDebugDirs(b, filepath.Join(dir, c.debugDir))
			s := New()
			holder, err := s.Process(tg.pid())
			if err != nil {
				b.Fatal(err)
			}
			defer holder.Close()
			check(b, holder.Symbolize(tg.addrs[0], false))
			for b.Loop() {
				p, err := s.Process(tg.pid())
				if err != nil {
					b.Fatal(err)
				}
				check(b, p.Symbolize(tg.addrs[0], false))
				p.Close()
			}
		})
		b.Run("uncached/"+c.name, func(b *testing.B) { // the frame cache cleared: symbol and line lookups
			withDebugDirs(b, filepath.Join(dir, c.debugDir))
			p, err := New().Process(tg.pid())
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			check(b, p.Symbolize(tg.addrs[0], false))
			for b.Loop() {
				p.mu.Lock()
				clear(p.cache)
				p.mu.Unlock()
				check(b, p.Symbolize(tg.addrs[0], false))
			}
		})
		b.Run("warm/"+c.name, func(b *testing.B) {
			withDebugDirs(b, filepath.Join(dir, c.debugDir))
			p, err := New().Process(tg.pid())
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			check(b, p.Symbolize(tg.addrs[0], false))
			for b.Loop() {
				p.Symbolize(tg.addrs[0], false)
			}
		})
	}
}

// BenchmarkDWARFLines is the cost of file and line lookups in the C
// library's debug file (libc6-dbg; DWARF 5, compressed): reading its
// DWARF (sections and the compile units' ranges), a lookup that decodes
// its unit's line table, and a lookup in decoded tables.
func BenchmarkDWARFLines(b *testing.B) {
	debug := libcDebugFile(b)
	addrs := libcAddrs(b, debug, 500)
	l, ef, f := openLines(b, debug)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if l, _ := newDWARFLines(ef, f, debug); l == nil {
				b.Fatal("no lines")
			}
		}
	})
	b.Run("lookup-decoding", func(b *testing.B) {
		i := 0
		for b.Loop() {
			l.mu.Lock()
			clear(l.tables)
			l.rows = 0
			l.mu.Unlock()
			l.lookup(addrs[i%len(addrs)])
			i++
		}
	})
	b.Run("lookup-decoded", func(b *testing.B) {
		for _, a := range addrs {
			l.lookup(a)
		}
		i := 0
		for b.Loop() {
			if _, _, ok := l.lookup(addrs[i%len(addrs)]); !ok {
				b.Fatalf("%#x: no line", addrs[i%len(addrs)])
			}
			i++
		}
	})
	b.Logf("%d compile units, %d ranges; %d rows decoded for %d addresses", len(l.cus), len(l.units), l.rows, len(addrs))
}
