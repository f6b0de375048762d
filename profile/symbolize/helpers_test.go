package symbolize

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildDir holds the test programs, built once and shared by all tests.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "symbolize-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type buildResult struct {
	path string
	err  error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
)

// build runs cmd (argv, with "OUT" replaced by the output path) once per
// name in buildDir/name/ after writing files there, and returns the output.
func build(t testing.TB, name, out string, files map[string]string, env []string, argv ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	r, ok := builds[name]
	if !ok {
		r = &buildResult{}
		builds[name] = r
		dir := filepath.Join(buildDir, name)
		r.path = filepath.Join(dir, out)
		r.err = func() error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for f, src := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(src), 0o644); err != nil {
					return err
				}
			}
			args := make([]string, len(argv))
			for i, a := range argv {
				args[i] = strings.ReplaceAll(a, "OUT", r.path)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), env...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, b)
			}
			return nil
		}()
	}
	if r.err != nil {
		t.Fatalf("building %s: %v", name, r.err)
	}
	return r.path
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found in PATH: %v", name, err)
	}
	return p
}

// target is a started test program that printed one line of hex addresses
// and waits for input.
type target struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	addrs []uint64
}

func (tg *target) pid() int { return tg.cmd.Process.Pid }

// readAddrs reads one line of whitespace-separated hex numbers.
func (tg *target) readAddrs(t testing.TB) []uint64 {
	t.Helper()
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := tg.out.ReadString('\n')
		ch <- res{l, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timeout waiting for output of %s", tg.cmd.Path)
	}
	if r.err != nil {
		t.Fatalf("reading output of %s: %v", tg.cmd.Path, r.err)
	}
	var addrs []uint64
	for _, f := range strings.Fields(r.line) {
		v, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("parsing %q from %q: %v", f, r.line, err)
		}
		addrs = append(addrs, v)
	}
	return addrs
}

// start runs path and reads its first line of addresses. The program is
// ended when the test ends.
func start(t testing.TB, path string) *target {
	t.Helper()
	cmd := exec.Command(path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	tg := &target{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	tg.addrs = tg.readAddrs(t)
	return tg
}

// lineOf returns the 1-based line of src containing marker.
func lineOf(t testing.TB, src, marker string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not in source", marker)
	return 0
}
