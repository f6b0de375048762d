package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	ext        = ".pb.gz"
	tmpPrefix  = ".tmp-"
	markerName = ".perfprobe-store"
	dayLayout  = "2006-01-02"
)

// serviceDir maps a service name to its directory name: bytes outside
// [A-Za-z0-9._-] and a leading '.' become '_', and an empty name is "_",
// so no name is hidden, empty, "." or "..".
func serviceDir(service string) string {
	if service == "" {
		return "_"
	}
	b := []byte(service)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.' && i > 0:
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// fileName is the name of a window's file.
func fileName(start, end time.Time, pid int) string {
	return fmt.Sprintf("%d-%d-%d%s", start.UnixMilli(), end.UnixMilli(), pid, ext)
}

// parseName reads a window's file name back. It accepts only the names
// fileName writes: three unsigned decimal numbers without leading zeros,
// start <= end.
func parseName(name string) (start, end time.Time, pid int, ok bool) {
	rest, found := strings.CutSuffix(name, ext)
	if !found {
		return
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return
	}
	var n [3]int64
	for i, s := range parts {
		if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
			return
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return
		}
		n[i] = v
	}
	if n[0] > n[1] || n[2] > 1<<31-1 {
		return
	}
	return time.UnixMilli(n[0]), time.UnixMilli(n[1]), int(n[2]), true
}
