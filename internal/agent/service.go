package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ServiceName is a process's service_name when none is configured: its
// executable's name, else its systemd unit or container from its cgroup,
// else its comm.
func ServiceName(pid int, exe, comm string) string {
	if exe != "" {
		return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
	}
	if s := serviceFromCgroup(pid); s != "" {
		return s
	}
	if comm != "" {
		return comm
	}
	return fmt.Sprintf("pid-%d", pid)
}

var containerID = regexp.MustCompile(`(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{12})[0-9a-f]*\.scope$|^([0-9a-f]{64})$`)

// serviceFromCgroup names pid's cgroup: "nginx" for
// .../system.slice/nginx.service, "container-0123456789ab" for a
// container's scope ("" when unknown).
func serviceFromCgroup(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	return cgroupService(string(b))
}

// cgroupService names the service of a /proc/PID/cgroup text: the v2 line
// (0::/path), else the first v1 line with a path.
func cgroupService(text string) string {
	var path string
	for line := range strings.Lines(text) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			path = parts[2]
			break
		}
		if path == "" || path == "/" {
			path = parts[2]
		}
	}
	for _, el := range pathElems(path) {
		if m := containerID.FindStringSubmatch(el); m != nil {
			id := m[1]
			if id == "" {
				id = m[2][:12]
			}
			return "container-" + id
		}
		if name, ok := strings.CutSuffix(el, ".service"); ok && name != "" {
			return strings.TrimSuffix(name, "@")
		}
	}
	return ""
}

// pathElems are a cgroup path's elements, last first.
func pathElems(path string) []string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	out := make([]string, 0, len(parts))
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] != "" {
			out = append(out, parts[i])
		}
	}
	return out
}
