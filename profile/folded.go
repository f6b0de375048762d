package profile

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

// maxFoldedLine bounds one line of folded input (deep Java stacks reach
// hundreds of kilobytes).
const maxFoldedLine = 16 << 20

// ReadFolded parses root-first folded stacks ("a;b;c 123" per line, as
// written by WriteFolded, Brendan Gregg's stackcollapse scripts and most
// profilers) into a pprof profile with one sample type typ/unit. Frame
// names may contain spaces: the value is the last field. Blank lines and
// lines starting with '#' are skipped. Frames ending in "_[k]" keep that
// name. A malformed line is an error naming its line number.
func ReadFolded(r io.Reader, typ, unit string) (*profile.Profile, error) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: typ, Unit: unit}}, DefaultSampleType: typ}
	funcs := map[string]*profile.Location{}
	loc := func(name string) *profile.Location {
		if l, ok := funcs[name]; ok {
			return l
		}
		fn := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name}
		p.Function = append(p.Function, fn)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
		p.Location = append(p.Location, l)
		funcs[name] = l
		return l
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxFoldedLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexAny(line, " \t")
		if sp <= 0 {
			return nil, fmt.Errorf("folded line %d: want \"frame;frame;... VALUE\", got %q", n, clip(line))
		}
		v, err := strconv.ParseInt(line[sp+1:], 10, 64)
		if err != nil || v < 0 {
			// Some tools write fractional values; round them.
			f, ferr := strconv.ParseFloat(line[sp+1:], 64)
			if ferr != nil || f < 0 || f > 9e18 {
				return nil, fmt.Errorf("folded line %d: value %q is not a non-negative number", n, clip(line[sp+1:]))
			}
			v = int64(f + 0.5)
		}
		stack := strings.TrimRight(line[:sp], " \t")
		if stack == "" {
			return nil, fmt.Errorf("folded line %d: empty stack", n)
		}
		if v == 0 {
			continue
		}
		frames := strings.Split(stack, ";")
		s := &profile.Sample{Value: []int64{v}, Location: make([]*profile.Location, 0, len(frames))}
		for i := len(frames) - 1; i >= 0; i-- { // pprof is leaf first
			name := frames[i]
			if name == "" {
				name = "[unknown]"
			}
			s.Location = append(s.Location, loc(name))
		}
		p.Sample = append(p.Sample, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading folded stacks: line %d: %w", n+1, err)
	}
	if len(p.Sample) == 0 {
		return nil, fmt.Errorf("no folded stacks found (want lines like \"main;work 42\")")
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
