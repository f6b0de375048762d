package tls

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Sides, libraries, counters and drops; they mirror tls.h.
const (
	sideClient = iota
	sideServer
	sideUnknown
	sideMax
)

const (
	libGo = iota
	libOpenSSL
	libMax
)

// cookieCallerAtSP mirrors COOKIE_CALLER_AT_SP.
const cookieCallerAtSP = 1 << 8

var (
	sideNames = [sideMax]string{"client", "server", "unknown"}
	libNames  = [libMax]string{"go", "openssl"}
)

// The first libMax*sideMax*2 counters count finished handshakes, at
// (lib*sideMax+side)*2 + failed.
// histMax mirrors HIST_MAX: the hists of one window.
const histMax = libMax * sideMax

const (
	countUnpaired = libMax*sideMax*2 + iota
	countBeforeWindow
	countRetries
	countStacksReused
	countMax
)

const (
	dropUserStack = iota
	dropStatsFull
	dropInflightFull
	dropExpired
	dropMax
)

var dropNames = [dropMax]string{"tls_user_stack", "tls_stats_full", "tls_inflight_full", "tls_expired"}

// MaxIdle is how long an OpenSSL handshake may stay pending without a new
// SSL_do_handshake call before a new one on the same SSL* replaces it.
const MaxIdle = time.Minute

// forcePerfUprobes makes Attach use one perf uprobe per site even where
// uprobe_multi links exist, to test the fallback for kernels before 6.6.
var forcePerfUprobes = false

// Probe times the targets' TLS handshakes.
type Probe struct {
	objs   tlsObjects
	loaded bool
	opts   probes.Options
	links  []link.Link
	multi  bool            // uprobe_multi links, not one perf uprobe per site
	notes  []string        // what was found but not probed, and why
	files  map[fileID]bool // every file looked at (probed or not), by identity
	probed int             // files with uprobes

	window     *probes.Window  // rolling windows (Drain)
	drained    [dropMax]uint64 // drops counted in earlier windows
	handshakes uint64          // handshakes counted in earlier windows (Progress)
	stacks     *probes.Stacks  // stack ids stay valid across windows: read once
}

// fileID identifies a file whatever path reaches it (/proc/PID/exe,
// /proc/PID/root/..., map_files): uprobes attach to the file itself.
type fileID struct{ dev, ino uint64 }

func fileOf(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// ImageBound says the probe attaches uprobes to the target's executable
// and libraries, so `perfprobe run` attaches it after the exec.
func (p *Probe) ImageBound() bool { return true }

// Name implements probes.Probe.
func (p *Probe) Name() string { return "tls" }

// Path implements probes.Path.
func (p *Probe) Path() string {
	switch {
	case !p.loaded:
		return ""
	case p.multi:
		return "one uprobe_multi link per program and file"
	case forcePerfUprobes:
		return "one perf uprobe per site (forced)"
	}
	return "one perf uprobe per site (uprobe_multi links are Linux 6.6+)"
}

// plan is what to probe in one target's files not probed yet.
type plan struct {
	exe, name string // the executable: where the uprobes go, and as the target sees it
	gos       []goSites
	ssls      []sslSites
	notes     []string
}

func (pl *plan) empty() bool { return len(pl.gos) == 0 && len(pl.ssls) == 0 }

// plan finds the TLS handshake code of target t in the files the probe has
// not looked at yet: Go crypto/tls in its executable, OpenSSL/BoringSSL
// linked in or as libssl.
func (p *Probe) plan(t *probes.Target) (*plan, error) {
	pl := &plan{exe: t.Executable(), name: t.Exe}
	if pl.name == "" || t.ImagePath != "" {
		pl.name = pl.exe
	}
	id, err := fileOf(pl.exe)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: pid %d is gone", probes.ErrNoSuchProcess, t.PID)
	}
	if err != nil {
		pl.notes = append(pl.notes, fmt.Sprintf("cannot read %s: %v", pl.name, err))
		return pl, nil
	}
	var funcs map[string]symbolize.Func
	if !p.files[id] {
		p.files[id] = true
		names := append([]string{}, sslNames...)
		for _, gf := range goFuncs {
			names = append(names, gf.name)
		}
		funcs, err = symbolize.FindFuncs(pl.exe, names...)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: pid %d is gone", probes.ErrNoSuchProcess, t.PID)
		}
		if err != nil {
			pl.notes = append(pl.notes, fmt.Sprintf("cannot read %s: %v", pl.name, err))
		}
		if code, err := os.Open(pl.exe); err == nil {
			var notes []string
			pl.gos, notes = goPlan(pl.exe, funcs, code)
			code.Close()
			pl.notes = append(pl.notes, notes...)
		} else if funcs != nil {
			pl.notes = append(pl.notes, fmt.Sprintf("Go handshakes not probed: %v", err))
		}
	}
	ssls, notes := sslPlan(t.PID, pl.exe, t.ImagePath != "", funcs)
	pl.notes = append(pl.notes, notes...)
	for _, s := range ssls {
		if s.path != pl.exe {
			id, err := fileOf(s.path)
			if err != nil || p.files[id] {
				continue
			}
			p.files[id] = true
		}
		pl.ssls = append(pl.ssls, s)
	}
	return pl, nil
}

// Attach finds the target's TLS handshake code (Go crypto/tls in its
// executable, OpenSSL/BoringSSL linked in or as libssl), loads the
// programs filtered to the session's targets and attaches the uprobes. A
// target without TLS code gives *probes.Skipped.
//
// The uprobes are on the files, not on one process: every process running
// a probed file takes their traps (microseconds per handshake), and the
// programs record only the targets'. So each file is probed once for
// every target that runs it, and a child that forks or a target added
// later is seen from its first handshake.
func (p *Probe) Attach(t *probes.Target, o probes.Options) error {
	if runtime.GOARCH != "amd64" {
		return &probes.Skipped{Reason: "the tls probe supports amd64 only (Go register ABI offsets, x86 RET decoding)"}
	}
	if t == nil {
		return &probes.Skipped{Reason: "no target to look for TLS code in yet"}
	}
	p.opts, p.files = o, map[fileID]bool{}
	pl, err := p.plan(t)
	if err != nil {
		return err
	}
	p.notes = append(p.notes, pl.notes...)
	if pl.empty() {
		reason := fmt.Sprintf("no TLS code in %s (no crypto/tls handshake functions, no libssl)", pl.name)
		if len(p.notes) > 0 {
			reason = fmt.Sprintf("no TLS code probed in %s: %s", pl.name, strings.Join(p.notes, "; "))
		}
		return &probes.Skipped{Reason: reason}
	}

	spec, err := loadTls()
	if err != nil {
		return fmt.Errorf("loading tls spec: %w", err)
	}
	if err := spec.Variables["max_idle_ns"].Set(uint64(MaxIdle)); err != nil {
		return fmt.Errorf("setting max_idle_ns: %w", err)
	}
	if err := spec.Variables["stack_interval_ns"].Set(uint64(max(o.StackInterval, 0))); err != nil {
		return fmt.Errorf("setting stack_interval_ns: %w", err)
	}
	// One uprobe_multi link per program and file when the kernel has them
	// (6.6+): attaching and, above all, detaching dozens of uprobes then
	// costs one RCU grace period instead of one per uprobe (~40 ms each).
	p.multi = !forcePerfUprobes && features.HaveBPFLinkUprobeMulti() == nil
	if p.multi {
		for _, ps := range spec.Programs {
			ps.AttachType = ebpf.AttachTraceUprobeMulti
		}
	}
	if err := spec.LoadAndAssign(&p.objs, o.Collection()); err != nil {
		return fmt.Errorf("loading tls objects: %w", err)
	}
	p.loaded = true
	if p.window, err = probes.NewWindow(p.objs.Window, p.objs.Window0); err != nil {
		return err
	}
	if err := o.FillTargets(p.objs.Targets, t); err != nil {
		return err
	}
	return p.attachPlan(pl)
}

// AddTarget implements probes.TargetAdder: it probes the files of t that
// no target so far runs (a new executable after an exec, another libssl).
func (p *Probe) AddTarget(t *probes.Target) error {
	if !p.loaded {
		return nil
	}
	pl, err := p.plan(t)
	if errors.Is(err, probes.ErrNoSuchProcess) {
		return nil // gone already: nothing of it to probe
	}
	if err != nil {
		return err
	}
	p.notes = append(p.notes, pl.notes...)
	return p.attachPlan(pl)
}

// attachPlan attaches the uprobes of pl.
func (p *Probe) attachPlan(pl *plan) error {
	exe := len(pl.gos) > 0
	for _, s := range pl.ssls {
		if s.path == pl.exe {
			exe = true
		} else {
			p.probed++
		}
	}
	if exe {
		p.probed++
	}
	if len(pl.gos) > 0 {
		var rets, entries []site
		for _, s := range pl.gos {
			for _, off := range s.rets {
				rets = append(rets, site{off, uint64(s.side)})
			}
			cookie := uint64(s.side)
			if s.callerAtSP {
				cookie |= cookieCallerAtSP
			}
			entries = append(entries, site{s.entry, cookie})
		}
		// Every RET before any entry: no handshake is seen starting
		// without its end probed.
		if err := p.attach(pl.exe, pl.name, "crypto/tls handshake RETs", p.objs.GoHandshakeReturn, false, rets); err != nil {
			return err
		}
		if err := p.attach(pl.exe, pl.name, "crypto/tls handshake entries", p.objs.GoHandshakeEnter, false, entries); err != nil {
			return err
		}
	}
	for _, s := range pl.ssls {
		if err := p.attachSSL(s); err != nil {
			return err
		}
	}
	return nil
}

// site is one uprobe: a file offset and the cookie the program reads.
type site struct {
	offset, cookie uint64
}

// attach puts prog on every site of the file at path (uretprobes when
// ret), for every process: one uprobe_multi link, or one perf uprobe per
// site on kernels without them.
func (p *Probe) attach(path, name, what string, prog *ebpf.Program, ret bool, sites []site) error {
	if len(sites) == 0 {
		return nil
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	if p.multi {
		opts := &link.UprobeMultiOptions{}
		for _, s := range sites {
			opts.Addresses = append(opts.Addresses, s.offset)
			opts.Cookies = append(opts.Cookies, s.cookie)
		}
		var l link.Link
		if ret {
			l, err = ex.UretprobeMulti(nil, prog, opts)
		} else {
			l, err = ex.UprobeMulti(nil, prog, opts)
		}
		if err != nil {
			return fmt.Errorf("attaching %s in %s (%d uprobes): %w", what, name, len(sites), err)
		}
		p.links = append(p.links, l)
		return nil
	}
	for _, s := range sites {
		opts := &link.UprobeOptions{Address: s.offset, Cookie: s.cookie}
		var l link.Link
		if ret {
			l, err = ex.Uretprobe("", prog, opts)
		} else {
			l, err = ex.Uprobe("", prog, opts)
		}
		if err != nil {
			return fmt.Errorf("attaching %s in %s at file offset %#x: %w", what, name, s.offset, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// attachSSL hooks one OpenSSL/BoringSSL object: the side and free hooks
// and the uretprobe first, the handshake entry last.
func (p *Probe) attachSSL(s sslSites) error {
	sites := func(fns ...string) []site {
		var out []site
		for _, fn := range fns {
			if f, ok := s.funcs[fn]; ok { // all optional but SSL_do_handshake
				out = append(out, site{offset: f.Offset})
			}
		}
		return out
	}
	for _, h := range []struct {
		what string
		prog *ebpf.Program
		ret  bool
		fns  []string
	}{
		{"SSL_connect/SSL_set_connect_state", p.objs.SslClientSide, false, []string{fnConnect, fnSetConnectState}},
		{"SSL_accept/SSL_set_accept_state", p.objs.SslServerSide, false, []string{fnAccept, fnSetAcceptState}},
		{fnFree, p.objs.SslFree, false, []string{fnFree}},
		{fnDoHandshake + " return", p.objs.SslHandshakeReturn, true, []string{fnDoHandshake}},
		{fnDoHandshake, p.objs.SslHandshakeEnter, false, []string{fnDoHandshake}},
	} {
		if err := p.attach(s.path, s.name, h.what, h.prog, h.ret, sites(h.fns...)); err != nil {
			return err
		}
	}
	return nil
}

// Begin implements probes.Probe.
func (p *Probe) Begin(windowStartNs uint64) error {
	return p.objs.WindowStartNs.Set(windowStartNs)
}

// Progress implements probes.Probe.
func (p *Probe) Progress() probes.Progress {
	var pr probes.Progress
	if !p.loaded {
		return pr
	}
	pr.Events = p.handshakes
	if c, err := probes.SumPerCPU(p.objs.Counters, 2*countMax); err == nil {
		for _, w := range []int{0, countMax} {
			for i := range libMax * sideMax * 2 {
				pr.Events += c[w+i]
			}
		}
	}
	if d, err := probes.SumPerCPU(p.objs.Drops, dropMax); err == nil {
		for _, n := range d {
			pr.Drops += n
		}
	}
	return pr
}

// Detach removes the uprobes, in the reverse order of Attach: the entries
// go first, so that no handshake starts while its returns are already
// unprobed (it would stay in flight, and look expired when its goroutine
// starts the next one). The maps stay readable.
func (p *Probe) Detach() {
	for _, l := range slices.Backward(p.links) {
		l.Close()
	}
	p.links = nil
}

// Collect adds the handshake stacks, counts, histograms and drops of the
// current window (since Begin or the last Drain) to c. Handshakes still in
// flight at the end are counted, not timed.
func (p *Probe) Collect(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	return p.read(c, p.window.Index, endNs, true)
}

// Drain implements probes.Drainer: the programs move to the other window
// and the one they leave is read into c and cleared. A handshake counts,
// whole, in the window where it ends; those in flight at endNs are counted
// in tls_inflight_at_end and go on in the kernel.
func (p *Probe) Drain(c *profile.Capture, endNs uint64) error {
	if !p.loaded {
		return errors.New("probe not loaded")
	}
	old, err := p.window.Next()
	if err != nil {
		return err
	}
	return p.read(c, old, endNs, false)
}

// read adds what window win holds to c; unless final (Collect), it then
// clears it for the window after next.
func (p *Probe) read(c *profile.Capture, win uint32, endNs uint64, final bool) error {
	for _, n := range p.notes {
		c.Warnings = append(c.Warnings, "probe tls: "+n)
	}
	if p.stacks == nil {
		p.stacks = probes.NewStacks(p.objs.Stacks)
	}
	stacks := p.stacks
	keys, vals, err := probes.Entries[tlsStatKey, tlsStatValue](p.objs.Stats)
	if err != nil {
		return fmt.Errorf("reading handshake stacks: %w", err)
	}
	var done []tlsStatKey
	for i, key := range keys {
		val := &vals[i]
		if key.Win != win {
			continue // the next window's, written meanwhile
		}
		done = append(done, key)
		if key.Side >= sideMax || key.Lib >= libMax {
			continue
		}
		c.Stacks = append(c.Stacks, profile.Stack{
			Type:   profile.TypeTLSHandshake,
			PID:    key.Tgid,
			TID:    val.Tid,
			Thread: probes.CommString(val.Comm),
			User:   withCaller(stacks.Get(key.UserStack), key.Caller),
			Value:  int64(val.Ns),
			Count:  int64(val.Count),
			Labels: map[string]string{"tls": sideNames[key.Side], "lib": libNames[key.Lib]},
		})
	}

	counts, err := probes.SumPerCPUAt(p.objs.Counters, int(win)*countMax, countMax)
	if err != nil {
		return err
	}
	for _, k := range []string{"handshakes", "client", "server", "go", "openssl"} {
		c.Counts["tls_"+k+"_ok"] += 0 // present even when zero
		c.Counts["tls_"+k+"_failed"] += 0
	}
	for lib := range libMax {
		for side := range sideMax {
			for failed, result := range []string{"ok", "failed"} {
				n := counts[(lib*sideMax+side)*2+failed]
				if n == 0 && side == sideUnknown {
					continue
				}
				c.Counts["tls_handshakes_"+result] += n
				c.Counts["tls_"+sideNames[side]+"_"+result] += n
				c.Counts["tls_"+libNames[lib]+"_"+result] += n
			}
		}
	}
	c.Counts["tls_unpaired_returns"] = counts[countUnpaired]
	c.Counts["tls_started_before_window"] = counts[countBeforeWindow]
	c.Counts["tls_openssl_retries"] = counts[countRetries]
	c.Counts["tls_stacks_reused"] = counts[countStacksReused]
	c.Counts["tls_files_probed"] = uint64(p.probed)
	inflight, err := p.inflight(endNs)
	if err != nil {
		return err
	}
	c.Counts["tls_inflight_at_end"] = inflight

	all, bySide := &profile.Histogram{}, [sideMax]*profile.Histogram{}
	for i := range bySide {
		bySide[i] = &profile.Histogram{}
	}
	for lib := range libMax {
		for side := range sideMax {
			h, err := probes.SumHist(p.objs.Hists, win*histMax+uint32(lib*sideMax+side))
			if err != nil {
				return fmt.Errorf("reading histogram %s/%s: %w", libNames[lib], sideNames[side], err)
			}
			all.Add(h)
			bySide[side].Add(h)
		}
	}
	c.Histograms["tls_handshake"] = all
	for side, h := range bySide {
		if h.Count > 0 || side != sideUnknown {
			c.Histograms["tls_handshake_"+sideNames[side]] = h
		}
	}

	d, err := probes.SumPerCPU(p.objs.Drops, dropMax)
	if err != nil {
		return err
	}
	for i, n := range dropNames {
		c.Drops[n] = d[i] - p.drained[i]
	}
	if final {
		return nil
	}
	p.drained = [dropMax]uint64(d)
	p.handshakes += c.Counts["tls_handshakes_ok"] + c.Counts["tls_handshakes_failed"]
	probes.DeleteKeys(p.objs.Stats, done)
	if err := probes.ClearPerCPU(p.objs.Hists, int(win)*histMax, histMax); err != nil {
		return err
	}
	return probes.ClearPerCPU(p.objs.Counters, int(win)*countMax, countMax)
}

// withCaller inserts the direct caller's return address, which the
// frame-pointer walk from a function's first instructions misses, after
// the leaf. Kernels that already add it for a uprobe on a PUSH BP (since
// 6.12) have it as the second frame: then nothing is inserted.
func withCaller(user []uint64, caller uint64) []uint64 {
	if caller == 0 || len(user) == 0 || (len(user) > 1 && user[1] == caller) {
		return user
	}
	out := make([]uint64, 0, len(user)+1)
	return append(append(append(out, user[0]), caller), user[1:]...)
}

// inflight counts the handshakes begun in the window and not ended by
// endNs (still running, or the target exited in the middle).
func (p *Probe) inflight(endNs uint64) (uint64, error) {
	start, err := p.windowStart()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, m := range []*ebpf.Map{p.objs.GoInflight, p.objs.SslInflight} {
		var (
			key = make([]byte, m.KeySize())
			val tlsInflight
		)
		it := m.Iterate()
		for it.Next(&key, &val) {
			if start != 0 && val.StartNs >= start && val.StartNs <= endNs {
				n++
			}
		}
		if err := it.Err(); err != nil {
			return 0, fmt.Errorf("reading in-flight handshakes: %w", err)
		}
	}
	return n, nil
}

func (p *Probe) windowStart() (uint64, error) {
	var ws uint64
	if err := p.objs.WindowStartNs.Get(&ws); err != nil {
		return 0, fmt.Errorf("reading window_start_ns: %w", err)
	}
	return ws, nil
}

// Programs implements probes.Probe.
func (p *Probe) Programs() map[string]*ebpf.Program {
	if !p.loaded {
		return nil
	}
	return map[string]*ebpf.Program{
		"go_handshake_enter":   p.objs.GoHandshakeEnter,
		"go_handshake_return":  p.objs.GoHandshakeReturn,
		"ssl_handshake_enter":  p.objs.SslHandshakeEnter,
		"ssl_handshake_return": p.objs.SslHandshakeReturn,
		"ssl_client_side":      p.objs.SslClientSide,
		"ssl_server_side":      p.objs.SslServerSide,
		"ssl_free":             p.objs.SslFree,
	}
}

// Close implements probes.Probe.
func (p *Probe) Close() error {
	p.Detach()
	if p.loaded {
		p.loaded = false
		p.window.Close()
		return p.objs.Close()
	}
	return nil
}
