package capture

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/perfprobe/perfprobe/profile"
)

// metas reads what the diagnosis needs to know about each target
// (profile.TargetMeta): its language and Go runtime, the CPUs it may use,
// GOMAXPROCS, and its cgroup's CPU quota, with the cgroup's counters read
// when it becomes a target and again when the window ends, so that
// capture.json holds their deltas over the window.
type metas struct {
	root string // the file system root /proc and /sys are read under: "/" but in tests

	mu    sync.Mutex
	byPID map[int]*targetMeta
	langs map[string]language // by executable (device, inode): forks share one
}

// targetMeta is one target's metadata and its cgroup's counters at the
// start of the current window.
type targetMeta struct {
	meta  profile.TargetMeta
	cg    *cgroupFiles // nil: no cgroup CPU controller to read
	start cgroupCounters
	err   error // reading the cgroup counters at the start
}

func newMetas(root string) *metas {
	return &metas{root: root, byPID: map[int]*targetMeta{}, langs: map[string]language{}}
}

// track reads pid's metadata and its cgroup's counters the first time pid
// is seen; later calls do nothing.
func (ms *metas) track(pid int) {
	if ms == nil {
		return
	}
	ms.mu.Lock()
	_, seen := ms.byPID[pid]
	ms.mu.Unlock()
	if seen {
		return
	}
	tm := ms.read(pid)
	ms.mu.Lock()
	if ms.byPID[pid] == nil {
		ms.byPID[pid] = tm
	}
	ms.mu.Unlock()
}

// forget drops the metadata of every pid not in keep.
func (ms *metas) forget(keep map[int]bool) {
	if ms == nil {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for pid := range ms.byPID {
		if !keep[pid] {
			delete(ms.byPID, pid)
		}
	}
}

// fill sets Meta on the targets of c that track saw, with the cgroup's
// counters since the window began, and starts the next window there (for
// Drain).
func (ms *metas) fill(c *profile.Capture) {
	if ms == nil {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i := range c.Targets {
		t := &c.Targets[i]
		tm := ms.byPID[t.PID]
		if tm == nil {
			continue
		}
		m := tm.meta
		if tm.cg != nil {
			end, err := tm.cg.counters()
			cg := tm.cg.static
			switch {
			case tm.err != nil:
				c.Warnings = append(c.Warnings, fmt.Sprintf("cgroup of pid %d: reading %s at the start: %v; its throttling is not known", t.PID, cg.Path, tm.err))
			case err != nil:
				c.Warnings = append(c.Warnings, fmt.Sprintf("cgroup of pid %d: reading %s at the end: %v; its throttling is not known", t.PID, cg.Path, err))
			default:
				d := end.since(tm.start)
				cg.Periods, cg.Throttled, cg.ThrottledNs, cg.UsageNs = d.periods, d.throttled, d.throttledNs, d.usageNs
			}
			m.Cgroup = &cg
			if err == nil {
				tm.start, tm.err = end, nil
			}
		}
		t.Meta = &m
	}
	if len(c.Targets) > 0 {
		c.Target.Meta = c.Targets[0].Meta
	}
}

// read reads pid's metadata now.
func (ms *metas) read(pid int) *targetMeta {
	proc := ms.path("proc", strconv.Itoa(pid))
	tm := &targetMeta{}
	tm.meta.CPUs = cpusAllowed(filepath.Join(proc, "status"))
	tm.meta.NSPID = nsPID(filepath.Join(proc, "status"))
	tm.meta.CgroupPath = cgroupPath(filepath.Join(proc, "cgroup"))
	tm.meta.Container = containerName(tm.meta.CgroupPath)
	lang := ms.language(filepath.Join(proc, "exe"))
	tm.meta.Language, tm.meta.GoVersion = lang.name, lang.goVersion
	env := environ(filepath.Join(proc, "environ"))
	if cg, err := ms.cgroup(pid); err == nil {
		tm.cg = cg
		tm.start, tm.err = cg.counters()
	}
	if lang.name == "go" {
		tm.meta.GOMAXPROCS, tm.meta.GOMAXPROCSFrom = gomaxprocs(lang, env, tm.meta.CPUs, tm.cg)
	}
	return tm
}

func (ms *metas) path(parts ...string) string {
	return filepath.Join(append([]string{ms.root}, parts...)...)
}

// cpusAllowed counts the CPUs of Cpus_allowed_list in a /proc status file
// (0 when unreadable).
func cpusAllowed(status string) int {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return countCPUList(strings.TrimSpace(v))
		}
	}
	return 0
}

// countCPUList counts the CPUs of a list such as "0-3,8,10-11".
func countCPUList(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		n += b - a + 1
	}
	return n
}

// environ reads a /proc environ file into a map (nil when unreadable).
func environ(file string) map[string]string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// language is what the executable says about the program's language.
type language struct {
	name      string // "go", "c", "c++", "rust", or an interpreter's language
	goVersion string // "go1.26.1"
	godebug   string // the build's default GODEBUG settings
}

// interpreters name the language of well-known interpreters by the
// prefix of their executable's name.
var interpreters = []struct{ prefix, lang string }{
	{"python", "python"}, {"node", "javascript"}, {"java", "java"}, {"ruby", "ruby"}, {"perl", "perl"}, {"php", "php"},
}

// language reads the executable exe (a /proc/PID/exe link): Go from its
// build information, else a guess from its ELF file: Rust from rustc's
// .comment or its runtime's symbols, C++ from libstdc++/libc++ or the C++
// ABI's symbols, else C. Results are kept per file.
func (ms *metas) language(exe string) language {
	key := exe
	if st, err := os.Stat(exe); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			key = fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
		}
	}
	ms.mu.Lock()
	l, ok := ms.langs[key]
	ms.mu.Unlock()
	if ok {
		return l
	}
	l = readLanguage(exe)
	ms.mu.Lock()
	ms.langs[key] = l
	ms.mu.Unlock()
	return l
}

func readLanguage(exe string) language {
	if bi, err := buildinfo.ReadFile(exe); err == nil {
		l := language{name: "go", goVersion: bi.GoVersion}
		for _, s := range bi.Settings {
			if s.Key == "DefaultGODEBUG" {
				l.godebug = s.Value
			}
		}
		return l
	}
	if target, err := os.Readlink(exe); err == nil {
		base := filepath.Base(strings.TrimSuffix(target, " (deleted)"))
		for _, in := range interpreters {
			if strings.HasPrefix(base, in.prefix) {
				return language{name: in.lang}
			}
		}
	}
	f, err := elf.Open(exe)
	if err != nil {
		return language{}
	}
	defer f.Close()
	if s := f.Section(".comment"); s != nil {
		if b, err := s.Data(); err == nil && bytes.Contains(b, []byte("rustc ")) {
			return language{name: "rust"}
		}
	}
	libs, _ := f.ImportedLibraries()
	for _, lib := range libs {
		if strings.HasPrefix(lib, "libstdc++") || strings.HasPrefix(lib, "libc++") {
			return language{name: "c++"}
		}
	}
	dyn, _ := f.DynamicSymbols()
	syms, _ := f.Symbols()
	for _, s := range append(dyn, syms...) {
		switch {
		case s.Name == "rust_eh_personality" || strings.HasPrefix(s.Name, "__rust_"):
			return language{name: "rust"}
		case s.Name == "__gxx_personality_v0" || strings.HasPrefix(s.Name, "_ZNSt"):
			return language{name: "c++"}
		}
	}
	return language{name: "c"}
}

// gomaxprocs is the Go target's GOMAXPROCS when it can be known from
// outside: the GOMAXPROCS environment variable, else the runtime's default
// (a program that calls runtime.GOMAXPROCS itself is not seen). From Go
// 1.25 on the default is the CPUs the process may use, lowered to the
// cgroup's CPU quota rounded up, and never under 2 because of it
// (runtime.defaultGOMAXPROCS), unless GODEBUG containermaxprocs=0; before,
// it is the CPUs.
func gomaxprocs(l language, env map[string]string, cpus int, cg *cgroupFiles) (int, string) {
	if v, err := strconv.Atoi(env["GOMAXPROCS"]); err == nil && v > 0 {
		return v, "env"
	}
	if cpus == 0 {
		return 0, ""
	}
	n := cpus
	if goAtLeast(l.goVersion, 1, 25) && cg != nil && cg.static.QuotaCPUs > 0 && !containerMaxprocsOff(l.godebug, env["GODEBUG"]) {
		n = min(cpus, max(2, int(math.Ceil(cg.static.QuotaCPUs))))
	}
	return n, "default"
}

// containerMaxprocsOff reports whether the build's default GODEBUG or the
// environment's turns the cgroup-aware default off (the environment wins).
func containerMaxprocsOff(defaults, env string) bool {
	off := false
	for _, list := range []string{defaults, env} {
		for _, kv := range strings.Split(list, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "containermaxprocs" {
				off = v == "0"
			}
		}
	}
	return off
}

// goAtLeast reports whether a Go version such as "go1.25.3" or
// "devel go1.26-abcdef" is at least major.minor.
func goAtLeast(v string, major, minor int) bool {
	i := strings.Index(v, "go1.")
	if i < 0 {
		return false
	}
	rest := v[i+len("go1."):]
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		rest = rest[:end]
	}
	m, err := strconv.Atoi(rest)
	return err == nil && (1 > major || 1 == major && m >= minor)
}

// cgroupFiles are the files of the cgroup whose CPU controller limits a
// target, and what does not change over the window.
type cgroupFiles struct {
	static profile.CgroupCPU
	dir    string // the cgroup directory read (under root)
	acct   string // v1: the cpuacct directory of the same cgroup, "" when there is none
}

// cgroupCounters are a cgroup's cumulative CPU counters at one moment.
type cgroupCounters struct {
	periods, throttled, throttledNs, usageNs uint64
}

func (a cgroupCounters) since(b cgroupCounters) cgroupCounters {
	sub := func(x, y uint64) uint64 {
		if x < y { // the counters were reset (cgroup recreated)
			return 0
		}
		return x - y
	}
	return cgroupCounters{sub(a.periods, b.periods), sub(a.throttled, b.throttled), sub(a.throttledNs, b.throttledNs), sub(a.usageNs, b.usageNs)}
}

// mount is one cgroup file system mounted, from mountinfo.
type mount struct {
	root, point string // the cgroup the mount shows at point
	v2          bool
	controllers map[string]bool // v1: "cpu", "cpuacct", ...
}

// cgroupMounts lists the cgroup mounts of /proc/self/mountinfo.
func (ms *metas) cgroupMounts() ([]mount, error) {
	f, err := os.Open(ms.path("proc", "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		m := mount{root: unescapeMount(fields[3]), point: unescapeMount(fields[4])}
		switch tail[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			m.controllers = map[string]bool{}
			for _, o := range strings.Split(tail[2], ",") {
				m.controllers[o] = true
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes ("\040" for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dirOf is the directory of cgroup path (as /proc/PID/cgroup names it) in
// mount m, or "" when the mount does not show it.
func (ms *metas) dirOf(m mount, path string) string {
	rel, ok := strings.CutPrefix(path, m.root)
	if !ok || m.root != "/" && rel != "" && !strings.HasPrefix(rel, "/") {
		return ""
	}
	return ms.path(m.point, rel)
}

// cgroup finds the cgroup whose CPU controller limits pid: the v1 cpu
// hierarchy when the cpu controller is mounted there (hybrid hosts),
// else the v2 one. Of the process's cgroup and its ancestors it picks the
// one with the lowest quota (that one throttles the process), or the
// process's own when none has a quota.
func (ms *metas) cgroup(pid int) (*cgroupFiles, error) {
	b, err := os.ReadFile(ms.path("proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, err
	}
	mounts, err := ms.cgroupMounts()
	if err != nil {
		return nil, err
	}
	paths := map[string]string{} // v1 controller or "" (v2) → cgroup path
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	var leaf string
	var mnt mount
	version := 0
	if p, ok := paths["cpu"]; ok {
		for _, m := range mounts {
			if m.controllers["cpu"] {
				if d := ms.dirOf(m, p); d != "" {
					leaf, mnt, version = d, m, 1
					break
				}
			}
		}
	}
	if version == 0 {
		if p, ok := paths[""]; ok {
			for _, m := range mounts {
				if m.v2 {
					if d := ms.dirOf(m, p); d != "" {
						leaf, mnt, version = d, m, 2
						break
					}
				}
			}
		}
	}
	if version == 0 {
		return nil, fmt.Errorf("pid %d: no cgroup CPU controller mounted", pid)
	}
	top := ms.path(mnt.point)
	cg := &cgroupFiles{dir: leaf}
	best := math.Inf(1)
	for d := leaf; ; d = filepath.Dir(d) {
		quota, period := readQuota(d, version)
		if quota > 0 && period > 0 && float64(quota)/float64(period) < best {
			best = float64(quota) / float64(period)
			cg.dir = d
			cg.static.QuotaCPUs, cg.static.PeriodUs = best, period
		}
		if d == top || len(d) <= len(top) {
			break
		}
	}
	if cg.static.PeriodUs == 0 {
		_, cg.static.PeriodUs = readQuota(leaf, version)
	}
	cg.static.Version = version
	cg.static.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(cg.dir, ms.root), "/")
	if version == 1 && !mnt.controllers["cpuacct"] {
		// cpuacct mounted apart: its usage is this cgroup's only when the
		// process sits at the same path in both hierarchies.
		if p, ok := paths["cpuacct"]; ok && p == paths["cpu"] {
			for _, m := range mounts {
				if m.controllers["cpuacct"] {
					rel := strings.TrimPrefix(cg.dir, top)
					if d := ms.dirOf(m, filepath.Join(mnt.root, rel)); d != "" {
						cg.acct = d
					}
				}
			}
		}
	} else if version == 1 {
		cg.acct = cg.dir
	}
	return cg, nil
}

// readQuota reads a cgroup's CPU quota and period in microseconds; quota
// 0 means no limit.
func readQuota(dir string, version int) (quota, period uint64) {
	if version == 2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return 0, 0
		}
		f := strings.Fields(string(b))
		if len(f) == 2 {
			period, _ = strconv.ParseUint(f[1], 10, 64)
			quota, _ = strconv.ParseUint(f[0], 10, 64) // "max": 0
		}
		return quota, period
	}
	q, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
	if err != nil {
		return 0, 0
	}
	p, _ := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
	period, _ = strconv.ParseUint(strings.TrimSpace(string(p)), 10, 64)
	if v, err := strconv.ParseInt(strings.TrimSpace(string(q)), 10, 64); err == nil && v > 0 {
		quota = uint64(v)
	}
	return quota, period
}

// counters reads the cgroup's cumulative counters now: cpu.stat, and for
// v1 cpuacct.usage.
func (cg *cgroupFiles) counters() (cgroupCounters, error) {
	b, err := os.ReadFile(filepath.Join(cg.dir, "cpu.stat"))
	if err != nil {
		return cgroupCounters{}, err
	}
	var c cgroupCounters
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "nr_periods":
			c.periods = n
		case "nr_throttled":
			c.throttled = n
		case "throttled_usec": // v2
			c.throttledNs = n * 1000
		case "throttled_time": // v1, nanoseconds
			c.throttledNs = n
		case "usage_usec": // v2
			c.usageNs = n * 1000
		}
	}
	if cg.static.Version == 1 && cg.acct != "" {
		b, err := os.ReadFile(filepath.Join(cg.acct, "cpuacct.usage"))
		if err != nil {
			return c, err
		}
		if c.usageNs, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return c, fmt.Errorf("reading %s: %w", filepath.Join(cg.acct, "cpuacct.usage"), err)
		}
	}
	return c, nil
}
