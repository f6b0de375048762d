package tracefs

import (
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"none", "22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", ""},
		{"canonical", "22 27 0:21 / /proc rw - proc proc rw\n40 23 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:17 - tracefs tracefs rw\n", "/sys/kernel/tracing"},
		{"optional fields", "40 23 0:12 / /mnt/t rw master:3 shared:17 - tracefs nodev rw\n", "/mnt/t"},
		{"escaped space", `41 23 0:12 / /mnt/my\040trace rw - tracefs nodev rw` + "\n", "/mnt/my trace"},
		{"bind of a subdirectory is not the root", "42 23 0:12 /events /mnt/ev rw - tracefs nodev rw\n43 23 0:12 / /t rw - tracefs nodev rw\n", "/t"},
		{"debugfs alone", "44 23 0:7 / /sys/kernel/debug rw - debugfs debugfs rw\n", ""},
		{"truncated lines", "1 2\n45 23 0:12 / /x rw -\n46 23 0:12 / /y rw - tracefs\n", "/y"},
	} {
		got, err := parseMountinfo(strings.NewReader(c.in))
		if err != nil || got != c.want {
			t.Errorf("%s: parseMountinfo = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:    "/a b",
		`/tab\011x`:  "/tab\tx",
		`/back\134s`: `/back\s`,
		`/short\04`:  `/short\04`,
		`/not\9999`:  `/not\9999`,
		`/plain`:     "/plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventPathRefusesEscapes(t *testing.T) {
	for _, c := range [][2]string{{"syscalls", "../../x"}, {"..", "id"}, {"", "sys_enter_read"}, {"syscalls", ""}, {"a/b", "c"}} {
		if p, err := eventPath(c[0], c[1]); err == nil {
			t.Errorf("eventPath(%q, %q) = %q, want an error", c[0], c[1], p)
		}
	}
	if p, err := eventPath("syscalls", "sys_enter_fsync"); err != nil || p != "events/syscalls/sys_enter_fsync" {
		t.Errorf("eventPath = %q, %v", p, err)
	}
}
