package abrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Side is one of the two commands.
type Side int

const (
	Base Side = iota
	Head
)

func (s Side) String() string {
	if s == Head {
		return "head"
	}
	return "base"
}

// Timing is one run of one side, measured.
type Timing struct {
	Side Side
	// Pair is the pair's index from 0, or -1 for a warm-up run.
	Pair  int
	Start time.Time
	// Wall is from starting sh to reaping it.
	Wall time.Duration
	// CPU is user+system time of the command and of every descendant it
	// waited for (the rusage wait4 returns for the shell), as time(1)
	// counts it; a process left running in the background is not counted.
	CPU time.Duration
	// MaxRSS is ru_maxrss of the same rusage, in bytes: the peak resident
	// set of the largest single process of the tree, not their sum.
	MaxRSS int64
	// RSSFloor is the runner's own peak RSS (VmHWM) when it started the
	// run. Go starts a child with vfork (CLONE_VM), and Linux records the
	// shared memory's high-water mark in the child's ru_maxrss at its
	// exec, so MaxRSS is never below this floor: a smaller peak is not
	// measurable.
	RSSFloor int64
	// FromOutput is true when the run's output held results gate
	// understands; its metrics are then those, else wall, cpu and max-rss.
	FromOutput bool
	ExitCode   int
}

// stderrLines is how many of a failing command's last stderr lines its
// error message quotes.
const stderrLines = 3

// execute runs command under sh -c in its own process group, with
// stdout captured, and measures it. A non-zero exit is an error naming
// the exit status and the last lines of stderr.
func execute(ctx context.Context, o *Options, command string) (r Timing, stdout []byte, err error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	var out bytes.Buffer
	errTail := &tailWriter{max: 64 << 10}
	c := exec.CommandContext(ctx, "sh", "-c", command)
	c.Dir = o.Dir
	if len(o.Env) > 0 {
		c.Env = append(os.Environ(), o.Env...)
	}
	c.Stdout, c.Stderr = &out, errTail
	// Its own group: Ctrl-C and timeouts kill the whole tree, and a
	// terminal's Ctrl-C reaches perfprobe only, which then does so.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	// A background process that keeps stdout open does not hold the run.
	c.WaitDelay = time.Second
	r.RSSFloor = highWaterRSS()
	r.Start = time.Now()
	if err := c.Start(); err != nil {
		return r, nil, fmt.Errorf("starting sh: %w", err)
	}
	werr := c.Wait()
	r.Wall = time.Since(r.Start)
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) // what it left behind
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.CPU = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
		r.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	r.ExitCode = c.ProcessState.ExitCode()
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.ExitCode = 128 + int(ws.Signal())
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return r, nil, fmt.Errorf("timed out after %s%s", o.Timeout, errTail.quote())
	case ctx.Err() != nil:
		return r, nil, ctx.Err()
	case !c.ProcessState.Success():
		return r, nil, fmt.Errorf("exit status %d%s", r.ExitCode, errTail.quote())
	case werr != nil && !errors.Is(werr, exec.ErrWaitDelay):
		return r, nil, werr
	}
	return r, out.Bytes(), nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// quote is ": " and the last stderrLines non-empty lines joined by " | ",
// or "" when stderr was empty.
func (t *tailWriter) quote() string {
	var lines []string
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines[max(0, len(lines)-stderrLines):], " | ")
}

// highWaterRSS is VmHWM of /proc/self/status in bytes (0 if unknown): the
// value a vfork'ed child's ru_maxrss starts from.
func highWaterRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(line)), " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}
