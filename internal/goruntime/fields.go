package goruntime

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/perfprobe/perfprobe/internal/dwarfunit"
)

// Fields names the struct fields wanted per Go struct type, e.g.
// {"runtime.g": {"m", "sched"}}; StructFields fills in their offsets.
type Fields map[string]map[string]int64

// Want returns the Fields for types and their field names, offsets unset.
func Want(types map[string][]string) Fields {
	f := Fields{}
	for t, names := range types {
		f[t] = map[string]int64{}
		for _, n := range names {
			f[t][n] = -1
		}
	}
	return f
}

// StructFields reads the offsets of the wanted fields from the DWARF of
// the executable ef. Only .debug_abbrev and .debug_info (with the small
// sections DWARF 5 forms refer to) are read, and the compile units of the
// types' packages first, where Go's compiler puts a package's types:
// reading the whole DWARF took 0.1-0.3 s of attach for one binary.
// What it reads of the executable at path is kept for a few seconds, as
// several probes ask about the same one when they attach.
func StructFields(path string, want Fields) error {
	d, units, err := cachedTypeDWARF(path)
	if err != nil {
		return err
	}
	pkgs := map[string]bool{}
	for t := range want {
		pkgs[packageOf(t)] = true
	}
	var rest []dwarf.Offset
	for _, off := range units {
		r := d.Reader()
		r.Seek(off)
		cu, err := r.Next()
		if err != nil || cu == nil {
			return fmt.Errorf("reading DWARF: %v", err)
		}
		if name, _ := cu.Val(dwarf.AttrName).(string); !pkgs[name] {
			rest = append(rest, off)
			continue
		}
		if _, err := unitFields(r, want); err != nil {
			return err
		}
		if want.complete() {
			return nil
		}
	}
	for _, off := range rest { // not where Go puts them: look everywhere
		r := d.Reader()
		r.Seek(off)
		if _, err := r.Next(); err != nil {
			return fmt.Errorf("reading DWARF: %v", err)
		}
		if _, err := unitFields(r, want); err != nil {
			return err
		}
		if want.complete() {
			return nil
		}
	}
	return want.missing()
}

// FieldsFromDWARF is StructFields over all of d.
func FieldsFromDWARF(d *dwarf.Data, want Fields) error {
	r := d.Reader()
	e, err := r.Next()
	for ; err == nil && e != nil && !want.complete(); e, err = unitFields(r, want) {
	}
	if err != nil {
		return err
	}
	return want.missing()
}

// unitFields reads the entries of the compile unit r is in, just after its
// unit entry, up to the next unit, whose entry it returns (nil at the end).
func unitFields(r *dwarf.Reader, want Fields) (*dwarf.Entry, error) {
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("reading DWARF: %w", err)
		}
		if e == nil || e.Tag == dwarf.TagCompileUnit {
			return e, nil
		}
		if e.Tag == 0 {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		fields, ok := want[name]
		if e.Tag != dwarf.TagStructType || !ok || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		for {
			m, err := r.Next()
			if err != nil {
				return nil, fmt.Errorf("reading DWARF %s: %w", name, err)
			}
			if m == nil || m.Tag == 0 {
				break
			}
			if m.Tag == dwarf.TagMember {
				fname, _ := m.Val(dwarf.AttrName).(string)
				if _, ok := fields[fname]; ok {
					off, ok := m.Val(dwarf.AttrDataMemberLoc).(int64)
					if !ok || off < 0 {
						return nil, fmt.Errorf("DWARF %s.%s has no constant offset", name, fname)
					}
					fields[fname] = off
				}
			}
			if m.Children {
				r.SkipChildren()
			}
		}
	}
}

func (w Fields) complete() bool { return w.missing() == nil }

func (w Fields) missing() error {
	var miss []string
	for t, fields := range w {
		for f, off := range fields {
			if off < 0 {
				miss = append(miss, t+"."+f)
			}
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("no %s in its DWARF", strings.Join(miss, ", "))
}

// packageOf returns the package path of Go type name t ("crypto/tls.Conn":
// "crypto/tls").
func packageOf(t string) string {
	slash := strings.LastIndexByte(t, '/') + 1
	if dot := strings.IndexByte(t[slash:], '.'); dot >= 0 {
		return t[:slash+dot]
	}
	return t
}

// fileID tells files apart, and the same file after a rebuild.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// typeCache holds the last executable's type DWARF for typeCacheFor
// after its last use: one binary's .debug_info (a few MB), not more.
var typeCache struct {
	sync.Mutex
	id    fileID
	d     *dwarf.Data
	units []dwarf.Offset
	drop  *time.Timer
}

const typeCacheFor = 10 * time.Second

func cachedTypeDWARF(path string) (*dwarf.Data, []dwarf.Offset, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	id := fileID{uint64(st.Dev), st.Ino, st.Size, st.Mtim.Nano()}
	c := &typeCache
	c.Lock()
	defer c.Unlock()
	if c.d == nil || c.id != id {
		ef, err := elf.Open(path)
		if err != nil {
			return nil, nil, err
		}
		d, units, err := typeDWARF(ef)
		ef.Close()
		if err != nil {
			return nil, nil, err
		}
		c.id, c.d, c.units = id, d, units
	}
	if c.drop != nil {
		c.drop.Stop()
	}
	c.drop = time.AfterFunc(typeCacheFor, func() {
		c.Lock()
		defer c.Unlock()
		if c.id == id {
			c.d, c.units = nil, nil
		}
	})
	return c.d, c.units, nil
}

// typeDWARF returns the DWARF of ef made of the sections that type
// entries need, and its compile units' offsets.
func typeDWARF(ef *elf.File) (*dwarf.Data, []dwarf.Offset, error) {
	read := func(name string) ([]byte, error) {
		s := ef.Section(".debug_" + name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil, nil
		}
		return s.Data() // inflates SHF_COMPRESSED sections
	}
	info, err := read("info")
	if err != nil {
		return nil, nil, err
	}
	abbrev, err := read("abbrev")
	if err != nil {
		return nil, nil, err
	}
	if info == nil || abbrev == nil {
		return nil, nil, errors.New("no DWARF")
	}
	str, err := read("str")
	if err != nil {
		return nil, nil, err
	}
	d, err := dwarf.New(abbrev, nil, nil, info, nil, nil, nil, str)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range []string{"addr", "str_offsets", "line_str"} {
		b, err := read(n)
		if err != nil {
			return nil, nil, err
		}
		if b != nil {
			if err := d.AddSection(".debug_"+n, b); err != nil {
				return nil, nil, err
			}
		}
	}
	var units []dwarf.Offset
	for _, h := range dwarfunit.Headers(info, ef.ByteOrder) {
		units = append(units, h.Entry)
	}
	return d, units, nil
}
