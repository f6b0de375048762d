package capture

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContainerName(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for cg, want := range map[string]string{
		"/system.slice/docker-" + id + ".scope": "docker:0123456789ab",
		"/docker/" + id:                         "docker:0123456789ab",
		"/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope": "containerd:0123456789ab",
		"/kubepods.slice/kubepods-burstable.slice/crio-" + id + ".scope":      "crio:0123456789ab",
		"/machine.slice/libpod-" + id + ".scope/container":                    "podman:0123456789ab",
		"/kubepods/burstable/pod7d3c/" + id:                                   "container:0123456789ab",
		"/system.slice/nginx.service":                                         "nginx.service",
		"/user.slice/user-0.slice/session-3.scope":                            "session-3.scope",
		"/batch/jobs/42": "/batch/jobs/42",
		"/":              "",
		"":               "",
	} {
		if got := containerName(cg); got != want {
			t.Errorf("containerName(%q) = %q, want %q", cg, got, want)
		}
	}
}

func TestNSPIDAndCgroupPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := nsPID(write("status", "Name:\tx\nNSpid:\t4242\t17\t1\nNStgid:\t4242\n")); got != 1 {
		t.Errorf("nsPID = %d, want the innermost, 1", got)
	}
	if got := nsPID(write("old", "Name:\tx\n")); got != 0 {
		t.Errorf("nsPID without NSpid = %d, want 0", got)
	}
	if got := cgroupPath(write("v2", "0::/system.slice/a.service\n")); got != "/system.slice/a.service" {
		t.Errorf("v2: %q", got)
	}
	if got := cgroupPath(write("v1", "12:cpu,cpuacct:/\n11:memory:/docker/abc\n1:name=systemd:/docker/abc\n")); got != "/docker/abc" {
		t.Errorf("v1: %q", got)
	}
	if got := cgroupPath(write("hybrid", "1:name=systemd:/user.slice\n0::/user.slice/x.scope\n")); got != "/user.slice/x.scope" {
		t.Errorf("hybrid: %q", got)
	}
	if got := cgroupPath(write("hybrid-root", "4:memory:/process_api/e7f8\n1:cpu:/\n0::/\n")); got != "/process_api/e7f8" {
		t.Errorf("hybrid with the v2 root: %q", got)
	}
	if got := cgroupPath(write("root", "0::/\n")); got != "/" {
		t.Errorf("root: %q", got)
	}
}
