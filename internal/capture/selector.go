package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/probes"
)

// Selector says which processes a capture follows: the pids given, every
// process whose comm or executable name matches Comm, and every process
// in the cgroup directory Cgroup or below it. Processes that come to
// match while the capture runs are added (Session polls Match).
type Selector struct {
	PIDs   []int
	Comm   *regexp.Regexp
	Cgroup string // a cgroup directory (v1 or v2), e.g. /sys/fs/cgroup/system.slice/nginx.service
}

// String says what the selector selects, for messages.
func (s Selector) String() string {
	var parts []string
	if len(s.PIDs) > 0 {
		var ps []string
		for _, pid := range s.PIDs {
			ps = append(ps, strconv.Itoa(pid))
		}
		parts = append(parts, "pid "+strings.Join(ps, ","))
	}
	if s.Comm != nil {
		parts = append(parts, fmt.Sprintf("comm /%s/", s.Comm))
	}
	if s.Cgroup != "" {
		parts = append(parts, "cgroup "+s.Cgroup)
	}
	return strings.Join(parts, " or ")
}

// IsZero reports whether the selector selects nothing.
func (s Selector) IsZero() bool { return len(s.PIDs) == 0 && s.Comm == nil && s.Cgroup == "" }

// Validate checks that the selector can match: the cgroup directory
// exists and lists its processes.
func (s Selector) Validate() error {
	if s.IsZero() {
		return &OptionError{"Selector", "no process selected: give pids, a comm pattern or a cgroup"}
	}
	if s.Cgroup != "" {
		if _, err := os.Stat(filepath.Join(s.Cgroup, "cgroup.procs")); err != nil {
			return &OptionError{"Selector", fmt.Sprintf("%s is not a cgroup directory (no cgroup.procs): give a directory under /sys/fs/cgroup, e.g. /sys/fs/cgroup/system.slice/NAME.service", s.Cgroup)}
		}
	}
	return nil
}

// Match lists the processes the selector matches now, sorted, perfprobe
// itself and kernel threads left out. A pid given that does not exist is
// left out too: the caller decides whether that is an error.
func (s Selector) Match() ([]int, error) { return s.match(nil) }

// match is Match, with what is known of each process from the last scan
// in seen (nil: nothing).
func (s Selector) match(seen *scanCache) ([]int, error) {
	self := os.Getpid()
	set := map[int]bool{}
	for _, pid := range s.PIDs {
		if pid != self && exists(pid) {
			set[pid] = true
		}
	}
	if s.Cgroup != "" {
		pids, err := cgroupProcs(s.Cgroup)
		if err != nil {
			return nil, err
		}
		for _, pid := range pids {
			set[pid] = true
		}
	}
	if s.Comm != nil && seen.quiet() {
		for pid, e := range seen.byPID { // nothing started since the last scan: its matches stand
			if e.match && !set[pid] && exists(pid) {
				set[pid] = true
			}
		}
	} else if s.Comm != nil {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return nil, err
		}
		listed := make(map[int]bool, len(ents))
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			listed[pid] = true
			if !set[pid] && s.matchesName(pid, seen) {
				set[pid] = true
			}
		}
		seen.prune(listed)
	}
	out := make([]int, 0, len(set))
	for pid := range set {
		if pid != self && !seen.kernelThread(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out, nil
}

// scanCache is what a selector's last scan of /proc learnt of each
// process: its comm, whether its comm or executable matched, whether it
// is a kernel thread. A rescan then reads one small file per process (its
// comm) and resolves the executable only of new processes and of those
// whose comm changed (an exec): the agent rescans every half second.
type scanCache struct {
	byPID map[int]scanned
	// lastPID is the last pid the kernel handed out at the last full
	// scan, and full when that scan was: while no process is created, a
	// scan can only find an exec into a matching name, looked for every
	// fullEvery.
	lastPID int
	full    time.Time
}

// fullEvery bounds how long an exec of a running process into a matching
// name can go unseen when no process is created.
const fullEvery = 5 * time.Second

// quiet reports whether no process was created since the last full scan
// and that scan is recent; otherwise it notes a full scan starting now.
func (c *scanCache) quiet() bool {
	if c == nil {
		return false
	}
	last := lastPID()
	if last != 0 && last == c.lastPID && time.Since(c.full) < fullEvery {
		return true
	}
	c.lastPID, c.full = last, time.Now()
	return false
}

// lastPID is the last pid the kernel handed out (/proc/loadavg's last
// field), 0 when unknown.
func lastPID() int {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 5 {
		return 0
	}
	n, _ := strconv.Atoi(f[4])
	return n
}

type scanned struct {
	comm          string
	match, kernel bool
	kernelKnown   bool
}

func newScanCache() *scanCache { return &scanCache{byPID: map[int]scanned{}} }

// prune forgets the processes no longer listed.
func (c *scanCache) prune(listed map[int]bool) {
	if c == nil {
		return
	}
	for pid := range c.byPID {
		if !listed[pid] {
			delete(c.byPID, pid)
		}
	}
}

// kernelThread reports whether pid is a kernel thread, once per pid.
func (c *scanCache) kernelThread(pid int) bool {
	if c == nil {
		return probes.IsKernelThread(pid)
	}
	e := c.byPID[pid]
	if !e.kernelKnown {
		e.kernel, e.kernelKnown = probes.IsKernelThread(pid), true
		c.byPID[pid] = e
	}
	return e.kernel
}

// matchesName reports whether pid's comm or executable name matches.
func (s Selector) matchesName(pid int, seen *scanCache) bool {
	comm := readComm(pid)
	if seen != nil {
		if e, ok := seen.byPID[pid]; ok && e.comm == comm {
			return e.match
		}
	}
	match := comm != "" && s.Comm.MatchString(comm)
	if !match {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		match = err == nil && s.Comm.MatchString(filepath.Base(strings.TrimSuffix(exe, " (deleted)")))
	}
	if seen != nil && comm != "" {
		seen.byPID[pid] = scanned{comm: comm, match: match}
	}
	return match
}

// cgroupProcs lists the processes in dir and every cgroup below it.
func cgroupProcs(dir string) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("reading the processes of cgroup %s: %w", path, err)
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return nil
	})
	return out, err
}

func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// ParsePIDs parses "PID[,PID...]" as given on the command line.
func ParsePIDs(arg string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(arg, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pid, err := probes.ParsePID(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, pid) {
			out = append(out, pid)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no pid given")
	}
	return out, nil
}

// readComm reads /proc/PID/comm with three system calls: os.ReadFile adds
// an fstat and a poller registration, which add up when the agent reads
// every process's comm twice a second.
func readComm(pid int) string {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var buf [64]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return ""
	}
	return strings.TrimSuffix(string(buf[:n]), "\n")
}
