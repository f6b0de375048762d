package store

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// Defaults of Limits.
const (
	DefaultMaxBytes = 1 << 30
	DefaultMaxAge   = 7 * 24 * time.Hour
)

// LabelComment starts the pprof comment lines that carry a window's labels:
// "perfprobe-label k=v".
const LabelComment = "perfprobe-label "

// Limits bound the store; the oldest windows are deleted first.
type Limits struct {
	MaxBytes int64         // total size of the window files; 0: DefaultMaxBytes (1 GiB)
	MaxAge   time.Duration // windows older than this (by end time) are deleted; 0: DefaultMaxAge (7 days)
}

// DefaultDir is the store's directory when none is given: /var/lib/perfprobe
// when running as root, else ./perfprobe-store.
func DefaultDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/perfprobe"
	}
	return "./perfprobe-store"
}

// Window is one stored profile: one target over one window.
type Window struct {
	Service    string            // service_name label
	PID        int               // the target's process id
	Start, End time.Time         // the window
	Labels     map[string]string // every label: service_name, pid, comm, hostname, user labels...
	Path       string            // set by Put / List: absolute path of the file
	Bytes      int64             // size of the file
}

// Store is a store directory. It is safe for concurrent use by goroutines;
// other processes may read it while one writes.
type Store struct {
	dir      string
	lim      Limits
	readOnly bool

	mu      sync.Mutex
	index   []entry // the windows written or found at Open, sorted by end
	bytes   int64
	deleted uint64
}

// entry is what the limits need to know of a window.
type entry struct {
	end   time.Time
	path  string
	bytes int64
}

// Open opens the store in dir for writing, creating dir (0o750) when
// missing. It removes the temp files of a writer killed mid-write, indexes
// the windows already there and applies the limits to them. Only one
// process may write a store at a time.
func Open(dir string, lim Limits) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	if lim.MaxAge <= 0 {
		lim.MaxAge = DefaultMaxAge
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("creating store: %w", err)
	}
	marker := filepath.Join(abs, markerName)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(marker, []byte("perfprobe store, layout 1: <service>/<YYYY-MM-DD>/<startMilli>-<endMilli>-<pid>.pb.gz\n"), 0o640); err != nil {
			return nil, fmt.Errorf("marking store: %w", err)
		}
	}
	s := &Store{dir: abs, lim: lim}
	var found []Window
	err = s.walk(time.Time{}, time.Time{}, func(dayDir string, e fs.DirEntry) {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(dayDir, e.Name()))
		}
	}, func(w Window) { found = append(found, w) })
	if err != nil {
		return nil, err
	}
	for _, w := range found {
		s.index = append(s.index, entry{end: w.End, path: w.Path, bytes: w.Bytes})
		s.bytes += w.Bytes
	}
	slices.SortFunc(s.index, func(a, b entry) int { return a.end.Compare(b.end) })
	s.mu.Lock()
	s.enforce(time.Now())
	s.mu.Unlock()
	return s, nil
}

// OpenReadOnly opens the store in dir for reading: it never creates or
// deletes anything.
func OpenReadOnly(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no store at %s: start `perfprobe agent --store %s` first", dir, dir)
	case err != nil:
		return nil, fmt.Errorf("opening store: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is a file, not a store directory: give the --store of `perfprobe agent`", dir)
	}
	if _, err := os.Stat(filepath.Join(abs, markerName)); err != nil {
		return nil, fmt.Errorf("no store at %s (no %s file): start `perfprobe agent --store %s` first", dir, markerName, dir)
	}
	return &Store{dir: abs, readOnly: true}, nil
}

// Dir is the store's absolute directory.
func (s *Store) Dir() string { return s.dir }

// Usage is the size and number of the window files this writer knows:
// those found at Open and those it put since, less those it deleted. A
// read-only store scans the directory.
func (s *Store) Usage() (bytes int64, windows int) {
	if s.readOnly {
		ws, _ := s.List(Query{})
		for _, w := range ws {
			bytes += w.Bytes
		}
		return bytes, len(ws)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, len(s.index)
}

// Deleted is the number of windows the limits deleted so far.
func (s *Store) Deleted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted
}

// Put stores p as window w: the labels go into p's comments (p itself is
// not changed; do not change it while Put runs), and a zero time or
// duration of p is set from the window. The write is atomic. Then the
// limits are applied (a window already older than MaxAge goes at once). It
// returns w with its Service, Labels, Path and Bytes set. A window larger
// than MaxBytes is refused.
func (s *Store) Put(w Window, p *profile.Profile) (Window, error) {
	if s.readOnly {
		return Window{}, errors.New("writing window: the store was opened read-only")
	}
	if p == nil {
		return Window{}, errors.New("writing window: no profile")
	}
	if w.Service == "" {
		w.Service = w.Labels["service_name"]
	}
	if w.Start.IsZero() || w.End.Before(w.Start) || w.Start.UnixMilli() < 0 || w.PID < 0 {
		return Window{}, fmt.Errorf("writing window: bad window %v to %v of pid %d", w.Start, w.End, w.PID)
	}
	w.Labels = maps.Clone(w.Labels)
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	if w.Service != "" {
		w.Labels["service_name"] = w.Service
	}
	w.Labels["pid"] = strconv.Itoa(w.PID)

	// gzip's fastest level: pprof's Write takes the default one, twice
	// the CPU for files ~10% smaller, and the agent writes every window.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := withLabels(p, w).WriteUncompressed(zw); err != nil {
		return Window{}, fmt.Errorf("encoding window: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Window{}, fmt.Errorf("encoding window: %w", err)
	}
	if int64(buf.Len()) > s.lim.MaxBytes {
		return Window{}, fmt.Errorf("writing window: %d bytes is more than the store's limit of %d bytes", buf.Len(), s.lim.MaxBytes)
	}
	day := filepath.Join(s.dir, serviceDir(w.Service), w.Start.UTC().Format(dayLayout))
	w.Path = filepath.Join(day, fileName(w.Start, w.End, w.PID))
	w.Bytes = int64(buf.Len())

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeAtomic(day, w.Path, buf.Bytes()); err != nil {
		return Window{}, err
	}
	i, _ := slices.BinarySearchFunc(s.index, w.End, func(e entry, t time.Time) int { return e.end.Compare(t) })
	j := i
	for j < len(s.index) && s.index[j].end.Equal(w.End) && s.index[j].path != w.Path {
		j++
	}
	if j < len(s.index) && s.index[j].path == w.Path { // the same window put again
		s.bytes += w.Bytes - s.index[j].bytes
		s.index[j].bytes = w.Bytes
	} else {
		s.index = slices.Insert(s.index, i, entry{end: w.End, path: w.Path, bytes: w.Bytes})
		s.bytes += w.Bytes
	}
	s.enforce(time.Now())
	return w, nil
}

// withLabels is a shallow copy of p with w's labels as comments, in
// place of any label comments p had.
func withLabels(p *profile.Profile, w Window) *profile.Profile {
	var comments []string
	for _, c := range p.Comments {
		if !strings.HasPrefix(c, LabelComment) {
			comments = append(comments, c)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.Labels)) {
		comments = append(comments, LabelComment+k+"="+w.Labels[k])
	}
	q := &profile.Profile{
		SampleType: p.SampleType, DefaultSampleType: p.DefaultSampleType,
		Sample: p.Sample, Mapping: p.Mapping, Location: p.Location, Function: p.Function,
		Comments: comments, DocURL: p.DocURL, DropFrames: p.DropFrames, KeepFrames: p.KeepFrames,
		TimeNanos: p.TimeNanos, DurationNanos: p.DurationNanos, PeriodType: p.PeriodType, Period: p.Period,
	}
	if q.TimeNanos == 0 {
		q.TimeNanos = w.Start.UnixNano()
	}
	if q.DurationNanos == 0 {
		q.DurationNanos = w.End.Sub(w.Start).Nanoseconds()
	}
	return q
}

// writeAtomic writes data to path through a temp file in dir: fsync,
// rename, fsync of the directory (and of the parents it created).
func writeAtomic(dir, path string, data []byte) error {
	if err := mkdirSynced(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("writing window: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o640)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing window: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing window: %w", err)
	}
	return nil
}

// mkdirSynced creates dir and its missing parents, fsyncing the parent
// of each directory it creates so the new entries survive a crash.
func mkdirSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := mkdirSynced(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating window directory: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("creating window directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// enforce deletes the windows older than MaxAge, then the oldest until the
// files total at most MaxBytes. s.mu is held.
func (s *Store) enforce(now time.Time) {
	cut := now.Add(-s.lim.MaxAge)
	n := 0
	for n < len(s.index) && (s.index[n].end.Before(cut) || s.bytes > s.lim.MaxBytes) {
		e := s.index[n]
		if err := os.Remove(e.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			s.deleted++
		}
		s.bytes -= e.bytes
		// Empty day and service directories go too; Remove fails on others.
		day := filepath.Dir(e.path)
		if os.Remove(day) == nil {
			os.Remove(filepath.Dir(day))
		}
		n++
	}
	s.index = slices.Delete(s.index, 0, n)
}
