package fetch

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseNetTCPLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		want  string
		state uint8
		inode uint64
	}{
		{"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0",
			"127.0.0.1:8080", 0x0A, 12345},
		{"   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1599 1 00000000d8aac6c6 100 0 0 10 0",
			"0.0.0.0:2024", 0x0A, 1599},
		{"  2: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 777 1",
			"127.0.0.1:41394", 0x01, 777},
		// tcp6: ::1, ::, ::ffff:127.0.0.1, fd00::2
		{"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 42 1 0000000000000000 100 0 0 10 0",
			"[::1]:8080", 0x0A, 42},
		{"   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 43 1",
			"[::]:80", 0x0A, 43},
		{"   0: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 44 1",
			"[::ffff:127.0.0.1]:80", 0x0A, 44},
		{"   0: 000000FD000000000000000002000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 45 1",
			"[fd00::2]:8080", 0x0A, 45},
	} {
		s, err := parseNetTCPLine(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if s.local.String() != tc.want || s.state != tc.state || s.inode != tc.inode {
			t.Errorf("%q = %v state %X inode %d, want %s %X %d", tc.line, s.local, s.state, s.inode, tc.want, tc.state, tc.inode)
		}
	}
	for _, bad := range []string{
		"", "garbage", "0: 0100007F:1F90",
		"   0: 0100007:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
		"   0: 0100007F:1F9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
		"   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
		"   0: 0100007F:1F90 00000000:0000 A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 -1 1",
	} {
		if s, err := parseNetTCPLine(bad); err == nil {
			t.Errorf("%q parsed as %+v", bad, s)
		}
	}
	if _, err := parseNetTCPLine("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"); err != errTCPHeader {
		t.Errorf("header: %v", err)
	}
}

func TestDialAddrs(t *testing.T) {
	for in, want := range map[string][]string{
		"0.0.0.0:80":            {"127.0.0.1:80"},
		"[::]:80":               {"[::1]:80", "127.0.0.1:80"},
		"[::ffff:0.0.0.0]:80":   {"127.0.0.1:80"},
		"[::ffff:127.0.0.1]:80": {"127.0.0.1:80"},
		"[::ffff:10.1.2.3]:80":  {"10.1.2.3:80"},
		"10.1.2.3:80":           {"10.1.2.3:80"},
		"[fd00::2]:8080":        {"[fd00::2]:8080"},
		"[::1]:8080":            {"[::1]:8080"},
		"127.0.0.53:53":         {"127.0.0.53:53"},
	} {
		var got []string
		for _, a := range dialAddrs(netip.MustParseAddrPort(in)) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("dialAddrs(%s) = %v, want %v", in, got, want)
		}
	}
}

// TestListeningSocketsFakeProc reads a made-up /proc: only listening
// sockets whose inode is among the process's fds count, from tcp and tcp6,
// once each, sorted by port.
func TestListeningSocketsFakeProc(t *testing.T) {
	root := t.TempDir()
	old := procDir
	procDir = root
	t.Cleanup(func() { procDir = old })
	pid := 4242
	fd := filepath.Join(root, fmt.Sprint(pid), "fd")
	netDir := filepath.Join(root, fmt.Sprint(pid), "net")
	for _, d := range []string{fd, netDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, target := range []string{"socket:[100]", "socket:[101]", "socket:[102]", "pipe:[103]", "/dev/null", "socket:[105]"} {
		if err := os.Symlink(target, filepath.Join(fd, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	const head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tcp := head +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 100 1 0 100 0 0 10 0\n" + // ours, listening
		"   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 999 1 0 100 0 0 10 0\n" + // someone else's
		"   2: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 101 1 0 100 0 0 10 0\n" + // ours, established
		"   3: this line is broken\n"
	tcp6 := head +
		"   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 102 1 0 100 0 0 10 0\n" +
		"   1: 0000000000000000FFFF00000100007F:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 105 1 0 100 0 0 10 0\n"
	os.WriteFile(filepath.Join(netDir, "tcp"), []byte(tcp), 0o644)
	os.WriteFile(filepath.Join(netDir, "tcp6"), []byte(tcp6), 0o644)
	got, err := listeningSockets(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"[::ffff:127.0.0.1]:22", "127.0.0.1:8080", "[::]:9090"}
	var gs []string
	for _, a := range got {
		gs = append(gs, a.String())
	}
	if !slices.Equal(gs, want) {
		t.Errorf("listeningSockets = %v, want %v", gs, want)
	}
	// Without tcp6 (IPv6 off) the IPv4 sockets remain.
	os.Remove(filepath.Join(netDir, "tcp6"))
	if got, err := listeningSockets(pid); err != nil || len(got) != 1 {
		t.Errorf("without tcp6: %v, %v", got, err)
	}
}

func TestExited(t *testing.T) {
	if exited(os.Getpid()) {
		t.Error("this process counts as exited")
	}
	if !exited(1 << 30) {
		t.Error("a PID that does not exist counts as running")
	}
}
