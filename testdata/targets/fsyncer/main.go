// Command fsyncer does a known number of fsyncs and O_DIRECT writes.
//
// Known behaviour: one goroutine, locked to its OS thread, creates a file
// in -dir and -n times writes -size bytes to it (main.writeSmall) and
// fsyncs it (main.doFsync, a direct fsync(2)); then it does -direct
// 4096-byte O_DIRECT writes from a page-aligned buffer to a second file in
// -dir (main.directWrite, a direct pwrite64(2)), so each of them is one
// block-device write request submitted by this thread. Both files are
// removed at the end. With -slow-reads K it then reads one byte from a pipe
// K times, each written by another goroutine -slow-read-wait after the
// read began (main.slowRead: a read(2) that blocks that long, whatever the
// machine's speed), and K times with the byte already there (main.fastRead:
// returns at once). With -loop D it instead writes one byte to -loop-file
// (default /dev/null) with pwrite64 as fast as it can for D
// (main.pwriteLoop), or with -loop-op getppid calls getppid(2) as fast as
// it can (main.getppidLoop), to measure syscall throughput; -loop-counter
// FILE keeps its running count in FILE for sampling from outside.
//
// -dir should be on a real block device: on tmpfs fsync returns at once
// and O_DIRECT fails (check with `findmnt -T DIR`).
//
// It prints "ready pid=<pid> tid=<tid>" (tid = the working thread), then
// waits for a line on stdin or for -delay to elapse, whichever comes first
// (with -delay 0 it waits for stdin only, and starts at once when stdin is
// at EOF), so a probe can attach first. It then does the work and prints
// one JSON line with its own measurements:
// {"fsyncs":N,"fsync_p50_ns":..,"fsync_mean_ns":..,"fsync_max_ns":..,
// "direct_writes":M,"direct_p50_ns":..,"direct_mean_ns":..,"slow_reads":K,
// "slow_read_min_ns":..,"fast_reads":K,"fast_read_max_ns":..,"loop_ops":..,
// "loop_ns_per_op":..,"tid":..} and exits 0 (1 on any I/O error).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

type result struct {
	Fsyncs       int    `json:"fsyncs"`
	FsyncP50NS   int64  `json:"fsync_p50_ns"`
	FsyncMeanNS  int64  `json:"fsync_mean_ns"`
	FsyncMaxNS   int64  `json:"fsync_max_ns"`
	Writes       int    `json:"writes"`
	DirectWrites int    `json:"direct_writes"`
	DirectP50NS  int64  `json:"direct_p50_ns"`
	DirectMeanNS int64  `json:"direct_mean_ns"`
	SlowReads    int    `json:"slow_reads"`
	SlowReadMin  int64  `json:"slow_read_min_ns"`
	FastReads    int    `json:"fast_reads"`
	FastReadMax  int64  `json:"fast_read_max_ns"`
	LoopOps      int64  `json:"loop_ops"`
	LoopNSPerOp  int64  `json:"loop_ns_per_op"`
	Dir          string `json:"dir"`
	TID          int    `json:"tid"`
}

// writeSmall writes b at offset off of fd.
//
//go:noinline
func writeSmall(fd int, b []byte, off int64) error {
	_, err := syscall.Pwrite(fd, b, off)
	return err
}

// doFsync fsyncs fd and returns how long the syscall took.
//
//go:noinline
func doFsync(fd int) (time.Duration, error) {
	t0 := time.Now()
	err := syscall.Fsync(fd)
	return time.Since(t0), err
}

// directWrite writes the page-aligned block b at offset off of the
// O_DIRECT file fd and returns how long the syscall took.
//
//go:noinline
func directWrite(fd int, b []byte, off int64) (time.Duration, error) {
	t0 := time.Now()
	n, err := syscall.Pwrite(fd, b, off)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short O_DIRECT write: %d of %d bytes", n, len(b))
	}
	return time.Since(t0), err
}

// slowRead reads one byte from the blocking pipe fd, which is empty when
// it is called, and returns how long the syscall took.
//
//go:noinline
func slowRead(fd int) (time.Duration, error) {
	return readByte(fd)
}

// fastRead reads one byte from the blocking pipe fd, which holds one when
// it is called, and returns how long the syscall took.
//
//go:noinline
func fastRead(fd int) (time.Duration, error) {
	return readByte(fd)
}

func readByte(fd int) (time.Duration, error) {
	var b [1]byte
	t0 := time.Now()
	n, err := syscall.Read(fd, b[:])
	d := time.Since(t0)
	if err == nil && n != 1 {
		err = fmt.Errorf("read %d bytes from the pipe, want 1", n)
	}
	return d, err
}

// reads does k slow and k fast reads from a pipe (blocking, not Go's
// netpoller: each is one read(2) on this thread), a slow one written by
// another goroutine wait after it was asked for.
func reads(k int, wait time.Duration, r *result) error {
	if k == 0 {
		return nil
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ask := make(chan struct{})
	defer close(ask)
	go func() {
		for range ask {
			time.Sleep(wait)
			syscall.Write(p[1], []byte{1})
		}
	}()
	r.SlowReadMin = math.MaxInt64
	for range k {
		ask <- struct{}{}
		d, err := slowRead(p[0])
		if err != nil {
			return fmt.Errorf("slow read: %w", err)
		}
		r.SlowReads++
		r.SlowReadMin = min(r.SlowReadMin, int64(d))
	}
	for range k {
		if _, err := syscall.Write(p[1], []byte{1}); err != nil {
			return err
		}
		d, err := fastRead(p[0])
		if err != nil {
			return fmt.Errorf("fast read: %w", err)
		}
		r.FastReads++
		r.FastReadMax = max(r.FastReadMax, int64(d))
	}
	return nil
}

// counter, when -loop-counter is set, is a shared mapping of that file
// whose first 8 bytes hold the loop's progress (little-endian on amd64),
// so another process can sample the throughput while the loop runs.
var counter *atomic.Int64

func progress(n int64) {
	if counter != nil {
		counter.Store(n)
	}
}

// pwriteLoop writes one byte to fd with pwrite64 until d has elapsed and
// returns how many writes it made.
//
//go:noinline
func pwriteLoop(fd int, d time.Duration) (int64, error) {
	b := []byte{'x'}
	var n int64
	end := time.Now().Add(d)
	for {
		for range 1024 {
			if _, err := syscall.Pwrite(fd, b, 0); err != nil {
				return n, err
			}
		}
		n += 1024
		progress(n)
		if !time.Now().Before(end) {
			return n, nil
		}
	}
}

// getppidLoop calls getppid (a syscall the probe does not trace) until d
// has elapsed and returns how many calls it made.
//
//go:noinline
func getppidLoop(d time.Duration) int64 {
	var n int64
	end := time.Now().Add(d)
	for {
		for range 1024 {
			syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		n += 1024
		progress(n)
		if !time.Now().Before(end) {
			return n
		}
	}
}

// mapCounter maps the first page of file (created if needed) for counter.
func mapCounter(file string) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		return err
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return err
	}
	counter = (*atomic.Int64)(unsafe.Pointer(&m[0]))
	return nil
}

func stats(ds []time.Duration) (p50, mean, maxd int64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	// The median; for an even count, the mean of the two middle values.
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return int64(m), int64(sum) / int64(len(s)), int64(s[len(s)-1])
}

func fsyncs(dir string, n, size int, r *result) error {
	f, err := os.CreateTemp(dir, "fsyncer-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	var ds []time.Duration
	for i := range n {
		if err := writeSmall(fd, b, int64(i*size)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		r.Writes++
		d, err := doFsync(fd)
		if err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
		ds = append(ds, d)
	}
	r.Fsyncs = len(ds)
	r.FsyncP50NS, r.FsyncMeanNS, r.FsyncMaxNS = stats(ds)
	return nil
}

const block = 4096

func directWrites(dir string, m int, r *result) error {
	if m == 0 {
		return nil
	}
	name := filepath.Join(dir, fmt.Sprintf("fsyncer-direct-%d", os.Getpid()))
	fd, err := syscall.Open(name, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC|syscall.O_DIRECT|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s with O_DIRECT (is -dir on tmpfs?): %w", name, err)
	}
	defer os.Remove(name)
	defer syscall.Close(fd)
	// mmap memory is page-aligned, as O_DIRECT needs.
	buf, err := syscall.Mmap(-1, 0, block, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer syscall.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i)
	}
	var ds []time.Duration
	for i := range m {
		d, err := directWrite(fd, buf, int64(i*block))
		if err != nil {
			return fmt.Errorf("O_DIRECT write: %w", err)
		}
		ds = append(ds, d)
	}
	r.DirectWrites = len(ds)
	r.DirectP50NS, r.DirectMeanNS, _ = stats(ds)
	return nil
}

func loop(op, file string, d time.Duration, r *result) error {
	var (
		n   int64
		err error
	)
	t0 := time.Now()
	switch op {
	case "pwrite":
		fd, oerr := syscall.Open(file, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if oerr != nil {
			return oerr
		}
		defer syscall.Close(fd)
		t0 = time.Now()
		n, err = pwriteLoop(fd, d)
	case "getppid":
		n = getppidLoop(d)
	default:
		return fmt.Errorf("-loop-op %q: want pwrite or getppid", op)
	}
	r.LoopOps = n
	if n > 0 {
		r.LoopNSPerOp = int64(time.Since(t0)) / n
	}
	return err
}

// waitStart returns when a line arrives on stdin or delay has elapsed.
func waitStart(delay time.Duration) {
	line := make(chan bool, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		line <- err == nil
	}()
	if delay <= 0 {
		<-line // a line, or EOF: nothing else to wait for
		return
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case ok := <-line:
			if ok {
				return
			}
			line = nil // EOF: wait for the delay
		case <-timer.C:
			return
		}
	}
}

func main() {
	n := flag.Int("n", 50, "number of fsyncs, each after a small write")
	dir := flag.String("dir", os.TempDir(), "directory for the files; use one on a block device, not tmpfs")
	direct := flag.Int("direct", 0, "number of 4096-byte O_DIRECT writes after the fsyncs")
	size := flag.Int("size", 64, "bytes written before each fsync")
	slowReads := flag.Int("slow-reads", 0, "number of pipe reads that block -slow-read-wait (and as many that do not), after the O_DIRECT writes")
	slowWait := flag.Duration("slow-read-wait", 20*time.Millisecond, "how long each slow read blocks")
	delay := flag.Duration("delay", 0, "start after this long even without a line on stdin (0 = wait for stdin)")
	loopFor := flag.Duration("loop", 0, "instead, pwrite one byte to -loop-file in a tight loop for this long")
	loopFile := flag.String("loop-file", "/dev/null", "file for -loop")
	loopOp := flag.String("loop-op", "pwrite", "syscall for -loop: pwrite (to -loop-file) or getppid")
	loopCounter := flag.String("loop-counter", "", "keep the -loop progress in the first 8 bytes of this file (shared mapping)")
	flag.Parse()

	if *loopCounter != "" {
		if err := mapCounter(*loopCounter); err != nil {
			fmt.Fprintln(os.Stderr, "fsyncer:", err)
			os.Exit(1)
		}
	}

	res := make(chan error)
	ready := make(chan int)
	start := make(chan struct{})
	r := result{Dir: *dir}
	go func() {
		runtime.LockOSThread()
		ready <- syscall.Gettid()
		<-start
		if *loopFor > 0 {
			res <- loop(*loopOp, *loopFile, *loopFor, &r)
			return
		}
		if err := fsyncs(*dir, *n, *size, &r); err != nil {
			res <- err
			return
		}
		if err := directWrites(*dir, *direct, &r); err != nil {
			res <- err
			return
		}
		res <- reads(*slowReads, *slowWait, &r)
	}()
	r.TID = <-ready
	fmt.Printf("ready pid=%d tid=%d\n", os.Getpid(), r.TID)
	waitStart(*delay)
	close(start)
	if err := <-res; err != nil {
		fmt.Fprintln(os.Stderr, "fsyncer:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}
