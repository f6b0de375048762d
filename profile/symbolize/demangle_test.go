package symbolize

import "testing"

func TestDemangled(t *testing.T) {
	for _, c := range []struct{ mangled, want, simple string }{
		{"_ZN2v84base7ieee7543sinEd", "v8::base::ieee754::sin(double)", "v8::base::ieee754::sin"},
		{"_ZNSt5mutex4lockEv", "std::mutex::lock()", "std::mutex::lock"},
		{"_Znwm", "operator new(unsigned long)", "operator new"},
		{"_ZdlPvm", "operator delete(void*, unsigned long)", "operator delete"},
		{"_ZNKSt4hashIiEclEi", "std::hash<int>::operator()(int) const", "std::hash::operator()"},
		{"_ZN3foo3barIiEEvT_", "void foo::bar<int>(int)", "foo::bar"},
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write", "core::fmt::write"},
		{"_RNvCs1234_7mycrate3foo", "mycrate::foo", "mycrate::foo"},
		{"_ZN12_GLOBAL__N_13fooEi", "(anonymous namespace)::foo(int)", "(anonymous namespace)::foo"},
		{"_ZlsRSoRK3Foo", "operator<<(std::ostream&, Foo const&)", "operator<<"},
	} {
		got, ok := demangled(c.mangled)
		if !ok || got != c.want {
			t.Errorf("demangled(%q) = %q, %v; want %q", c.mangled, got, ok, c.want)
		}
		if s := SimpleName(got); s != c.simple {
			t.Errorf("SimpleName(%q) = %q, want %q", got, s, c.simple)
		}
	}
	for _, name := range []string{"main", "_rt0_amd64_linux", "crypto/tls.(*Conn).Handshake", "main.Map[...]", "type:.eq.struct { a int }", "printf", "_Zbogus"} {
		if got, ok := demangled(name); ok || got != name {
			t.Errorf("demangled(%q) = %q, %v; want it unchanged", name, got, ok)
		}
		if s := SimpleName(name); s != name {
			t.Errorf("SimpleName(%q) = %q, want it unchanged", name, s)
		}
	}
}

const cppProgram = `#include <cstdio>

namespace perfprobe {
__attribute__((noinline)) double plantedSpin(double x) {
	volatile double s = x;
	for (int i = 0; i < 10; i++)
		s = s * 1.5;
	return s;
}
}

int main() {
	perfprobe::plantedSpin(1);
	std::printf("%p\n", (void *)&perfprobe::plantedSpin);
	std::fflush(stdout);
	std::getchar();
	return 0;
}
`

func TestCPlusPlusDemangled(t *testing.T) {
	gxx := lookTool(t, "g++")
	bin := build(t, "cpp", "cppprog", map[string]string{"main.cc": cppProgram}, nil, gxx, "-O1", "-o", "OUT", "main.cc")
	tg := start(t, bin)
	p, err := New().Process(tg.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := p.Symbolize(tg.addrs[0]+4, false)
	if f.Function != "perfprobe::plantedSpin(double)" || f.SystemName != "_ZN9perfprobe11plantedSpinEd" || !f.Known {
		t.Errorf("Function %q, SystemName %q (known %v); want perfprobe::plantedSpin(double) from _ZN9perfprobe11plantedSpinEd", f.Function, f.SystemName, f.Known)
	}
}
