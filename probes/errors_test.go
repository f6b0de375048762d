package probes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/profile"
)

func TestMissingAndSkipped(t *testing.T) {
	m := &Missing{What: "task local storage maps", Since: "5.11"}
	if got, want := m.Error(), "this kernel lacks task local storage maps (Linux 5.11+)"; got != want {
		t.Errorf("Missing.Error() = %q, want %q", got, want)
	}
	var back *Missing
	if wrapped := fmt.Errorf("attaching iostall: %w", m); !errors.As(wrapped, &back) || back != m {
		t.Errorf("errors.As does not find the Missing in a wrapped error")
	}
	if got := (&Skipped{Reason: "no TLS code in the target"}).Error(); got != "no TLS code in the target" {
		t.Errorf("Skipped.Error() = %q", got)
	}
}

// kernelRefusal is the one line a default capture prints for a probe this
// kernel cannot load.
func TestKernelRefusal(t *testing.T) {
	long := strings.Repeat("x", 400)
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"missing", &Missing{What: "the sched_switch tracepoint", Since: "5.5"}, "this kernel lacks the sched_switch tracepoint (Linux 5.5+)"},
		{"wrapped missing", fmt.Errorf("attaching: %w", &Missing{What: "X", Since: "6.6"}), "this kernel lacks X (Linux 6.6+)"},
		{"verifier log: first line only", errors.New("load program: invalid argument\n0: (b7) r0 = 0\n1: (95) exit"), "this kernel refused it: load program: invalid argument"},
		{"long line cut at 300", errors.New(long), "this kernel refused it: " + long[:300] + "..."},
		{"exactly 300 kept", errors.New(long[:300]), "this kernel refused it: " + long[:300]},
	} {
		if got := kernelRefusal(c.err); got != c.want {
			t.Errorf("%s: kernelRefusal = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDescribeLoadError(t *testing.T) {
	for _, errno := range []error{unix.EPERM, unix.EACCES} {
		err := describeLoadError(fmt.Errorf("loading program: %w", errno))
		if !errors.Is(err, ErrNotPermitted) || !errors.Is(err, errno) || !strings.Contains(err.Error(), "perfprobe doctor") {
			t.Errorf("%v: %v: want it to wrap ErrNotPermitted and %v and point at doctor", errno, err, errno)
		}
	}
	err := describeLoadError(fmt.Errorf("creating map: %w", ebpf.ErrNotSupported))
	if !errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, ErrNotPermitted) || !strings.Contains(err.Error(), "lacks a feature") {
		t.Errorf("ErrNotSupported: %v: want it kept and explained as a missing feature", err)
	}
	other := errors.New("something else")
	if got := describeLoadError(other); got != other {
		t.Errorf("other error: got %v, want it unchanged", got)
	}
}

// fakeProbe is a Probe that is never loaded.
type fakeProbe struct{ name string }

func (f fakeProbe) Name() string                         { return f.name }
func (fakeProbe) Attach(*Target, Options) error          { return nil }
func (fakeProbe) Begin(uint64) error                     { return nil }
func (fakeProbe) Progress() Progress                     { return Progress{} }
func (fakeProbe) Detach()                                {}
func (fakeProbe) Collect(*profile.Capture, uint64) error { return nil }
func (fakeProbe) Programs() map[string]*ebpf.Program     { return nil }
func (fakeProbe) Close() error                           { return nil }

// A probe skipped for the target says why; one skipped because of the
// kernel also says what the capture goes on with.
func TestSkippedLines(t *testing.T) {
	s := &Session{
		probes: []Probe{fakeProbe{"cpu"}, fakeProbe{"iostall"}},
		skipped: []skipped{
			{name: "tls", reason: "no TLS code in the target"},
			{name: "sched", reason: kernelRefusal(&Missing{What: "the sched_switch tracepoint", Since: "5.5"}), kernel: true},
		},
	}
	want := []string{
		"probe tls skipped: no TLS code in the target",
		"probe sched skipped: this kernel lacks the sched_switch tracepoint (Linux 5.5+); capturing with cpu, iostall",
	}
	got := s.Skipped()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Skipped() =\n%q\nwant\n%q", got, want)
	}
	if !s.WasSkipped("tls") || !s.WasSkipped("sched") || s.WasSkipped("cpu") {
		t.Errorf("WasSkipped: tls %v, sched %v (want true), cpu %v (want false)", s.WasSkipped("tls"), s.WasSkipped("sched"), s.WasSkipped("cpu"))
	}
}

func TestBTFPath(t *testing.T) {
	t.Setenv("PERFPROBE_BTF_PATH", "")
	if got := BTFPath(); got != "/sys/kernel/btf/vmlinux" {
		t.Errorf("BTFPath() = %q, want the kernel's", got)
	}
	t.Setenv("PERFPROBE_BTF_PATH", "/tmp/some.btf")
	if got := BTFPath(); got != "/tmp/some.btf" {
		t.Errorf("BTFPath() = %q, want the override", got)
	}
}

func TestCommString(t *testing.T) {
	var c [16]int8
	for i, b := range []byte("fsyncer") {
		c[i] = int8(b)
	}
	if got := CommString(c); got != "fsyncer" {
		t.Errorf("CommString = %q", got)
	}
	for i := range c {
		c[i] = 'a'
	}
	if got := CommString(c); got != strings.Repeat("a", 16) {
		t.Errorf("CommString of a full buffer = %q", got)
	}
}
