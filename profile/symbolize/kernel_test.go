package symbolize

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestKernelLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: /proc/kallsyms addresses may be hidden")
	}
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Skipf("no /proc/kallsyms: %v", err)
	}
	defer f.Close()
	var sched uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 3 && fs[2] == "schedule" && (fs[1] == "T" || fs[1] == "t") {
			sched, _ = strconv.ParseUint(fs[0], 16, 64)
			break
		}
	}
	if sched == 0 {
		t.Skip("schedule not in /proc/kallsyms or its address is hidden (kernel.kptr_restrict)")
	}

	s := New()
	k, err := s.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := s.Kernel(); k2 != k {
		t.Error("Kernel() parsed kallsyms twice")
	}
	for _, addr := range []uint64{sched, sched + 1} {
		fr := k.Symbolize(addr)
		if fr.Function != "schedule" || !fr.Known || fr.Addr != addr {
			t.Errorf("Symbolize(%#x) = %+v, want schedule", addr, fr)
		}
		if fr.Mapping != k.Mapping() || !fr.Mapping.Kernel || fr.Mapping.Path != "[kernel.kallsyms]" {
			t.Errorf("Symbolize(%#x).Mapping = %+v, want the kernel mapping", addr, fr.Mapping)
		}
	}
	if m := k.Mapping(); m.Start > sched || m.Limit <= sched {
		t.Errorf("kernel mapping [%#x, %#x) does not cover schedule at %#x", m.Start, m.Limit, sched)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kallsyms")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKernelFrom(t *testing.T) {
	k, err := KernelFrom(writeFile(t, `0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff81000000 T srso_alias_untrain_ret
ffffffff81000000 t _text
ffffffff81001000 t local_fn
ffffffff81001000 T global_fn
ffffffff81002000 A abs_in_text
ffffffff81003000 T next_fn
ffffffffc0201000 t mod_fn	[nf_tables]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff81000000, "srso_alias_untrain_ret"}, // fewer underscores
		{0xffffffff81000fff, "srso_alias_untrain_ret"},
		{0xffffffff81001000, "global_fn"}, // global over local
		{0xffffffff81002010, "global_fn"}, // absolute symbols ignored
		{0xffffffff81003000, "next_fn"},
		{0xffffffffc0201010, "mod_fn"},                              // module name dropped
		{0xffffffffc0201000 + 5000, "[unknown]+0xffffffffc0202388"}, // past the last symbol
		{0xffffffff80000000, "[unknown]+0xffffffff80000000"},
	} {
		f := k.Symbolize(c.addr)
		if f.Function != c.want {
			t.Errorf("Symbolize(%#x) = %q, want %q", c.addr, f.Function, c.want)
		}
		if known := !strings.HasPrefix(c.want, "["); f.Known != known || (f.Mapping != nil) != known {
			t.Errorf("Symbolize(%#x): Known %v, Mapping %v", c.addr, f.Known, f.Mapping)
		}
	}
	if m := k.Mapping(); m.Start != 0xffffffff81000000 || m.Limit != 0xffffffffc0201000+kernelSlack {
		t.Errorf("mapping [%#x, %#x)", m.Start, m.Limit)
	}
}

func TestKernelFromRestricted(t *testing.T) {
	_, err := KernelFrom(writeFile(t, "0000000000000000 T _stext\n0000000000000000 T schedule\n"))
	if err == nil || !strings.Contains(err.Error(), "kptr_restrict") {
		t.Fatalf("error = %v, want one naming kptr_restrict", err)
	}
}
