// Package smallsyscalls diagnoses many tiny reads or writes: thousands of
// read(2)/write(2)-family calls a second moving a few bytes each, where a
// buffer would make one call of the many. The counts and bytes come from
// the iostall probe (syscall_<name>_calls and _bytes), the CPU they cost
// from the on-CPU stacks inside those calls.
package smallsyscalls

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// A family of calls is small when it makes at least minRate calls a second
// of less than maxMean bytes on average. Its CPU share then scores it: a
// warning at 20%, critical at 50%, with 200 ms of CPU in 20 samples over
// 1 s.
var (
	minRate    = 1000.0
	maxMean    = 512.0
	thresholds = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}
)

// family is the read or the write syscalls.
type family struct {
	name     string // "read", "write"
	syscalls []string
	user     string         // the calls' user-space wrappers (Go, glibc)
	kernel   string         // their kernel entry points
	frames   *regexp.Regexp // either, as profile.Frames names them (kernel frames end in "_[k]")
}

func newFamily(name string, syscalls []string, user, kernel string) family {
	return family{name: name, syscalls: syscalls, user: user, kernel: kernel,
		frames: regexp.MustCompile(`^(` + user + `)$|^(` + kernel + `)_\[k\]$`)}
}

var families = []family{
	newFamily("read", []string{"read", "pread64", "readv", "preadv", "preadv2"},
		`read|pread64|readv|preadv2?|__libc_(read|pread|pread64|readv|preadv)|__GI___libc_(read|pread|pread64|readv)|__read_nocancel|__pread64_nocancel|syscall\.(read|pread|Read|Pread)|internal/poll\.\(\*FD\)\.(Read|Pread)`,
		`ksys_read|ksys_pread64|vfs_read|vfs_readv|do_readv|do_preadv|__x64_sys_(read|pread64|readv|preadv|preadv2)`),
	newFamily("write", []string{"write", "pwrite64", "writev", "pwritev", "pwritev2"},
		`write|pwrite64|writev|pwritev2?|__libc_(write|pwrite|pwrite64|writev|pwritev)|__GI___libc_(write|pwrite|pwrite64|writev)|__write_nocancel|syscall\.(write|pwrite|Write|Pwrite)|internal/poll\.\(\*FD\)\.(Write|Pwrite)`,
		`ksys_write|ksys_pwrite64|vfs_write|vfs_writev|do_writev|do_pwritev|__x64_sys_(write|pwrite64|writev|pwritev|pwritev2)`),
}

// Plugin is the small-syscalls diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "small-syscalls" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "thousands of tiny reads or writes a second (mean size under 512 bytes) and the CPU they cost"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"probe:iostall"}, What: "I/O syscall counts", Enable: "run with --probes iostall"}}
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	window := ev.Window()
	if window <= 0 {
		return nil, nil
	}
	var out []plugins.Finding
	for _, fam := range families {
		if f, ok := diagnose(ev, fam, window); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func diagnose(ev *plugins.Evidence, fam family, window time.Duration) (plugins.Finding, bool) {
	var calls, bytes, inCalls uint64
	var top string
	var topCalls uint64
	for _, sc := range fam.syscalls {
		n := ev.Count("syscall_" + sc + "_calls")
		calls += n
		bytes += ev.Count("syscall_" + sc + "_bytes")
		if h := ev.Histogram("syscall_" + sc); h != nil {
			inCalls += h.SumNs
		}
		if n > topCalls {
			top, topCalls = sc, n
		}
	}
	rate := float64(calls) / window.Seconds()
	if calls == 0 || rate < minRate {
		return plugins.Finding{}, false
	}
	mean := float64(bytes) / float64(calls)
	if mean >= maxMean {
		return plugins.Finding{}, false
	}
	typ := ev.CPUType()
	var m plugins.Match
	share, value, samples := 0.0, time.Duration(0), int64(0)
	probeNs := int64(0)
	if typ != "" {
		m = ev.Matching(typ, fam.frames)
		if typ == profile.TypeOnCPU {
			probeNs = probeCost(ev, calls)
		}
		share = float64(m.Value+probeNs) / float64(m.Total+probeNs)
		value, samples = time.Duration(m.Value+probeNs), m.Samples
	} else {
		// No CPU samples: the time inside the calls, of the window, can
		// only reach info.
		share = min(1, float64(inCalls)/float64(window))
	}
	score, gated := thresholds.Score(share, value, samples, window)
	if score < plugins.ScoreInfo {
		return plugins.Finding{}, false
	}
	f := plugins.Finding{
		Category: string(plugins.CatSmallSyscalls),
		Score:    score,
		Share:    share,
		Title:    fmt.Sprintf("%.0f-byte %ss, %s a second", mean, top, thousands(rate)),
		Figures: []plugins.Figure{
			plugins.Fig("calls", float64(calls), "count", strings.Join(fam.syscalls, ", ")),
			plugins.Fig("calls_per_s", rate, "/s", "window "+window.Round(time.Millisecond).String()),
			plugins.Fig("mean_bytes", mean, "bytes", fmt.Sprintf("%d bytes in %d calls", bytes, calls)),
			plugins.Fig("in_calls_ns", float64(inCalls), "ns", "inside the calls, all threads"),
		},
		Stacks: m.StackFrames(),
		Advice: fmt.Sprintf("Buffer the %ss: one call for many records (bufio.Writer/Reader in Go, a larger stdio buffer with setvbuf or your own buffer in C, BufWriter/BufReader in Rust), writev to send several buffers at once, or read 64 KiB at a time; flush on a size or time limit rather than after each record.", fam.name),
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%d %s calls in %s (%s/s) moved %d bytes, %.1f bytes each", calls, fam.name, window.Round(time.Millisecond), thousands(rate), bytes, mean)
	if inCalls > 0 {
		fmt.Fprintf(&d, "; %s inside them", plugins.Seconds(int64(inCalls)))
	}
	if typ != "" {
		f.Title += fmt.Sprintf(": %s of CPU time in them", plugins.Pct(share))
		f.Figures = append(f.Figures, plugins.Fig("cpu_share", 100*share, "%", fmt.Sprintf("%s total %s, with the probes' time in the calls", typ, plugins.Seconds(m.Total+probeNs))),
			plugins.Fig("cpu_ns", float64(m.Value), "ns", typ+" samples in the calls"))
		fmt.Fprintf(&d, "; %s of %s CPU is spent in them", plugins.Seconds(m.Value+probeNs), typ)
		if probeNs > 0 {
			f.Figures = append(f.Figures, plugins.Fig("probe_ns", float64(probeNs), "ns", "perfprobe's syscall probes inside these calls, unseen by on-CPU sampling"))
			fmt.Fprintf(&d, " (%s of it perfprobe's own syscall probes, which on-CPU sampling cannot see and this many calls pay for; without perfprobe the calls cost less)", plugins.Seconds(probeNs))
		}
		fmt.Fprintf(&d, ", %s", plugins.Pct(share))
		f.Query = plugins.Query(typ, "^("+fam.user+"|"+fam.kernel+")$")
	}
	if len(m.Entries) > 0 {
		f.Key = []string{fam.name, m.Entries[0]}
		f.Title += " from " + plugins.ShortFunc(m.Entries[0])
		fmt.Fprintf(&d, ", called from %s", strings.Join(m.Entries[:min(2, len(m.Entries))], ", "))
	} else {
		f.Key = []string{fam.name}
	}
	d.WriteString(".")
	if gated != "" {
		fmt.Fprintf(&d, " Kept at info: %s.", gated)
	}
	f.Detail = d.String()
	signals := []plugins.Signal{
		{Name: "call rate", Agrees: rate >= minRate, Detail: thousands(rate) + "/s"},
		{Name: "mean size", Agrees: mean < maxMean, Detail: fmt.Sprintf("%.1f bytes", mean)},
	}
	if typ != "" {
		signals = append(signals, plugins.Signal{Name: typ + " in the calls", Agrees: m.Share >= thresholds.Warn, Detail: plugins.Pct(m.Share) + " of " + typ})
	}
	f.Confidence = plugins.Agreement(signals...)
	return f, true
}

// probeCost is the CPU time the iostall probe's syscall programs spent
// in calls of this family: on-CPU samples are not taken while another
// BPF program runs on the CPU, so that time is missing from the oncpu
// samples of the calls, which pay for it. The programs' time (self-cost)
// is shared out over the traced calls by count.
func probeCost(ev *plugins.Evidence, calls uint64) int64 {
	c := ev.Capture
	var bpf uint64
	for name, ns := range c.SelfCost.BPFPrograms {
		if strings.HasPrefix(name, "iostall/") && strings.Contains(name, "syscall") {
			bpf += ns
		}
	}
	var all uint64
	for name, n := range c.Counts {
		if strings.HasPrefix(name, "syscall_") && strings.HasSuffix(name, "_calls") {
			all += n
		}
	}
	if bpf == 0 || all == 0 {
		return 0
	}
	return int64(float64(bpf) * float64(calls) / float64(all))
}

// thousands formats a rate with a thousands separator: "12,345".
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
