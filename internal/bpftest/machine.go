package bpftest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/internal/tracefs"
)

// EmulatedEnv, set to 1, says the tests run on an emulated machine: the
// kernel matrix boots each kernel under QEMU's TCG, where time runs at an
// uneven fraction of real speed. Tests keep their functional checks there
// (counts, attribution, symbols, cleanup) and leave out timing assertions.
const EmulatedEnv = "PERFPROBE_FUNCTIONAL"

// Emulated reports whether EmulatedEnv is set.
func Emulated() bool { return os.Getenv(EmulatedEnv) == "1" }

// SkipIfEmulated skips a test whose point is a timing assertion.
func SkipIfEmulated(t testing.TB) {
	t.Helper()
	if Emulated() {
		t.Skipf("%s=1: timing means little under emulation; this test runs on the host kernel", EmulatedEnv)
	}
}

// BlockDir returns a directory on a block device (fsync on tmpfs returns
// at once and O_DIRECT fails there) and the major:minor of the disk its
// requests reach, as the block tracepoints report it: the whole disk of a
// partition, the one disk under a device-mapper or md device. It tries
// t.TempDir() ($TMPDIR), then /var/tmp, and skips when neither is on one.
func BlockDir(t testing.TB) (dir string, major, minor uint32) {
	t.Helper()
	var tried []string
	for _, d := range []string{t.TempDir(), "/var/tmp"} {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", d, err))
			continue
		}
		dev, err := diskOf(unix.Major(st.Dev), unix.Minor(st.Dev))
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", d, err))
			continue
		}
		ma, mi, _ := strings.Cut(dev, ":")
		a, err1 := strconv.Atoi(ma)
		i, err2 := strconv.Atoi(mi)
		if err1 != nil || err2 != nil {
			tried = append(tried, fmt.Sprintf("%s: bad dev %q", d, dev))
			continue
		}
		if d != "/var/tmp" {
			return d, uint32(a), uint32(i)
		}
		sub, err := os.MkdirTemp(d, "perfprobe-test-")
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", d, err))
			continue
		}
		t.Cleanup(func() { os.RemoveAll(sub) })
		return sub, uint32(a), uint32(i)
	}
	t.Skipf("no directory on a block device: %s", strings.Join(tried, "; "))
	return "", 0, 0
}

// diskOf returns "major:minor" of the disk that requests to block device
// major:minor reach.
func diskOf(major, minor uint32) (string, error) {
	path, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor))
	if err != nil {
		return "", fmt.Errorf("%d:%d is not a block device", major, minor)
	}
	for range 8 {
		if _, err := os.Stat(filepath.Join(path, "partition")); err == nil {
			path = filepath.Dir(path) // a partition: requests are reported for its disk
		}
		slaves, _ := os.ReadDir(filepath.Join(path, "slaves"))
		if len(slaves) == 0 {
			b, err := os.ReadFile(filepath.Join(path, "dev"))
			return strings.TrimSpace(string(b)), err
		}
		if len(slaves) > 1 {
			return "", fmt.Errorf("%s spans %d devices", path, len(slaves))
		}
		if path, err = filepath.EvalSymlinks(filepath.Join(path, "slaves", slaves[0].Name())); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("%d:%d: too many stacked devices", major, minor)
}

// BTFWithout writes the running kernel's BTF without the named types to a
// file and returns its path: pointed at by PERFPROBE_BTF_PATH, it makes
// perfprobe see a kernel that lacks them (e.g. "btf_trace_block_io_start"
// for one without that tracepoint). Types are written in their original
// order, so every type keeps its ID; the named ones are renamed.
func BTFWithout(t testing.TB, names ...string) string {
	t.Helper()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("loading kernel BTF: %v", err)
	}
	spec = spec.Copy()
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	b, err := btf.NewBuilder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for typ, err := range spec.All() {
		if err != nil {
			t.Fatalf("reading kernel BTF: %v", err)
		}
		if _, void := typ.(*btf.Void); void {
			continue
		}
		if drop[typ.TypeName()] {
			found++
			// Renamed in place (the spec is a copy): whatever refers to it
			// keeps a valid type, and the name is gone.
			switch named := typ.(type) {
			case *btf.Typedef:
				named.Name = "perfprobe_without_" + named.Name
			case *btf.Struct:
				named.Name = "perfprobe_without_" + named.Name
			default:
				t.Fatalf("BTFWithout: cannot remove %T %s", typ, typ.TypeName())
			}
		}
		if _, err := b.Add(typ); err != nil {
			t.Fatalf("adding %v: %v", typ, err)
		}
	}
	if found < len(names) {
		t.Fatalf("the kernel's BTF has only %d of %v", found, names)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatalf("writing BTF: %v", err)
	}
	path := filepath.Join(t.TempDir(), "vmlinux-without")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// RequireTracefs is Require for the tests of per-syscall tracepoints,
// which need tracefs for their ids: it also skips (fails, with
// PERFPROBE_REQUIRE_BPF=1) unless tracefs can be had here, the host's or
// one mounted privately (internal/tracefs).
func RequireTracefs(t testing.TB) {
	t.Helper()
	Require(t)
	fs, err := tracefs.Open()
	if err == nil {
		fs.Close()
		return
	}
	if os.Getenv("PERFPROBE_REQUIRE_BPF") == "1" {
		t.Fatalf("PERFPROBE_REQUIRE_BPF=1 but the per-syscall tracepoints cannot be attached: %v", err)
	}
	t.Skipf("the per-syscall tracepoints cannot be attached: %v", err)
}

// FakeBTF writes a BTF file that declares only the given tracepoints (name
// → number of arguments, as the kernel's btf_trace_<name> typedefs) and
// structs (name → member names, each an int), and returns its path.
// Pointed at by PERFPROBE_BTF_PATH it makes perfprobe's feature checks see
// a kernel with exactly those, without root or the running kernel's BTF.
func FakeBTF(t testing.TB, tracepoints map[string]int, structs map[string][]string) string {
	t.Helper()
	b, err := btf.NewBuilder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	integer := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	for name, args := range tracepoints {
		params := []btf.FuncParam{{Name: "__data", Type: &btf.Pointer{Target: &btf.Void{}}}}
		for i := range args {
			params = append(params, btf.FuncParam{Name: fmt.Sprintf("arg%d", i), Type: integer})
		}
		proto := &btf.FuncProto{Return: &btf.Void{}, Params: params}
		if _, err := b.Add(&btf.Typedef{Name: "btf_trace_" + name, Type: &btf.Pointer{Target: proto}}); err != nil {
			t.Fatalf("adding tracepoint %s: %v", name, err)
		}
	}
	for name, fields := range structs {
		st := &btf.Struct{Name: name, Size: uint32(4 * len(fields))}
		for i, f := range fields {
			st.Members = append(st.Members, btf.Member{Name: f, Type: integer, Offset: btf.Bits(32 * i)})
		}
		if _, err := b.Add(st); err != nil {
			t.Fatalf("adding struct %s: %v", name, err)
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatalf("writing BTF: %v", err)
	}
	path := filepath.Join(t.TempDir(), "vmlinux-fake")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
