package profile

import "testing"

func TestGoRuntimeIdle(t *testing.T) {
	cases := []struct {
		frames []string
		idle   bool
	}{
		{[]string{"futex_[k]", "runtime.futex", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule"}, true},
		{[]string{"runtime.usleep", "runtime.sysmon", "runtime.mstart1"}, true},
		{[]string{"syscall.Syscall", "syscall.Read", "os.(*File).Read", "main.readConfig"}, false},
		{[]string{"runtime.futex", "runtime.lock2", "main.work"}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := GoRuntimeIdle(c.frames); got != c.idle {
			t.Errorf("GoRuntimeIdle(%v) = %v, want %v", c.frames, got, c.idle)
		}
	}
}
