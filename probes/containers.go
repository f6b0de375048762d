package probes

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CheckContainers says what `perfprobe doctor` can tell of targets in
// containers: whether their files can be read through /proc/PID/root
// (their own mount namespace), whether the kernel gives their pid in
// their own pid namespace (NSpid), whether perfprobe itself sees the
// host's processes, and which cgroup version names their containers.
func CheckContainers() []Check {
	return []Check{rootCheck(), nspidCheck(), cgroupCheck()}
}

// maxScan bounds the processes rootCheck looks at for one in another
// mount namespace.
const maxScan = 4096

// rootCheck reads the root of a process in another mount namespace when
// there is one, else pid 1's.
func rootCheck() Check {
	c := Check{Name: "container files", Fix: "run as root (or with CAP_SYS_PTRACE over the target) so that binaries inside containers can be read through /proc/PID/root"}
	ours, _ := os.Readlink("/proc/self/ns/mnt")
	pid := 0
	if ents, err := os.ReadDir("/proc"); err == nil {
		for i, e := range ents {
			if i >= maxScan {
				break
			}
			n, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n)); err == nil && ours != "" && ns != ours {
				pid = n
				break
			}
		}
	}
	which := fmt.Sprintf("pid %d in another mount namespace", pid)
	if pid == 0 {
		pid, which = 1, "no process in another mount namespace now; pid 1"
	}
	_, err := os.ReadDir(fmt.Sprintf("/proc/%d/root/", pid))
	c.OK = err == nil
	if c.OK {
		c.Detail = which + ": its root is readable, so targets in containers symbolize from their own files and perf maps"
	} else {
		c.Detail = fmt.Sprintf("%s: reading its root: %v: binaries inside containers cannot be read (their frames stay addresses)", which, errors.Unwrap(err))
	}
	return c
}

// nspidCheck reads NSpid from our own status: present since Linux 4.1;
// more than one pid means perfprobe runs in a pid namespace of its own.
func nspidCheck() Check {
	c := Check{Name: "pid namespaces"}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		c.Detail = err.Error()
		c.Fix = "mount /proc"
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			if f := strings.Fields(v); len(f) > 1 {
				c.Detail = fmt.Sprintf("perfprobe runs in a pid namespace of its own (NSpid %s): it sees only that namespace's processes", strings.Join(f, " "))
				c.Fix = "run perfprobe on the host (in Kubernetes: hostPID: true) to profile other containers"
				return c
			}
			c.OK = true
			c.Detail = "NSpid in /proc/PID/status: targets in containers are labelled with their host pid and their pid inside (ns_pid)"
			return c
		}
	}
	c.Detail = "no NSpid in /proc/PID/status (Linux before 4.1): only host pids are known"
	c.Fix = "Linux 4.1 or newer labels targets with their pid inside their namespace"
	return c
}

// cgroupCheck says which cgroup hierarchy names the targets' containers.
func cgroupCheck() Check {
	c := Check{Name: "cgroups", OK: true}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		c.Detail = "v2 (unified): targets are labelled with their container (docker, containerd, CRI-O, podman id), systemd unit or cgroup"
		return c
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		c.OK, c.Detail, c.Fix = false, err.Error(), "mount /proc"
		return c
	}
	if strings.Contains(string(b), "0::") {
		c.Detail = "hybrid v1/v2: containers are named from the v2 path, else the first v1 hierarchy's"
	} else {
		c.Detail = "v1: containers are named from the first v1 hierarchy's path"
	}
	return c
}
