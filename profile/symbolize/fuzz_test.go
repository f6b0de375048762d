package symbolize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// /proc/PID/maps is outside input: any text must parse or fail cleanly,
// and every entry parsed must be a sane range.
func FuzzParseMaps(f *testing.F) {
	f.Add("55d0c0a00000-55d0c0a21000 r-xp 00001000 fd:01 1234 /usr/bin/app\n")
	f.Add("7f00-7f10 r-xp 00000000 00:00 0 [vdso]\n7f20-7f30 rw-p 0 0:0 0\n")
	f.Add("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n")
	f.Add("1000-2000 r-xp 0 08:01 99 /path with spaces/lib.so (deleted)\n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := parseMaps(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.executable() && e.start > e.limit {
				t.Fatalf("entry %+v: start after end", e)
			}
		}
	})
}

// /proc/kallsyms is outside input too (and a test override path).
func FuzzKernelFrom(f *testing.F) {
	f.Add("ffffffff81000000 T _stext\nffffffff81000100 T schedule\nffffffffc0000000 t mod_fn\t[mod]\n")
	f.Add("0000000000000000 T schedule\n")
	f.Add("zz T x\n\n1 A abs\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "kallsyms")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := KernelFrom(path)
		if err != nil {
			return
		}
		for _, a := range []uint64{0, 1, 0xffffffff81000100, ^uint64(0)} {
			if fr := k.Symbolize(a); fr.Function == "" {
				t.Fatalf("Symbolize(%#x) gave an empty name", a)
			}
		}
	})
}
