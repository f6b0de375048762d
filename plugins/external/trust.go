package external

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// trust checks a plugin's file before root starts it: no one but root and
// the invoking user may have written it or be able to swap it. path has
// its symlinks resolved.
func trust(path string, id identity) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot read the owner of %s", path)
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0:
		return fmt.Errorf("refused: %s is world-writable (mode %04o)", path, perm)
	case perm&0o020 != 0:
		return fmt.Errorf("refused: %s is group-writable (mode %04o)", path, perm)
	case st.Uid != 0 && int64(st.Uid) != int64(id.invoker):
		who := "root"
		if id.invoker >= 0 {
			who = fmt.Sprintf("root or the invoking user (uid %d)", id.invoker)
		}
		return fmt.Errorf("refused: %s is owned by uid %d, not %s", path, st.Uid, who)
	}
	// Every directory up to /: one that anyone may write to, without the
	// sticky bit, lets anyone rename the file or a directory on the way.
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		di, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if di.Mode().Perm()&0o002 != 0 && di.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("refused: %s is in %s, which is world-writable without the sticky bit", filepath.Base(path), dir)
		}
		if dir == "/" {
			return nil
		}
	}
}

// readableBy reports whether id can read the file at path, from the mode
// bits of the file and of the directories above it (ACLs are not read:
// they are rare on capture directories, and a plugin that cannot read the
// profile says so in its own error).
func readableBy(path string, id identity) bool {
	if !id.root {
		return syscall.Access(path, 4 /* R_OK */) == nil
	}
	if id.uid == 0 {
		return true
	}
	can := func(p string, bit os.FileMode) bool {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		perm := fi.Mode().Perm()
		switch {
		case st.Uid == id.uid:
			return perm&(bit<<6) != 0
		case st.Gid == id.gid:
			return perm&(bit<<3) != 0
		}
		return perm&bit != 0
	}
	if !can(path, 4) {
		return false
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if !can(dir, 1) {
			return false
		}
		if dir == "/" {
			return true
		}
	}
}
