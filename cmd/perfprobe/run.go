package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/probes"
)

const shimEnv = "PERFPROBE_EXEC_SHIM"

func newCmdRun() *cobra.Command {
	var o captureOptions
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Start a command and profile it from exec until it exits",
		Long: `run starts COMMAND held just before exec, attaches the probes to it, lets it
exec and profiles it until it exits (or --duration ends, or Ctrl-C). It
writes the same outputs as attach and exits with the command's status.`,
		Example: `  sudo perfprobe run -- ./bench -n 1000
  sudo perfprobe run --out /tmp/cap --hz 499 -- go test -run XXX -bench . ./pkg`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			o.named = cmd.Flags().Changed("probes")
			return run(args, o)
		},
	}
	o.bind(cmd, 0)
	o.goProfiles.bind(cmd, "fetch the command's Go profiles from this pprof URL over the run (not looked for: a new command has no endpoint yet at exec)")
	return cmd
}

func run(argv []string, o captureOptions) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("cannot run %q: %w", argv[0], err)
	}
	if err := probes.CheckPrivileges(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding perfprobe's own executable: %w", err)
	}
	// The child is perfprobe itself, held before exec until the probes
	// are attached, so that nothing the command does escapes them.
	rd, wr, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating the start pipe: %w", err)
	}
	defer wr.Close()
	child := exec.Command(self, argv[1:]...)
	child.Args[0] = argv[0]
	child.Env = append(os.Environ(), shimEnv+"="+path)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.ExtraFiles = []*os.File{rd}
	if err := child.Start(); err != nil {
		rd.Close()
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	rd.Close()
	exited := make(chan struct{})
	go func() { _ = child.Wait(); close(exited) }()
	kill := func() { _ = child.Process.Kill(); <-exited }

	t, err := probes.OpenTarget(child.Process.Pid)
	if err != nil {
		kill()
		return err
	}
	defer t.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every probe attaches before the exec, so nothing the command does
	// escapes them; uprobes go on the command's file (they are filtered by
	// pid and fire once the pid maps it).
	t.ImagePath = path
	o.fastRefresh = true
	r, err := startCapture(t, o, os.Stderr, os.Stderr)
	if err != nil {
		kill()
		return err
	}
	if _, err := wr.Write([]byte{1}); err != nil {
		r.sess.Close()
		kill()
		return fmt.Errorf("releasing %s: %w", argv[0], err)
	}
	wr.Close()
	waitExec(t.PID, self, exited)
	t.ImagePath = ""
	t.Refresh()
	r.snapshot()
	// A probe bound to the image that found nothing in the executable may
	// find it in the libraries the dynamic loader maps right after exec.
	for _, name := range o.probes {
		if !probes.ImageBound(name) || !r.sess.WasSkipped(name) {
			continue
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Millisecond):
			r.snapshot()
			if err := r.sess.Add(name); err != nil {
				fmt.Fprintf(os.Stderr, "perfprobe: %v; going on without it\n", err)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "perfprobe: running %s (pid %d) with probes %s at %d Hz\n", strings.Join(argv, " "), t.PID, strings.Join(r.sess.Attached(), ","), o.hz)
	for _, s := range r.sess.Skipped() {
		fmt.Fprintln(os.Stderr, "perfprobe:", s)
	}

	cause := r.wait(ctx, exited, "command-exited")
	stop()
	if cause == "signal" {
		_ = child.Process.Signal(os.Interrupt)
	}
	_, _, err = r.finish(cause)
	if cause != "command-exited" {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			kill()
		}
	}
	if err != nil {
		return err
	}
	if st := child.ProcessState; st != nil && !st.Success() {
		code := st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &exitError{code: code, err: fmt.Errorf("%s exited with status %d", argv[0], code)}
	}
	return nil
}

// waitExec waits until pid no longer runs perfprobe's own image.
func waitExec(pid int, self string, exited <-chan struct{}) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || exe != self {
			return
		}
		select {
		case <-exited:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func isExecShim() bool { return os.Getenv(shimEnv) != "" }

// runExecShim is the child side of run: wait for the go-ahead on fd 3,
// then become the command.
func runExecShim() {
	path := os.Getenv(shimEnv)
	os.Unsetenv(shimEnv)
	start := os.NewFile(3, "start")
	var b [1]byte
	if n, _ := start.Read(b[:]); n != 1 {
		os.Exit(125) // perfprobe gave up before starting the command
	}
	start.Close()
	err := syscall.Exec(path, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "perfprobe: exec %s: %v\n", path, err)
	os.Exit(127)
}
