package symbolize

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mapsEntry is one line of /proc/PID/maps.
type mapsEntry struct {
	start, limit, offset uint64
	perms                string
	dev                  string // "major:minor" in hex, as printed
	inode                uint64
	path                 string // may be empty (anonymous), "[vdso]", or end in " (deleted)"
}

// executable reports whether the mapping can hold code we can name: an
// executable mapping backed by a file or by a kernel pseudo file ([vdso]).
func (e *mapsEntry) executable() bool {
	return len(e.perms) >= 3 && e.perms[2] == 'x' &&
		(strings.HasPrefix(e.path, "/") || strings.HasPrefix(e.path, "["))
}

// parseMaps parses the /proc/PID/maps format, for example
//
//	55d0c8a00000-55d0c8a9f000 r-xp 00001000 fd:01 1234   /usr/bin/prog
//
// The format is four words and a path; no library parses it, hence by hand.
func parseMaps(r io.Reader) ([]mapsEntry, error) {
	var out []mapsEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		e, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("parsing maps line %d %q: %w", n, line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseMapsLine(line string) (mapsEntry, error) {
	var e mapsEntry
	rest := line
	var fields [5]string
	for i := range fields {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return e, fmt.Errorf("want at least 5 fields")
			}
			j = len(rest)
		}
		fields[i], rest = rest[:j], rest[j:]
	}
	e.path = strings.TrimLeft(rest, " ")

	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return e, fmt.Errorf("bad address range %q", fields[0])
	}
	var err error
	if e.start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return e, err
	}
	if e.limit, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return e, err
	}
	if e.limit <= e.start {
		return e, fmt.Errorf("empty address range %q", fields[0])
	}
	e.perms = fields[1]
	if e.offset, err = strconv.ParseUint(fields[2], 16, 64); err != nil {
		return e, err
	}
	e.dev = fields[3]
	if e.inode, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
		return e, err
	}
	return e, nil
}
