package symbolize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Debuginfod settings. The client is off unless DEBUGINFOD_URLS (servers
// separated by spaces) is set when a stripped binary without a local debug
// file is loaded.
var (
	DebuginfodTimeout    = 5 * time.Second // per fetch, connection to last byte
	DebuginfodCacheBytes = int64(2 << 30)  // the cache is trimmed to this, oldest files first
	// DebuginfodWarn, if set, is told when a server fails (not a 404); the
	// server is then skipped for a minute, and the frames it would have
	// named stay unsymbolized. The same line reaches Process.Warnings of
	// every process mapping a binary that needed the server meanwhile.
	DebuginfodWarn func(msg string)
)

var (
	debuginfodMu   sync.Mutex
	debuginfodDown = map[string]serverDown{} // servers that failed, skipped until a time
)

// serverDown is a debuginfod server that failed: skipped until a time,
// and what is said to the captures that would have used it.
type serverDown struct {
	until time.Time
	msg   string
}

// debuginfodDir is the cache directory: $XDG_CACHE_HOME/perfprobe/debuginfod,
// else /var/cache/perfprobe/debuginfod.
func debuginfodDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "perfprobe", "debuginfod")
	}
	return "/var/cache/perfprobe/debuginfod"
}

// debuginfodFile returns the path of the debug file with build id id, from
// the cache or fetched from the DEBUGINFOD_URLS servers, or "". warnings
// say which servers failed (or were skipped after failing), one line each.
func debuginfodFile(id string) (p string, warnings []string) {
	urls := strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	if len(urls) == 0 || len(id) < 2 || !isHex(id) {
		return "", nil
	}
	dir := debuginfodDir()
	p = filepath.Join(dir, id+".debug")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	for _, u := range urls {
		debuginfodMu.Lock()
		down, skip := debuginfodDown[u]
		skip = skip && time.Now().Before(down.until)
		debuginfodMu.Unlock()
		if skip {
			warnings = append(warnings, down.msg)
			continue
		}
		err := fetchDebuginfo(strings.TrimSuffix(u, "/")+"/buildid/"+id+"/debuginfo", dir, p)
		if err == nil {
			trimCache(dir, DebuginfodCacheBytes)
			return p, warnings
		}
		if !errors.Is(err, errNotFound) {
			msg := fmt.Sprintf("debuginfod server %s: %v; frames of stripped binaries it would name stay addresses: check that server or remove it from DEBUGINFOD_URLS (it is tried again after a minute)", u, err)
			debuginfodMu.Lock()
			debuginfodDown[u] = serverDown{time.Now().Add(time.Minute), msg}
			debuginfodMu.Unlock()
			warnings = append(warnings, msg)
			if DebuginfodWarn != nil {
				DebuginfodWarn(msg)
			}
		}
	}
	return "", warnings
}

var errNotFound = errors.New("not found")

// fetchDebuginfo downloads url into dst through a temporary file in dir.
// Its errors say what failed without repeating the URL.
func fetchDebuginfo(url, dir, dst string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DebuginfodTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fetchError(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotFound
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("answered %s", resp.Status)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the debuginfod cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return fmt.Errorf("creating the debuginfod cache file: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, DebuginfodCacheBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fetchError(ctx, err)
	}
	if n > DebuginfodCacheBytes {
		return fmt.Errorf("a debug file larger than the cache (%d bytes)", DebuginfodCacheBytes)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("storing %s: %w", dst, err)
	}
	return nil
}

// trimCache removes the oldest cached debug files until the rest fit in max bytes.
func trimCache(dir string, max int64) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".debug") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			files = append(files, file{filepath.Join(dir, e.Name()), fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if total <= max {
			return
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

// fetchError words a failed request: a timeout as such, else the cause
// without the URL the client wraps it in.
func fetchError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", DebuginfodTimeout)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
