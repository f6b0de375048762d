package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/perfprobe/perfprobe/profile/store"
)

// storeFlags are the flags that read the agent's store by time range.
type storeFlags struct {
	dir, from, to, service string
	pid                    int
}

func (f *storeFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "store", "", "read the windows of the `DIR` that perfprobe agent --store writes, instead of a file (the agent's default: "+store.DefaultDir()+")")
	fl.StringVar(&f.from, "from", "-1h", "with --store: windows that start at or after: now, -1h, -15m, -2d, 2026-12-01T10:00:00Z, \"2026-12-01 10:00\" (local) or Unix seconds")
	fl.StringVar(&f.to, "to", "now", "with --store: ... and before this time (same forms as --from)")
	fl.StringVar(&f.service, "service", "", "with --store: only this service (service_name label; default all)")
	fl.IntVar(&f.pid, "pid", 0, "with --store: only this process id (default all)")
}

// args checks the positional arguments against --store: want without it,
// withStore with it; what names the positional argument for the errors.
func (f *storeFlags) args(cmd *cobra.Command, args []string, want, withStore int, what string) error {
	if f.dir == "" {
		for _, name := range []string{"from", "to", "service", "pid", "against-from", "against-to"} {
			if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
				return fmt.Errorf("--%s reads the agent's store: add --store DIR", name)
			}
		}
		if len(args) != want {
			return fmt.Errorf("%s takes %s (got %d arguments), or --store DIR with --from/--to", cmd.Name(), what, len(args))
		}
		return nil
	}
	if len(args) > withStore {
		return fmt.Errorf("%s --store reads the windows of the store: drop %q, or drop --store to read it instead", cmd.Name(), args[withStore])
	}
	return nil
}

// query parses the time range, from and to being the flag values.
func (f *storeFlags) query(from, to string, now time.Time) (store.Query, error) {
	var q store.Query
	var err error
	if q.From, err = store.ParseTime(from, now); err != nil {
		return q, fmt.Errorf("--from: %w", err)
	}
	if q.To, err = store.ParseTime(to, now); err != nil {
		return q, fmt.Errorf("--to: %w", err)
	}
	if !q.From.Before(q.To) {
		return q, fmt.Errorf("--from %s (%s) is not before --to %s (%s): the range is empty", from, q.From.Format(time.DateTime), to, q.To.Format(time.DateTime))
	}
	q.Service, q.PID = f.service, f.pid
	return q, nil
}

// load merges the windows of q from the store and tells w what it merged.
func (f *storeFlags) load(w, warn io.Writer, q store.Query, what string) (*profile.Profile, string, error) {
	s, err := store.OpenReadOnly(f.dir)
	if err != nil {
		return nil, "", err
	}
	p, ws, err := s.Load(q)
	if err != nil {
		return nil, "", err
	}
	for _, c := range p.Comments {
		if sk, ok := strings.CutPrefix(c, store.SkippedComment); ok {
			fmt.Fprintln(warn, "perfprobe: warning: skipped an unreadable window:", sk)
		}
	}
	desc := describeWindows(ws)
	fmt.Fprintf(w, "%s: %s\n", what, desc)
	return p, desc, nil
}

// describeWindows says how many windows of how many targets were merged,
// over which span: "8 windows of 2 targets (api, db), 10:00:00 to 10:02:00".
func describeWindows(ws []store.Window) string {
	if len(ws) == 0 {
		return "no window"
	}
	type target struct {
		service string
		pid     int
	}
	targets := map[target]bool{}
	var services []string
	first, last := ws[0].Start, ws[0].End
	for _, w := range ws {
		if !targets[target{w.Service, w.PID}] {
			targets[target{w.Service, w.PID}] = true
		}
		if !slices.Contains(services, w.Service) {
			services = append(services, w.Service)
		}
		if w.End.After(last) {
			last = w.End
		}
	}
	return fmt.Sprintf("%s of %s (%s) merged, %s to %s", plural(len(ws), "window"), plural(len(targets), "target"), strings.Join(services, ", "),
		first.Local().Format("2006-01-02 15:04:05"), last.Local().Format("2006-01-02 15:04:05 MST"))
}

var errNoBase = errors.New("diff --store needs a base: --against-from/--against-to (a second range), or one BASE capture or profile file")

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
