package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Query selects windows: those that START in [From, To), of Service ("" =
// all) and PID (0 = all). A zero From or To leaves that side open.
type Query struct {
	Service  string
	PID      int
	From, To time.Time
	// Labels makes List read each window's labels from its file (List
	// otherwise parses names only, and Window.Service is the service's
	// directory name).
	Labels bool
}

func (q Query) String() string {
	var parts []string
	if q.Service != "" {
		parts = append(parts, "service "+q.Service)
	}
	if q.PID != 0 {
		parts = append(parts, fmt.Sprintf("pid %d", q.PID))
	}
	switch {
	case !q.From.IsZero() && !q.To.IsZero():
		parts = append(parts, "starting from "+stamp(q.From)+" to "+stamp(q.To))
	case !q.From.IsZero():
		parts = append(parts, "starting from "+stamp(q.From))
	case !q.To.IsZero():
		parts = append(parts, "starting before "+stamp(q.To))
	}
	if len(parts) == 0 {
		return "any window"
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

func (q Query) match(w Window) bool {
	return (q.PID == 0 || w.PID == q.PID) &&
		(q.From.IsZero() || !w.Start.Before(q.From)) &&
		(q.To.IsZero() || w.Start.Before(q.To))
}

// List returns the windows q selects, sorted by start, then service, then
// pid. It scans the directory each time (another process writes it) and
// opens no file unless q.Labels is set.
func (s *Store) List(q Query) ([]Window, error) {
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, nil
	}
	var out []Window
	err := s.walk(q.From, q.To, nil, func(w Window) {
		if (q.Service == "" || w.Service == serviceDir(q.Service)) && q.match(w) {
			out = append(out, w)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Window) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return a.PID - b.PID
	})
	if q.Labels {
		kept := out[:0]
		for _, w := range out {
			p, err := readWindow(w.Path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted by the writer's limits meanwhile
			}
			if err == nil {
				w.Labels = labelsOf(p)
				if sv := w.Labels["service_name"]; sv != "" {
					w.Service = sv
				}
			}
			kept = append(kept, w)
		}
		out = kept
	}
	return out, nil
}

// walk calls window for every window file whose day may hold a start in
// [from, to) (zero: open), and other (when not nil) for every other entry
// of a day directory. Directories that vanish while it walks (the writer's
// limits) are skipped.
func (s *Store) walk(from, to time.Time, other func(dayDir string, e fs.DirEntry), window func(Window)) error {
	services, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading store: %w", err)
	}
	var firstDay, lastDay string
	if !from.IsZero() {
		firstDay = from.UTC().Format(dayLayout)
	}
	if !to.IsZero() {
		lastDay = to.UTC().Format(dayLayout)
	}
	for _, sv := range services {
		if !sv.IsDir() || strings.HasPrefix(sv.Name(), ".") {
			continue
		}
		svDir := filepath.Join(s.dir, sv.Name())
		days, err := os.ReadDir(svDir)
		if err != nil {
			continue
		}
		for _, d := range days {
			if !d.IsDir() {
				continue
			}
			if _, err := time.Parse(dayLayout, d.Name()); err != nil {
				continue
			}
			if (firstDay != "" && d.Name() < firstDay) || (lastDay != "" && d.Name() > lastDay) {
				continue
			}
			dayDir := filepath.Join(svDir, d.Name())
			files, err := os.ReadDir(dayDir)
			if err != nil {
				continue
			}
			for _, f := range files {
				start, end, pid, ok := parseName(f.Name())
				if !ok || !f.Type().IsRegular() {
					if other != nil {
						other(dayDir, f)
					}
					continue
				}
				info, err := f.Info()
				if err != nil {
					continue
				}
				window(Window{Service: sv.Name(), PID: pid, Start: start, End: end, Path: filepath.Join(dayDir, f.Name()), Bytes: info.Size()})
			}
		}
	}
	return nil
}

// labelsOf reads the "perfprobe-label k=v" comments of p.
func labelsOf(p *profile.Profile) map[string]string {
	labels := map[string]string{}
	for _, c := range p.Comments {
		if kv, ok := strings.CutPrefix(c, LabelComment); ok {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = v
			}
		}
	}
	return labels
}
