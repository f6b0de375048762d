package symbolize

import (
	"bufio"
	"container/heap"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A JIT (node --perf-basic-prof, Java's jcmd Compiler.perfmap, python -X
// perf, .NET, LuaJIT) publishes the code it generates in
// /tmp/perf-<pid>.map, one "START SIZE name" line per function (hex start
// and size; the name is the rest of the line). It only appends, and a
// later line for the same addresses wins, as in perf. The format is three
// words; no library parses it, hence by hand.

// perfMapEntry is one function of a perf map; limit is exclusive.
type perfMapEntry struct {
	start, limit uint64
	name         string
}

// perfMap is a parsed perf map: non-overlapping entries sorted by start.
type perfMap struct {
	entries []perfMapEntry
	bad     int // lines skipped as malformed
}

// parsePerfMap parses a perf map. Malformed lines are skipped and counted;
// where entries overlap, the later line owns the addresses it covers.
func parsePerfMap(r io.Reader) (*perfMap, error) {
	var raw []perfMapEntry
	pm := &perfMap{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" {
			continue
		}
		e, ok := parsePerfMapLine(line)
		if !ok {
			pm.bad++
			continue
		}
		raw = append(raw, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading perf map: %w", err)
	}
	pm.entries = flatten(raw)
	return pm, nil
}

func parsePerfMapLine(line string) (perfMapEntry, bool) {
	startS, rest, ok := strings.Cut(line, " ")
	if !ok {
		return perfMapEntry{}, false
	}
	sizeS, name, ok := strings.Cut(rest, " ")
	if !ok || name == "" {
		return perfMapEntry{}, false
	}
	start, err1 := strconv.ParseUint(strings.TrimPrefix(startS, "0x"), 16, 64)
	size, err2 := strconv.ParseUint(strings.TrimPrefix(sizeS, "0x"), 16, 64)
	if err1 != nil || err2 != nil || size == 0 || start+size < start {
		return perfMapEntry{}, false
	}
	return perfMapEntry{start: start, limit: start + size, name: name}, true
}

// flatten turns entries in file order into non-overlapping ones sorted by
// start, each address owned by the last line covering it. Sweep over the
// boundaries, keeping the covering lines in a heap by line number.
func flatten(raw []perfMapEntry) []perfMapEntry {
	order := make([]int, len(raw))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return raw[order[a]].start < raw[order[b]].start })
	var out []perfMapEntry
	lastOwner := -1
	active := &seqHeap{}
	next := 0 // into order
	var at uint64
	for next < len(order) || active.Len() > 0 {
		// Drop the lines that ended.
		for active.Len() > 0 && raw[active.top()].limit <= at {
			heap.Pop(active)
		}
		if active.Len() == 0 {
			if next == len(order) {
				break
			}
			at = raw[order[next]].start
		}
		for next < len(order) && raw[order[next]].start <= at {
			if raw[order[next]].limit > at {
				heap.Push(active, order[next])
			}
			next++
		}
		// Drop again: lines still in the heap but ended (lazily kept).
		for active.Len() > 0 && raw[active.top()].limit <= at {
			heap.Pop(active)
		}
		if active.Len() == 0 {
			continue
		}
		owner := active.top()
		end := raw[owner].limit
		if next < len(order) && raw[order[next]].start < end {
			end = raw[order[next]].start
		}
		// An earlier line starting inside the owner splits nothing.
		if n := len(out); n > 0 && lastOwner == owner && out[n-1].limit == at {
			out[n-1].limit = end
		} else {
			out = append(out, perfMapEntry{start: at, limit: end, name: raw[owner].name})
		}
		lastOwner, at = owner, end
	}
	return out
}

// seqHeap is a max-heap of line numbers: the latest covering line on top.
type seqHeap []int

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
func (h seqHeap) top() int { return h[0] }

// lookup returns the function covering pc.
func (m *perfMap) lookup(pc uint64) (perfMapEntry, bool) {
	if m == nil {
		return perfMapEntry{}, false
	}
	i := sort.Search(len(m.entries), func(i int) bool { return m.entries[i].start > pc }) - 1
	if i >= 0 && pc < m.entries[i].limit {
		return m.entries[i], true
	}
	return perfMapEntry{}, false
}

// perfMapRecheck bounds how often a lookup miss stats the perf map: a
// profile of a JIT has many distinct unknown addresses, and one stat per
// miss would cost a syscall each.
const perfMapRecheck = 200 * time.Millisecond

// perfMapFile is the perf map of one process, re-read when it grows.
type perfMapFile struct {
	paths []string // through the target's root first, then the host's /tmp
	label string   // the Path of the frames' mapping: "[js]" for node, else "[jit]"

	mu      sync.Mutex
	size    int64 // of the file last read
	checked time.Time
	table   *perfMap
	mapping *Mapping // spans the table, for frames outside any known anonymous mapping
}

// newPerfMapFile finds where pid's perf map would be: /tmp/perf-<nspid>.map
// in the target's mount namespace (nspid: its pid in its own pid
// namespace), else the host's /tmp/perf-<pid>.map. exe names the runtime.
func newPerfMapFile(pid int, exe string) *perfMapFile {
	nspid := nsPID(pid)
	f := &perfMapFile{label: jitLabel(exe)}
	f.paths = []string{
		fmt.Sprintf("/proc/%d/root/tmp/perf-%d.map", pid, nspid),
		fmt.Sprintf("/tmp/perf-%d.map", pid),
	}
	return f
}

// jitLabel names the runtime behind a JIT's frames by its executable.
func jitLabel(exe string) string {
	switch filepath.Base(strings.TrimSuffix(exe, " (deleted)")) {
	case "node", "nodejs":
		return "[js]"
	}
	return "[jit]"
}

// nsPID returns pid's pid in its own pid namespace: the last NSpid field
// of /proc/PID/status (pid itself when unknown).
func nsPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return pid
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return pid
			}
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				return n
			}
			return pid
		}
	}
	return pid
}

// reload re-reads the perf map when its size changed since the last read,
// and reports whether the table changed.
func (f *perfMapFile) reload() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = time.Now()
	for _, path := range f.paths {
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if st.Size() == f.size && f.table != nil {
			return false
		}
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		table, err := parsePerfMap(fh)
		fh.Close()
		if err != nil {
			return false // keep the table we have
		}
		f.table, f.size = table, st.Size()
		f.mapping = nil
		if n := len(table.entries); n > 0 {
			f.mapping = &Mapping{Start: table.entries[0].start, Limit: table.entries[n-1].limit, Path: f.label}
		}
		return true
	}
	return false
}

// lookup names pc from the perf map, re-reading it (at most once per
// perfMapRecheck) on a miss; reloaded reports a re-read table.
func (f *perfMapFile) lookup(pc uint64) (e perfMapEntry, fallback *Mapping, ok, reloaded bool) {
	f.mu.Lock()
	e, ok = f.table.lookup(pc)
	fallback = f.mapping
	stale := !ok && time.Since(f.checked) >= perfMapRecheck
	f.mu.Unlock()
	if !stale {
		return e, fallback, ok, false
	}
	if !f.reload() {
		return e, fallback, ok, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok = f.table.lookup(pc)
	return e, f.mapping, ok, true
}

// anonExecutable reports whether e is anonymous code: an executable
// mapping with no file, where a JIT puts what it compiles.
func (e *mapsEntry) anonExecutable() bool {
	return len(e.perms) >= 3 && e.perms[2] == 'x' && (e.path == "" || strings.HasPrefix(e.path, "[anon"))
}

// symbolizeJIT names pc, which is in no file mapping, from the process's
// perf map. The frame's mapping is the anonymous executable mapping
// holding pc, labelled with the runtime ([js], [jit]); when pc is in none
// known (code pages mapped since the last Refresh, or writable at that
// moment under W^X) it is one mapping spanning the perf map. reloaded
// reports that the perf map was re-read, so cached frames are stale.
func symbolizeJIT(perf *perfMapFile, anon []*Mapping, addr, pc uint64) (f Frame, ok, reloaded bool) {
	e, fallback, ok, reloaded := perf.lookup(pc)
	if !ok {
		return Frame{}, false, reloaded
	}
	f = Frame{Addr: addr, Function: e.name, Known: true, Mapping: fallback}
	if m := findMapping(anon, pc); m != nil {
		f.Mapping = m
	}
	return f, true, reloaded
}

// findMapping returns the mapping of sorted maps containing pc, or nil.
func findMapping(maps []*Mapping, pc uint64) *Mapping {
	i := sort.Search(len(maps), func(i int) bool { return maps[i].Start > pc }) - 1
	if i >= 0 && pc < maps[i].Limit {
		return maps[i]
	}
	return nil
}

// loaded reports whether a perf map was found and read.
func (f *perfMapFile) loaded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.table != nil
}

// anonMappings returns the anonymous executable mappings among entries,
// labelled with the runtime and sorted by address, reusing old's for
// the ranges that did not change (the profile keys mappings by pointer).
func anonMappings(entries []mapsEntry, old []*Mapping, label string) []*Mapping {
	byRange := make(map[[2]uint64]*Mapping, len(old))
	for _, m := range old {
		byRange[[2]uint64{m.Start, m.Limit}] = m
	}
	var out []*Mapping
	for i := range entries {
		e := &entries[i]
		if !e.anonExecutable() {
			continue
		}
		m := byRange[[2]uint64{e.start, e.limit}]
		if m == nil {
			m = &Mapping{Start: e.start, Limit: e.limit, Path: label}
		}
		out = append(out, m)
	}
	return out // /proc/PID/maps is sorted by address
}
