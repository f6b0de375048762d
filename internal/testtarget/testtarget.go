// Package testtarget builds and runs the ground-truth programs in
// testdata/targets for tests.
//
// Each target has a known behaviour (which function burns CPU or blocks, on
// how many threads) documented in its source, prints one line
// "ready pid=<pid> [tid=<tid>] [addr=<host:port>]" once that behaviour is
// running, and, when its -duration elapses (or on SIGINT/SIGTERM), prints a
// one-line JSON summary of what it measured and exits 0.
//
// Typical use:
//
//	bin := testtarget.Build(t, "spinner")
//	p := testtarget.Start(t, bin, "-threads", "2", "-duration", "2s")
//	// ... profile p.PID ...
//	var sum struct{ Threads int }
//	if err := p.Wait(&sum); err != nil { t.Fatal(err) }
//
// Targets are killed and reaped by t.Cleanup, and are also sent SIGKILL if
// the test binary dies (Pdeathsig), so a timed-out test cannot leak spinners.
package testtarget

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CFlags are the gcc flags every C target is built with (extra flags passed to
// Build are appended).
var CFlags = []string{"-O1", "-g", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"}

// ReadyTimeout is how long Start waits for the ready line.
const ReadyTimeout = 10 * time.Second

var builds struct {
	mu sync.Mutex
	m  map[string]*build

	dirOnce sync.Once
	dir     string
	dirErr  error
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles testdata/targets/<name> once per test binary run and returns
// the executable's path. Results are cached (per name and flags) in a temp
// directory shared by the whole test binary.
//
// A target directory containing .c files is built with gcc, CFlags, flags and
// all its .c files; otherwise it is built with `go build flags...` (e.g.
// "-ldflags=-s -w", "-buildmode=pie"). The repository root is found by walking
// up from the working directory to go.mod. On failure Build calls t.Fatalf
// with the compiler output.
func Build(t testing.TB, name string, flags ...string) string {
	t.Helper()
	key := name + "\x00" + strings.Join(flags, "\x00")
	builds.mu.Lock()
	if builds.m == nil {
		builds.m = make(map[string]*build)
	}
	b := builds.m[key]
	if b == nil {
		b = new(build)
		builds.m[key] = b
	}
	builds.mu.Unlock()

	b.once.Do(func() { b.path, b.err = compile(name, flags) })
	if b.err != nil {
		t.Fatalf("testtarget: building %s %q: %v", name, flags, b.err)
	}
	return b.path
}

// PrebuiltEnv names a directory of targets built ahead by BuildInto
// (cmd prebuild), for machines without a Go toolchain or gcc: the kernel
// matrix's virtual machines. When it is set, Build only looks there.
const PrebuiltEnv = "PERFPROBE_TARGETS_DIR"

// fileName is the name a target built with flags gets in a build directory.
func fileName(name string, flags []string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + strings.Join(flags, "\x00")))
	return fmt.Sprintf("%s-%x", name, sum[:6])
}

func compile(name string, flags []string) (string, error) {
	if dir := os.Getenv(PrebuiltEnv); dir != "" {
		path := filepath.Join(dir, fileName(name, flags))
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s %q is not prebuilt in %s=%s: add it to internal/testtarget/prebuild", name, flags, PrebuiltEnv, dir)
		}
		return path, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	return BuildInto(dir, name, flags...)
}

// BuildInto compiles testdata/targets/<name> with flags into dir, named as
// Build finds it there, and returns its path.
func BuildInto(dir, name string, flags ...string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, "testdata", "targets", name)
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("no target directory %s", src)
	}
	out := filepath.Join(dir, fileName(name, flags))

	var cmd *exec.Cmd
	if cs, _ := filepath.Glob(filepath.Join(src, "*.c")); len(cs) > 0 {
		args := append(append(append([]string{}, CFlags...), flags...), "-o", out)
		cmd = exec.Command("gcc", append(args, cs...)...)
	} else {
		args := append(append([]string{"build", "-o", out}, flags...), "./"+filepath.ToSlash(filepath.Join("testdata", "targets", name)))
		cmd = exec.Command("go", args...)
	}
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, output)
	}
	return out, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

const dirPrefix = "perfprobe-targets-"

// cacheDir returns this test binary's build directory
// ($TMPDIR/perfprobe-targets-<pid>-*). There is no hook at process exit, so
// instead each new directory removes those left by processes that are gone.
func cacheDir() (string, error) {
	builds.dirOnce.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*-*"))
		for _, d := range old {
			pidStr, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), dirPrefix), "-")
			if pid, err := strconv.Atoi(pidStr); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(d)
			}
		}
		builds.dir, builds.dirErr = os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	})
	return builds.dir, builds.dirErr
}

// Proc is a running target started by Start.
type Proc struct {
	Cmd   *exec.Cmd
	PID   int    // process id (checked against the ready line)
	TID   int    // "tid=" from the ready line, 0 if absent
	Addr  string // "addr=" from the ready line, "" if absent
	Ready string // the ready line itself

	stderr   syncBuffer
	lines    []string      // stdout lines other than the ready line; read only after done
	done     chan struct{} // closed when stdout reaches EOF (the target exited)
	waitOnce sync.Once
	waitErr  error
}

// Start runs the executable at path with args, waits up to ReadyTimeout for
// its "ready" line, and parses the pid/tid/addr fields. A t.Cleanup kills and
// reaps the process. The rest of stdout is kept for Wait.
func Start(t testing.TB, path string, args ...string) *Proc {
	t.Helper()
	return start(t, nil, path, args)
}

// StartHeld is Start for a target that waits for a line on stdin before
// its work (fsyncer): release sends it that line.
func StartHeld(t testing.TB, path string, args ...string) (p *Proc, release func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("testtarget: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	p = start(t, r, path, args)
	r.Close()
	return p, func() { w.Write([]byte("go\n")) }
}

func start(t testing.TB, stdin *os.File, path string, args []string) *Proc {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testtarget: %v", err)
	}
	if err := startCmd(cmd); err != nil {
		t.Fatalf("testtarget: starting %s: %v", path, err)
	}
	p.PID = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
	})

	ready := make(chan string, 1)
	go p.read(stdout, ready)
	select {
	case line, ok := <-ready:
		if !ok {
			err := p.wait()
			t.Fatalf("testtarget: %s exited before its ready line: %v\nstdout:\n%s\nstderr:\n%s",
				path, err, strings.Join(p.lines, "\n"), p.stderr.String())
		}
		p.Ready = line
	case <-time.After(ReadyTimeout):
		t.Fatalf("testtarget: %s printed no ready line within %v\nstderr:\n%s", path, ReadyTimeout, p.stderr.String())
	}

	for _, f := range strings.Fields(p.Ready)[1:] {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "pid":
			var pid int
			if pid, err = strconv.Atoi(v); err == nil && pid != p.PID {
				err = fmt.Errorf("is not the started process %d", p.PID)
			}
		case "tid":
			p.TID, err = strconv.Atoi(v)
		case "addr":
			p.Addr = v
		}
		if err != nil {
			t.Fatalf("testtarget: bad ready line %q: %s: %v", p.Ready, f, err)
		}
	}
	return p
}

// read consumes stdout: the first line starting with "ready " goes to ready
// (which is closed if there is none), all others are kept in p.lines.
func (p *Proc) read(r io.Reader, ready chan<- string) {
	defer close(p.done)
	sawReady := false
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); !sawReady && strings.HasPrefix(line, "ready ") {
			sawReady = true
			ready <- line
		} else {
			p.lines = append(p.lines, line)
		}
	}
	if !sawReady {
		close(ready)
	}
	io.Copy(io.Discard, r) // after a scan error, keep draining so the target never blocks
}

func (p *Proc) wait() error {
	p.waitOnce.Do(func() {
		<-p.done
		p.waitErr = p.Cmd.Wait()
	})
	return p.waitErr
}

// Wait waits for the target to exit and decodes its JSON summary (the last
// stdout line starting with "{") into v; v may be nil to only wait. It does
// not stop the target: pass -duration, or signal p.Cmd.Process with
// SIGTERM/SIGINT (targets then print their summary and exit).
func (p *Proc) Wait(v any) error {
	if err := p.wait(); err != nil {
		return fmt.Errorf("%s: %v\nstderr:\n%s", p.Cmd.Path, err, p.stderr.String())
	}
	for i := len(p.lines) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(p.lines[i]); strings.HasPrefix(line, "{") {
			if v == nil {
				return nil
			}
			if err := json.Unmarshal([]byte(line), v); err != nil {
				return fmt.Errorf("%s: decoding summary %q: %v", p.Cmd.Path, line, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no JSON summary in stdout %q", p.Cmd.Path, p.lines)
}

// clockTick is sysconf(_SC_CLK_TCK), which is 100 on Linux.
const clockTick = 100

// CPUTime returns the user+system CPU time the process (all its threads) has
// used so far, from /proc/PID/stat. Its resolution is one clock tick (10ms).
func (p *Proc) CPUTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised comm start at field 3 (state); utime and
	// stime are fields 14 and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", p.PID)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", p.PID)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v", p.PID, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// startCmd starts cmd from one long-lived, locked OS thread. Pdeathsig fires
// when the parent *thread* exits, and Go may retire the thread a test
// goroutine ran on (e.g. a goroutine that exits while locked), which would
// kill the target spuriously; the spawner thread lives as long as the binary.
func startCmd(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked
			for r := range spawner.reqs {
				r.err <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd, errc}
	return <-errc
}

var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
