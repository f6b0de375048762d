package capture

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/probes"
)

// shimEnv carries, to the held child, the path it is to exec.
const shimEnv = "PERFPROBE_EXEC_SHIM"

// Command is a command started held just before its exec, so that probes
// attach before it runs a single instruction of its own: the child is the
// calling program itself (its main must call RunExecShimIfAsked first),
// waiting on a pipe for Release.
type Command struct {
	Argv []string
	Path string // the executable argv[0] resolved to
	PID  int
	self string
	cmd  *exec.Cmd
	hold *os.File // write end of the start pipe
	done chan struct{}
}

// StartCommand starts argv held before exec, with the caller's standard
// streams and environment. The caller attaches, then calls Release.
func StartCommand(argv []string) (*Command, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to run")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", argv[0], err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding perfprobe's own executable: %w", err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the start pipe: %w", err)
	}
	child := exec.Command(self, argv[1:]...)
	child.Args[0] = argv[0]
	child.Env = append(os.Environ(), shimEnv+"="+path)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.ExtraFiles = []*os.File{rd}
	if err := child.Start(); err != nil {
		rd.Close()
		wr.Close()
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	rd.Close()
	c := &Command{Argv: argv, Path: path, PID: child.Process.Pid, self: self, cmd: child, hold: wr, done: make(chan struct{})}
	go func() { _ = child.Wait(); close(c.done) }()
	return c, nil
}

// Exited is closed when the command has exited.
func (c *Command) Exited() <-chan struct{} { return c.done }

// Release lets the command exec and waits (up to 2 s) until it no longer
// runs the caller's image, so that what follows sees the command's own
// mappings.
func (c *Command) Release() error {
	_, err := c.hold.Write([]byte{1})
	c.hold.Close()
	if err != nil {
		return fmt.Errorf("releasing %s: %w", c.Argv[0], err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.PID))
		if err != nil || exe != c.self {
			return nil
		}
		select {
		case <-c.done:
			return nil
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Kill kills the command and waits for it.
func (c *Command) Kill() {
	c.hold.Close() // a held child exits by itself when the pipe closes
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Interrupt sends the command SIGINT, as a terminal's Ctrl-C would.
func (c *Command) Interrupt() { _ = c.cmd.Process.Signal(os.Interrupt) }

// WaitOrKill waits up to grace for the command to exit, then kills it.
func (c *Command) WaitOrKill(grace time.Duration) {
	select {
	case <-c.done:
	case <-time.After(grace):
		c.Kill()
	}
}

// ExitCode is the command's exit status once it has exited: 128+N when a
// signal N ended it, -1 while it runs.
func (c *Command) ExitCode() int {
	select {
	case <-c.done:
	default:
		return -1
	}
	st := c.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// RunExecShimIfAsked is the child side of StartCommand; a program that
// uses StartCommand calls it first thing in main. In the held child it
// waits for the go-ahead on fd 3, then becomes the command (it never
// returns); elsewhere it returns at once.
func RunExecShimIfAsked() {
	path := os.Getenv(shimEnv)
	if path == "" {
		return
	}
	os.Unsetenv(shimEnv)
	start := os.NewFile(3, "start")
	var b [1]byte
	if n, _ := start.Read(b[:]); n != 1 {
		os.Exit(125) // the parent gave up before starting the command
	}
	start.Close()
	err := syscall.Exec(path, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "perfprobe: exec %s: %v\n", path, err)
	os.Exit(127)
}

// StartRun is the capture of `perfprobe run`: it starts argv held before
// exec, attaches the probes to it, lets it exec and attaches what could
// only attach once the command's own image and libraries are mapped. The
// caller then calls Wait with cmd.Exited() and EndCommandExited. On error
// nothing stays attached and the command is gone.
func StartRun(argv []string, o Options) (*Session, *Command, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	if err := probes.CheckPrivileges(); err != nil {
		return nil, nil, err
	}
	cmd, err := StartCommand(argv)
	if err != nil {
		return nil, nil, err
	}
	t, err := probes.OpenTarget(cmd.PID)
	if err != nil {
		cmd.Kill()
		return nil, nil, err
	}
	// Every probe attaches before the exec; uprobes go on the command's
	// file (they are filtered by pid and fire once the pid maps it).
	t.ImagePath = cmd.Path
	if o.RefreshEvery == 0 {
		o.RefreshEvery = 100 * time.Millisecond
	}
	s, err := Start(t, o)
	if err != nil {
		t.Close()
		cmd.Kill()
		return nil, nil, err
	}
	s.owned = []*probes.Target{t}
	if err := cmd.Release(); err != nil {
		s.Close()
		cmd.Kill()
		return nil, nil, err
	}
	t.ImagePath = ""
	t.Refresh()
	s.Refresh()
	// A probe bound to the image that found nothing in the executable may
	// find it in the libraries the dynamic loader maps right after exec.
	names := o.Probes
	if len(names) == 0 {
		names = probes.Defaults()
	}
	for _, name := range names {
		if !probes.ImageBound(name) || !s.probes.WasSkipped(name) {
			continue
		}
		select {
		case <-cmd.Exited():
		case <-time.After(20 * time.Millisecond):
			s.Refresh()
			if err := s.probes.Add(name); err != nil {
				s.notify(fmt.Sprintf("%v; going on without it", err))
			}
		}
	}
	return s, cmd, nil
}
