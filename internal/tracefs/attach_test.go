package tracefs_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/tracefs"
)

// Open finds tracefs or mounts it privately, without a trace in any mount
// table; a program attached through it counts exactly this process's
// getppid calls, by BPF link and by ioctl, and nothing once detached.
func TestOpenAttach(t *testing.T) {
	bpftest.Require(t)
	before := mounts(t)
	hostHas := strings.Contains(before, " - tracefs ")
	f, err := tracefs.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", f)
	if f.Private() == hostHas {
		t.Errorf("Private() = %v with a tracefs in the mount table: %v", f.Private(), hostHas)
	}
	if f.Private() && !strings.Contains(f.String(), "privately") {
		t.Errorf("String() = %q, want it to say privately", f)
	}
	if !f.Has("syscalls", "sys_enter_getppid") || f.Has("syscalls", "sys_enter_no_such_syscall") {
		t.Errorf("Has: sys_enter_getppid %v (want true), sys_enter_no_such_syscall %v (want false)",
			f.Has("syscalls", "sys_enter_getppid"), f.Has("syscalls", "sys_enter_no_such_syscall"))
	}
	if _, err := f.EventID("syscalls", "sys_enter_no_such_syscall"); err == nil {
		t.Error("EventID of a missing event: no error")
	}
	if now := mounts(t); now != before {
		t.Errorf("the mount table changed while tracefs was open:\nbefore:\n%s\nafter:\n%s", before, now)
	}

	counter, prog := countGetppid(t)
	for _, ioctl := range []bool{false, true} {
		tracefs.AttachByIoctl = ioctl
		l, err := f.Attach("syscalls", "sys_enter_getppid", prog)
		tracefs.AttachByIoctl = false
		if err != nil {
			t.Fatalf("attaching (ioctl %v): %v", ioctl, err)
		}
		if err := counter.Put(uint32(0), uint64(0)); err != nil {
			t.Fatal(err)
		}
		const n = 25
		for range n {
			syscall.Getppid()
		}
		var got uint64
		if err := counter.Lookup(uint32(0), &got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("ioctl %v: counted %d getppid calls, made %d", ioctl, got, n)
		}
		if err := l.Close(); err != nil {
			t.Errorf("detaching: %v", err)
		}
		syscall.Getppid()
		if err := counter.Lookup(uint32(0), &got); err != nil || got != n {
			t.Errorf("ioctl %v: %d calls counted after detaching (%v), want still %d", ioctl, got, err, n)
		}
	}
	if err := f.Close(); err != nil {
		t.Errorf("closing: %v", err)
	}
	if now := mounts(t); now != before {
		t.Errorf("the mount table changed:\nbefore:\n%s\nafter:\n%s", before, now)
	}
}

// mounts is this process's mount table (the host's: tests run there).
func mounts(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// countGetppid returns a one-slot array and a tracepoint program that
// counts in it the calls of this process.
func countGetppid(t *testing.T) (*ebpf.Map, *ebpf.Program) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.TracePoint,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.JNE.Imm(asm.R0, int32(os.Getpid()), "out"),
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return m, prog
}
