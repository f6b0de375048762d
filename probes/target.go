package probes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/profile"
)

// Target is a process being profiled.
type Target struct {
	PID     int
	Comm    string
	Exe     string
	Cmdline []string
	// Parent is the target that forked this one when it was followed as
	// a child (Config.Children), else 0.
	Parent int
	// ImagePath, when set, is the executable the target is about to exec
	// (perfprobe run holds the command before exec): probes that attach to
	// the executable's file (uprobes) use it instead of /proc/PID/exe.
	ImagePath string
	startTime uint64 // clock ticks after boot, tells pid reuse apart
	pidfd     int
}

// ParsePID validates a pid given on the command line.
func ParsePID(s string) (int, error) {
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a pid: give the numeric process id (see `pgrep NAME`)", s)
	}
	if pid <= 0 {
		return 0, fmt.Errorf("pid %d is not a process: pids are positive (see `pgrep NAME`)", pid)
	}
	return pid, nil
}

// OpenTarget checks that pid is a user-space process other than perfprobe
// itself and records who it is.
func OpenTarget(pid int) (*Target, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pid %d is not a process: pids are positive", pid)
	}
	if pid == os.Getpid() {
		return nil, fmt.Errorf("pid %d is perfprobe itself", pid)
	}
	st, err := readStat(pid)
	if err != nil {
		return nil, err
	}
	t := &Target{PID: pid, Comm: st.comm, startTime: st.startTime, pidfd: -1}
	if st.flags&pfKthread != 0 {
		return nil, fmt.Errorf("pid %d (%s) is a kernel thread: perfprobe profiles user-space processes", pid, st.comm)
	}
	t.Exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		t.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		t.pidfd = fd
	}
	return t, nil
}

// IsKernelThread reports whether pid is a kernel thread (PF_KTHREAD), which
// has no user space to profile; a pid that is gone counts as one.
func IsKernelThread(pid int) bool {
	st, err := readStat(pid)
	return err != nil || st.flags&pfKthread != 0
}

// pfKthread is PF_KTHREAD, the task flag of kernel threads.
const pfKthread = 0x00200000

type procStat struct {
	comm      string
	state     byte
	flags     uint64
	startTime uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return procStat{}, fmt.Errorf("%w: pid %d does not exist (see `pgrep NAME`)", ErrNoSuchProcess, pid)
	}
	if err != nil {
		return procStat{}, fmt.Errorf("reading /proc/%d/stat: %w", pid, err)
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: %q", pid, s)
	}
	st := procStat{comm: s[open+1 : closing]}
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	st.state = fields[0][0]
	st.flags, _ = strconv.ParseUint(fields[6], 10, 64)
	st.startTime, _ = strconv.ParseUint(fields[19], 10, 64)
	return st, nil
}

// Executable is the path of the target's executable for attaching
// uprobes: ImagePath when set, else /proc/PID/exe (which also reaches into
// other mount namespaces).
func (t *Target) Executable() string {
	if t.ImagePath != "" {
		return t.ImagePath
	}
	return fmt.Sprintf("/proc/%d/exe", t.PID)
}

// Refresh re-reads the target's name, executable and command line (after
// an exec).
func (t *Target) Refresh() {
	if st, err := readStat(t.PID); err == nil {
		t.Comm = st.comm
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", t.PID)); err == nil {
		t.Exe = exe
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", t.PID)); err == nil {
		t.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
}

// Alive reports whether the target still runs (not gone, not a zombie, not
// a new process that reused the pid).
func (t *Target) Alive() bool {
	st, err := readStat(t.PID)
	return err == nil && st.startTime == t.startTime && st.state != 'Z' && st.state != 'X'
}

// Exited returns a channel closed when the target exits.
func (t *Target) Exited() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if t.pidfd >= 0 {
			fds := []unix.PollFd{{Fd: int32(t.pidfd), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(fds, 1000)
				if err == nil && n > 0 {
					return
				}
				if err != nil && err != unix.EINTR {
					break
				}
				if !t.Alive() {
					return
				}
			}
		}
		for t.Alive() {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}

// Close releases the target's pidfd.
func (t *Target) Close() {
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
		t.pidfd = -1
	}
}

// Info is the target as the capture records it.
func (t *Target) Info() profile.Target {
	return profile.Target{PID: t.PID, Comm: t.Comm, Exe: t.Exe, Cmdline: t.Cmdline, Parent: t.Parent, Started: bootTime(t.startTime)}
}

// bootTime converts a time in clock ticks after boot (/proc/PID/stat) to
// wall-clock time; zero for 0.
func bootTime(ticks uint64) time.Time {
	var ts unix.Timespec
	if ticks == 0 || unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return time.Time{}
	}
	const tick = time.Second / 100 // sysconf(_SC_CLK_TCK) is 100 on Linux
	since := time.Duration(ts.Nano()) - time.Duration(ticks)*tick
	return time.Now().Add(-since).Round(tick)
}

// ThreadNames reads the current names of the target's threads.
func (t *Target) ThreadNames() map[uint32]string { return ThreadNames(t.PID) }

// ThreadNames reads the current names of the threads of process pid.
func ThreadNames(pid int) map[uint32]string {
	out := map[uint32]string{}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/comm", pid))
	for _, p := range dirs {
		tid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			out[uint32(tid)] = strings.TrimSpace(string(b))
		}
	}
	return out
}
