package external

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Nobody is the uid and gid a plugin runs as when perfprobe runs as root
// and no invoking user is known.
const Nobody = 65534

// CleanPath is the PATH a plugin gets.
const CleanPath = "/usr/local/bin:/usr/bin:/bin"

// identity is who a plugin runs as.
type identity struct {
	uid, gid uint32
	home     string
	// root: perfprobe runs as root, so the plugin's file is checked
	// (trust) and the process switches to uid and gid.
	root bool
	// invoker is the user who ran sudo (SUDO_UID), -1 when unknown.
	invoker int
}

// whoRuns decides who plugins run as: the invoking user (SUDO_UID,
// SUDO_GID) or else nobody when perfprobe is root, perfprobe's own user
// otherwise.
func whoRuns() identity {
	if os.Geteuid() != 0 {
		home := os.Getenv("HOME")
		if !filepath.IsAbs(home) {
			home = "/"
		}
		return identity{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()), home: home, invoker: -1}
	}
	id := identity{uid: Nobody, gid: Nobody, home: "/", root: true, invoker: -1}
	uid, err := strconv.ParseUint(os.Getenv("SUDO_UID"), 10, 32)
	if err != nil {
		return id
	}
	id.uid, id.invoker = uint32(uid), int(uid)
	u, uerr := user.LookupId(strconv.FormatUint(uid, 10))
	if gid, err := strconv.ParseUint(os.Getenv("SUDO_GID"), 10, 32); err == nil {
		id.gid = uint32(gid)
	} else if uerr == nil {
		if gid, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			id.gid = uint32(gid)
		}
	}
	if uerr == nil && filepath.IsAbs(u.HomeDir) {
		id.home = u.HomeDir
	}
	return id
}

func (id identity) String() string {
	if id.uid == Nobody {
		return fmt.Sprintf("uid %d (nobody)", id.uid)
	}
	return fmt.Sprintf("uid %d", id.uid)
}

// env is a plugin's whole environment.
func (id identity) env() []string {
	return []string{"PATH=" + CleanPath, "LANG=C.UTF-8", "HOME=" + id.home, "PERFPROBE_PROTOCOL=" + strconv.Itoa(Protocol)}
}

var (
	errTimedOut = errors.New("timed out")
	errTooMuch  = errors.New("printed too much")
)

// execute runs the plugin at path with req on stdin and returns its
// stdout, or why it failed in one line.
func execute(ctx context.Context, path string, req []byte, id identity, timeout time.Duration, maxOut int64) ([]byte, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("not run: %v", err)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runCtx, stop := context.WithTimeoutCause(runCtx, timeout, errTimedOut)
	defer stop()

	cmd := exec.CommandContext(runCtx, path)
	cmd.Env = id.env()
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(req)
	stdout := &capped{max: maxOut, full: func() { cancel(errTooMuch) }}
	stderr := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if id.root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: []uint32{}}
	}
	// The whole process group: a shell script's children go too.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Wait gives up on a pipe that a leftover child keeps open this long
	// after the plugin exited or was killed.
	cmd.WaitDelay = time.Second

	if err := cmd.Start(); err != nil {
		as := ""
		if id.root {
			as = " as " + id.String()
		}
		return nil, errors.New("cannot start" + as + ": " + oneLine(err.Error(), 300))
	}
	werr := cmd.Wait()
	// Whatever the plugin left running in its group goes with it. The
	// kernel does not reuse a group's id while a member lives; once all
	// are gone, only a pid reused within these microseconds could match.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	last := stderr.lastLine()
	withStderr := func(s string) error {
		if last != "" {
			s += ": " + last
		}
		return errors.New(s)
	}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errTooMuch):
		return stdout.buf, fmt.Errorf("printed more than %s", bytesString(maxOut))
	case errors.Is(cause, errTimedOut):
		return stdout.buf, withStderr("timed out after " + timeout.String())
	case cause != nil:
		return stdout.buf, fmt.Errorf("canceled: %v", cause)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return stdout.buf, withStderr(fmt.Sprintf("killed by signal %d (%v)", ws.Signal(), ws.Signal()))
		}
		return stdout.buf, withStderr(fmt.Sprintf("exited %d", ee.ExitCode()))
	case errors.Is(werr, exec.ErrWaitDelay):
		return stdout.buf, errors.New("exited, but left a process holding its stdout or stderr open")
	case werr != nil:
		return stdout.buf, errors.New(oneLine(werr.Error(), 300))
	}
	return stdout.buf, nil
}

// capped keeps up to max bytes and calls full once when more come.
type capped struct {
	buf  []byte
	max  int64
	full func()
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.over {
		return 0, errTooMuch
	}
	room := c.max - int64(len(c.buf))
	if int64(len(p)) > room {
		c.buf = append(c.buf, p[:room]...)
		c.over = true
		c.full()
		return int(room), errTooMuch
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// tail keeps the last max bytes written.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// lastLine is the last non-empty line, made a status reason.
func (t *tail) lastLine() string {
	lines := strings.Split(string(t.buf), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := oneLine(lines[i], 200); l != "" {
			return l
		}
	}
	return ""
}

// bytesString writes a size as "1 MiB", "64 KiB" or "1000 bytes".
func bytesString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// closeInherited marks every descriptor above stderr close-on-exec.
// Go opens its own that way, but those perfprobe inherited from its
// parent are not, and a plugin must get only stdin, stdout and stderr.
func closeInherited() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
