package abrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/perfprobe/perfprobe/internal/gate"
)

// Pair is one measured pair.
type Pair struct {
	Sets  [2]*gate.Set // indexed by Side
	Runs  [2]Timing    // indexed by Side
	First Side         // the side that ran first: Base in even pairs, Head in odd ones
	// Overhead is the runner's own time in the pair: the pair's wall time
	// minus the two runs' (parsing the output, bookkeeping).
	Overhead time.Duration
}

// Result is what Run measured.
type Result struct {
	Options Options
	Pairs   []Pair // the complete pairs
	// Runs is every run in order, warm-up runs and a failed pair's
	// included.
	Runs []Timing
}

// Sets returns the pairs' sets, base then head, as gate.ComparePaired
// takes them.
func (r *Result) Sets() [][2]*gate.Set {
	out := make([][2]*gate.Set, len(r.Pairs))
	for i, p := range r.Pairs {
		out[i] = p.Sets
	}
	return out
}

// Names of the metrics of a run whose output held nothing gate
// understands. max-rss is left out of a run whose peak is within 5% of
// the runner's own (Timing.RSSFloor): that peak is not the command's.
const (
	MetricWall   = "wall"    // s, gate.KindTime
	MetricCPU    = "cpu"     // s, gate.KindCPU
	MetricMaxRSS = "max-rss" // B, gate.KindMemory
)

// Run runs o.Warmup warm-up runs of each side, then o.Pairs pairs. It
// stops at the first failing run, with an error naming the side, the pair,
// the exit status and the last lines of stderr; when ctx is done it kills
// the running command's process group. Either way the Result holds the
// pairs completed before.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Pairs == 0 {
		o.Pairs = 10
	}
	if o.Pairs < 0 || o.Warmup < 0 {
		return nil, fmt.Errorf("pairs (%d) and warm-up runs (%d) cannot be negative", o.Pairs, o.Warmup)
	}
	if o.Base == "" || o.Head == "" {
		return nil, errors.New("both a base and a head command are needed")
	}
	if o.Parse == nil {
		o.Parse = gate.ParseData
	}
	res := &Result{Options: o}
	for i := range o.Warmup {
		var line string
		for _, side := range []Side{Base, Head} {
			r, _, err := execute(ctx, &o, o.command(side))
			r.Side, r.Pair = side, -1
			res.Runs = append(res.Runs, r)
			if err != nil {
				return res, failure(side, fmt.Sprintf("warm-up run %d", i+1), err)
			}
			line += fmt.Sprintf("  %s %s", side, r.brief())
		}
		o.progress("warm-up %d/%d:%s (discarded)", i+1, o.Warmup, line)
	}
	for i := range o.Pairs {
		p := Pair{First: Base}
		if i%2 == 1 {
			p.First = Head
		}
		start := time.Now()
		for _, side := range []Side{p.First, 1 - p.First} {
			r, stdout, err := execute(ctx, &o, o.command(side))
			r.Side, r.Pair = side, i
			if err == nil {
				p.Sets[side], r.FromOutput, err = o.metrics(fmt.Sprintf("%s run %d", side, i+1), stdout, &r)
			}
			res.Runs = append(res.Runs, r)
			if err != nil {
				return res, failure(side, fmt.Sprintf("pair %d", i+1), err)
			}
			p.Runs[side] = r
		}
		p.Overhead = time.Since(start) - p.Runs[Base].Wall - p.Runs[Head].Wall
		res.Pairs = append(res.Pairs, p)
		o.progress("pair %d/%d: %s first  base %s  head %s", i+1, o.Pairs, p.First, p.Runs[Base].brief(), p.Runs[Head].brief())
	}
	return res, nil
}

// metrics is a run's set: what its output holds that o.Parse understands,
// else its wall time, CPU time and peak RSS (when above Timing.RSSFloor).
func (o *Options) metrics(name string, stdout []byte, r *Timing) (*gate.Set, bool, error) {
	set := gate.NewSet()
	ok, err := o.Parse(name, stdout, set)
	if err != nil {
		return nil, false, fmt.Errorf("reading its output: %w", err)
	}
	if ok && set.Len() > 0 {
		return set, true, nil
	}
	set = gate.NewSet()
	set.Add(MetricWall, "s", gate.KindTime, false, r.Wall.Seconds(), name)
	set.Add(MetricCPU, "s", gate.KindCPU, false, r.CPU.Seconds(), name)
	// A peak not above the runner's own is the runner's, not the command's.
	if r.MaxRSS > r.RSSFloor+r.RSSFloor/20 {
		set.Add(MetricMaxRSS, "B", gate.KindMemory, false, float64(r.MaxRSS), name)
	}
	return set, false, nil
}

func (o *Options) command(s Side) string {
	if s == Head {
		return o.Head
	}
	return o.Base
}

func (o *Options) progress(format string, args ...any) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, format+"\n", args...)
	}
}

// failure is the one-line error of a run that failed or was interrupted.
func failure(side Side, where string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted in %s's %s: %w", side, where, err)
	}
	return fmt.Errorf("%s failed in %s: %w", side, where, err)
}

// brief is "152.3ms (cpu 150.1ms, rss 6.1 MB)".
func (r Timing) brief() string {
	return fmt.Sprintf("%s (cpu %s, rss %.1f MB)", r.Wall.Round(100*time.Microsecond), r.CPU.Round(100*time.Microsecond), float64(r.MaxRSS)/1e6)
}
