package capture

import (
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// nsPID returns the process's pid in its innermost pid namespace, from
// the NSpid line of a /proc status file (Linux 4.1+); 0 when unknown.
func nsPID(status string) int {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}

// cgroupPath returns the process's cgroup from a /proc cgroup file: the
// v2 (unified) path unless it is the root (hybrid setups keep processes
// there), else the first v1 hierarchy's that is not the root; "" when
// unknown.
func cgroupPath(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var v1 string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" && parts[2] != "/" {
			return parts[2]
		}
		if v1 == "" && parts[2] != "/" {
			v1 = parts[2]
		}
	}
	if v1 == "" && strings.Contains(string(b), "0::/") {
		return "/"
	}
	return v1
}

// containerID finds a container runtime's id in a cgroup path: docker,
// containerd (cri-containerd), CRI-O, podman (libpod), as systemd scopes
// ("docker-<id>.scope") or cgroupfs directories ("/docker/<id>").
var containerID = regexp.MustCompile(`(?:^|[/-])(docker|cri-containerd|containerd|crio|libpod|podman)[-/]([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

// bareID is a 64-hex-digit path element of no known runtime (Kubernetes'
// cgroupfs driver names containers so under their pod).
var bareID = regexp.MustCompile(`(?:^|/)([0-9a-f]{64})(?:/|$)`)

// containerName names the container or cgroup of a cgroup path, for
// labels: "<runtime>:<12-digit id>" for a container, the systemd unit
// (the last ".service" or ".scope" element) otherwise, else the path
// itself; "" for the root cgroup or an unknown one.
func containerName(cg string) string {
	if cg == "" || cg == "/" {
		return ""
	}
	if m := containerID.FindStringSubmatch(cg); m != nil {
		rt := m[1]
		switch rt {
		case "libpod":
			rt = "podman"
		case "cri-containerd":
			rt = "containerd"
		}
		return rt + ":" + m[2][:12]
	}
	if m := bareID.FindStringSubmatch(cg); m != nil {
		return "container:" + m[1][:12]
	}
	elems := strings.Split(strings.Trim(cg, "/"), "/")
	for i := len(elems) - 1; i >= 0; i-- {
		if e := elems[i]; strings.HasSuffix(e, ".service") || strings.HasSuffix(e, ".scope") {
			return e
		}
	}
	return path.Clean(cg)
}
