package tls

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// OpenSSL and BoringSSL functions the probe hooks. Only SSL_do_handshake
// is required; SSL_connect and SSL_accept call it, the others tell the
// side and the end of a handshake that never succeeded.
const (
	fnDoHandshake       = "SSL_do_handshake"
	fnFree              = "SSL_free"
	fnConnect           = "SSL_connect"
	fnAccept            = "SSL_accept"
	fnSetConnectState   = "SSL_set_connect_state"
	fnSetAcceptState    = "SSL_set_accept_state"
	sslLibraryPrefix    = "libssl"
	boringLibrarySubstr = "boringssl"
)

var sslNames = []string{fnDoHandshake, fnFree, fnConnect, fnAccept, fnSetConnectState, fnSetAcceptState}

// sslSites is one object file of the target holding SSL_do_handshake.
type sslSites struct {
	name  string // as the target sees it, for messages
	path  string // where the uprobes attach (through /proc/PID/...)
	funcs map[string]symbolize.Func
}

// sslPlan finds OpenSSL or BoringSSL in the target: linked into its
// executable (exeFuncs, already looked up) or as a libssl shared library
// mapped in /proc/PID/maps, opened through /proc/PID/root (or
// /proc/PID/map_files when that path is not the mapped file), so targets in
// other mount namespaces work. Before an exec (preExec: exe is the file
// about to run, nothing is mapped yet) the libssl the executable needs is
// found the way the dynamic loader would. A library without the symbol is
// left out with a note.
func sslPlan(pid int, exe string, preExec bool, exeFuncs map[string]symbolize.Func) (sites []sslSites, notes []string) {
	if f, ok := exeFuncs[fnDoHandshake]; ok && !f.Go {
		sites = append(sites, sslSites{name: exe, path: exe, funcs: exeFuncs})
	}
	libs, err := sslLibraries(pid)
	if preExec {
		libs, err = neededSSLLibraries(exe)
	}
	if err != nil {
		return sites, append(notes, fmt.Sprintf("OpenSSL libraries not looked for: %v", err))
	}
	for _, lib := range libs {
		funcs, err := symbolize.FindFuncs(lib.path, sslNames...)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not probed: %v", lib.name, err))
			continue
		}
		if _, ok := funcs[fnDoHandshake]; !ok {
			notes = append(notes, fmt.Sprintf("%s not probed: no %s symbol in it (stripped, or not OpenSSL/BoringSSL)", lib.name, fnDoHandshake))
			continue
		}
		sites = append(sites, sslSites{name: lib.name, path: lib.path, funcs: funcs})
	}
	return sites, notes
}

// libraryDirs are where the dynamic loader looks by default on the
// distributions we run on, after LD_LIBRARY_PATH.
var libraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

// neededSSLLibraries resolves the libssl an executable names in its
// DT_NEEDED entries, searching LD_LIBRARY_PATH, its RUNPATH/RPATH and the
// default directories (not ld.so.cache: the defaults cover the
// distributions' own libssl).
func neededSSLLibraries(exe string) ([]mappedLib, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, nil // static executable
	}
	var dirs []string
	if v := os.Getenv("LD_LIBRARY_PATH"); v != "" {
		dirs = append(dirs, filepath.SplitList(v)...)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		if paths, err := f.DynString(tag); err == nil {
			for _, p := range paths {
				dirs = append(dirs, filepath.SplitList(strings.ReplaceAll(p, "$ORIGIN", filepath.Dir(exe)))...)
			}
		}
	}
	dirs = append(dirs, libraryDirs...)
	var out []mappedLib
	for _, lib := range needed {
		if !strings.HasPrefix(lib, sslLibraryPrefix) && !strings.Contains(lib, boringLibrarySubstr) {
			continue
		}
		for _, d := range dirs {
			path := filepath.Join(d, lib)
			if _, err := os.Stat(path); err == nil {
				out = append(out, mappedLib{name: path, path: path})
				break
			}
		}
	}
	return out, nil
}

type mappedLib struct {
	name, path string
}

// sslLibraries lists the distinct libssl files mapped executable in pid.
func sslLibraries(pid int) ([]mappedLib, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mappedLib
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		i := strings.Index(line, " /")
		if len(fields) < 6 || i < 0 || len(fields[1]) < 3 || fields[1][2] != 'x' {
			continue
		}
		name := line[i+1:]
		base := filepath.Base(strings.TrimSuffix(name, " (deleted)"))
		if !strings.HasPrefix(base, sslLibraryPrefix) && !strings.Contains(base, boringLibrarySubstr) {
			continue
		}
		id := fields[3] + ":" + fields[4] // device and inode
		if seen[id] {
			continue
		}
		seen[id] = true
		inode, _ := strconv.ParseUint(fields[4], 10, 64)
		out = append(out, mappedLib{name: name, path: openablePath(pid, name, fields[0], inode)})
	}
	return out, sc.Err()
}

// openablePath returns a path to the file mapped at addrRange in pid:
// /proc/PID/root/<name> when that is still the mapped inode, else the
// mapping's /proc/PID/map_files link (deleted or replaced files).
func openablePath(pid int, name, addrRange string, inode uint64) string {
	root := fmt.Sprintf("/proc/%d/root%s", pid, name)
	var st syscall.Stat_t
	if !strings.HasSuffix(name, " (deleted)") && syscall.Stat(root, &st) == nil && st.Ino == inode {
		return root
	}
	return fmt.Sprintf("/proc/%d/map_files/%s", pid, addrRange)
}
