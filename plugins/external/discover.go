package external

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prefix starts every external plugin's file name: perfprobe-plugin-<name>.
const Prefix = "perfprobe-plugin-"

// candidate is one plugin to run, or one that was asked for and cannot.
type candidate struct {
	name string // without Prefix: "bigframe"
	path string // the file as found
	real string // path with symlinks resolved: what is checked and run
	err  string // why it cannot run ("" when it can)
}

// discover lists the plugins Listed names, in that order, then (unless
// NoPath) those on the PATH: by directory in PATH order, by name within a
// directory. A name runs once: the first file found under it wins, as a
// shell's lookup would, and a file reached twice (a symlink, a directory
// twice in PATH) runs once.
func discover(opts Options) []candidate {
	path := opts.Path
	if path == "" {
		path = os.Getenv("PATH")
	}
	var dirs []string
	seenDir := map[string]bool{}
	for _, d := range filepath.SplitList(path) {
		// A relative entry ("", ".") would run whatever the working
		// directory holds; a shell's lookup allows it, we do not.
		if !filepath.IsAbs(d) {
			continue
		}
		d = filepath.Clean(d)
		if !seenDir[d] {
			seenDir[d] = true
			dirs = append(dirs, d)
		}
	}

	var out []candidate
	byName := map[string]bool{} // names taken, also by listed plugins that cannot run
	byReal := map[string]bool{}
	add := func(c candidate) {
		if c.err == "" && byReal[c.real] {
			return
		}
		if c.err == "" && byName[c.name] {
			c.err = "a plugin listed before it has the same name"
		}
		byName[c.name] = true
		if c.err == "" {
			byReal[c.real] = true
		}
		out = append(out, c)
	}

	seenListed := map[string]bool{}
	for _, l := range opts.Listed {
		key := l
		if strings.ContainsRune(l, '/') {
			key, _ = filepath.Abs(l)
		} else {
			key = Prefix + strings.TrimPrefix(l, Prefix)
		}
		if seenListed[key] {
			continue
		}
		seenListed[key] = true
		if strings.ContainsRune(l, '/') {
			add(atPath(l))
			continue
		}
		name := strings.TrimPrefix(l, Prefix)
		if name == "" {
			out = append(out, candidate{name: l, err: "a plugin name is needed after " + Prefix})
			continue
		}
		c := candidate{name: name, err: "not found on PATH"}
		for _, d := range dirs {
			if f := filepath.Join(d, Prefix+name); executable(f) {
				c = atPath(f)
				break
			}
		}
		add(c)
	}
	if opts.NoPath {
		return out
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d) // sorted by name
		if err != nil {
			continue
		}
		for _, e := range ents {
			name, ok := strings.CutPrefix(e.Name(), Prefix)
			if !ok || name == "" {
				continue
			}
			f := filepath.Join(d, e.Name())
			if byName[name] || !executable(f) {
				continue
			}
			add(atPath(f))
		}
	}
	return out
}

// atPath is the candidate for a file given by path.
func atPath(p string) candidate {
	name := strings.TrimPrefix(filepath.Base(p), Prefix)
	if name == "" {
		name = filepath.Base(p)
	}
	c := candidate{name: name, path: p}
	abs, err := filepath.Abs(p)
	if err != nil {
		c.err = "cannot resolve " + p + ": " + err.Error()
		return c
	}
	c.path = abs
	fi, err := os.Stat(abs)
	switch {
	case os.IsNotExist(err):
		c.err = "no file " + abs
		return c
	case err != nil:
		c.err = oneLine(err.Error(), 200)
		return c
	case !fi.Mode().IsRegular():
		c.err = abs + " is not a regular file"
		return c
	case fi.Mode().Perm()&0o111 == 0:
		c.err = fmt.Sprintf("%s is not executable (mode %04o)", abs, fi.Mode().Perm())
		return c
	}
	if c.real, err = filepath.EvalSymlinks(abs); err != nil {
		c.err = oneLine(err.Error(), 200)
	}
	return c
}

// executable reports whether p is a regular file with an execute bit.
func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
