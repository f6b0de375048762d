// Package tracefs gives the probes the kernel's tracing filesystem, where
// the ids of classic tracepoints (syscalls:sys_enter_fsync, ...) are read,
// and attaches BPF programs to those tracepoints. It uses the tracefs
// mounted on the machine if there is one; otherwise it mounts its own
// privately, as a detached mount (fsopen/fsmount, Linux 5.2+) that lives in
// an anonymous mount namespace of its own: no mount table lists it, no
// other process sees it, and it is gone once closed. perfprobe never mounts
// anything on the host.
//
// cilium/ebpf's link.Tracepoint finds tracefs only through the mount table
// (once per process) and cannot be given a detached mount, which is why
// Attach opens the tracepoint's perf event itself.
package tracefs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// FS is an open tracefs.
type FS struct {
	root  int    // directory fd of the tracefs root
	where string // its mount point; "" when mounted privately
}

// Open returns the tracefs mounted on this machine (the first listed in
// /proc/self/mountinfo), or else one mounted privately, which needs
// CAP_SYS_ADMIN. It never looks under debugfs: reaching into
// /sys/kernel/debug/tracing would make the kernel mount tracefs there, on
// the host.
func Open() (*FS, error) {
	host := "tracefs is not mounted here"
	if where, err := mountPoint("/proc/self/mountinfo"); err == nil && where != "" {
		fd, err := unix.Open(where, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		switch {
		case err != nil:
			host = fmt.Sprintf("opening tracefs at %s: %v", where, err)
		case isTracefs(fd):
			return &FS{root: fd, where: where}, nil
		default:
			unix.Close(fd)
			host = where + " is listed as tracefs but is not"
		}
	}
	fd, err := mountPrivate()
	if err != nil {
		return nil, fmt.Errorf("%s, and mounting it privately failed: %w", host, err)
	}
	return &FS{root: fd}, nil
}

// mountPrivate mounts a detached tracefs and returns its root directory fd.
func mountPrivate() (int, error) {
	fsfd, err := unix.Fsopen("tracefs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("creating the tracefs superblock: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return fd, nil
}

func isTracefs(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == unix.TRACEFS_MAGIC
}

// mountPoint returns the mount point of the first tracefs (mounted from its
// root) listed in the mountinfo file, "" if none is.
func mountPoint(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo reads proc(5)'s mountinfo format: "id parent major:minor
// root mount-point options [optional fields] - fstype source super-options",
// with spaces and the like in paths escaped as octal (\040).
func parseMountinfo(r io.Reader) (string, error) {
	s := bufio.NewScanner(r)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		f := strings.Fields(s.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		if f[sep+1] == "tracefs" && f[3] == "/" {
			return unescape(f[4]), nil
		}
	}
	return "", s.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Private reports whether f was mounted privately by Open.
func (f *FS) Private() bool { return f.where == "" }

// String says where f is, for messages: "tracefs at /sys/kernel/tracing"
// or "tracefs mounted privately: none on this host".
func (f *FS) String() string {
	if f.Private() {
		return "tracefs mounted privately: none on this host"
	}
	return "tracefs at " + f.where
}

// Close releases f; a private mount is gone with it. Tracepoints attached
// through f stay attached.
func (f *FS) Close() error {
	if f.root < 0 {
		return nil
	}
	err := unix.Close(f.root)
	f.root = -1
	return err
}

// eventPath is the path of trace event group:name below the tracefs root.
func eventPath(group, name string) (string, error) {
	for _, s := range []string{group, name} {
		if s == "" || strings.ContainsAny(s, "/\x00") || s == "." || s == ".." {
			return "", fmt.Errorf("bad trace event name %q:%q", group, name)
		}
	}
	return path.Join("events", group, name), nil
}

// Has reports whether the kernel has trace event group:name.
func (f *FS) Has(group, name string) bool {
	p, err := eventPath(group, name)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	return unix.Fstatat(f.root, p+"/id", &st, 0) == nil
}

// EventID returns the id of trace event group:name, what perf_event_open
// takes as the config of a PERF_TYPE_TRACEPOINT event.
func (f *FS) EventID(group, name string) (uint64, error) {
	p, err := eventPath(group, name)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Openat(f.root, p+"/id", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("reading the id of %s:%s: %w", group, name, err)
	}
	file := os.NewFile(uintptr(fd), p+"/id")
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, 64))
	if err != nil {
		return 0, fmt.Errorf("reading the id of %s:%s: %w", group, name, err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing the id of %s:%s %q: %w", group, name, b, err)
	}
	return id, nil
}

// AttachByIoctl makes Attach use PERF_EVENT_IOC_SET_BPF instead of a BPF
// link, as it does on kernels before 5.15 (which have no BPF links to perf
// events); for tests on newer ones.
var AttachByIoctl = false

// Attach attaches prog, a tracepoint program, to trace event group:name
// on every CPU, as link.Tracepoint does. Closing the result detaches it.
func (f *FS) Attach(group, name string, prog *ebpf.Program) (io.Closer, error) {
	id, err := f.EventID(group, name)
	if err != nil {
		return nil, err
	}
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		Wakeup:      1,
	}
	// One event on CPU 0 for all threads: a tracepoint runs the programs
	// attached to it on whatever CPU it fires.
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("opening the perf event of %s:%s: %w", group, name, err)
	}
	ev := &event{fd: fd}
	if !AttachByIoctl {
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
		if err == nil {
			ev.link = l
			return ev, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, unix.EINVAL) { // BPF links to perf events are 5.15+
			unix.Close(fd)
			return nil, fmt.Errorf("attaching to %s:%s: %w", group, name, err)
		}
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attaching to %s:%s: %w", group, name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("enabling %s:%s: %w", group, name, err)
	}
	return ev, nil
}

// event is a program attached to a tracepoint's perf event.
type event struct {
	fd   int
	link link.Link // nil when attached by ioctl
}

func (e *event) Close() error {
	var err error
	if e.link != nil {
		err = e.link.Close()
		e.link = nil
	}
	if e.fd >= 0 {
		err = errors.Join(err, unix.Close(e.fd))
		e.fd = -1
	}
	return err
}
