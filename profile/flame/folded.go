package flame

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/google/pprof/profile"

	pp "github.com/perfprobe/perfprobe/profile"
)

// WriteFolded writes sample type typ of p as root-first folded stacks:
// "root;caller;leaf VALUE" per line, equal stacks merged, sorted. Kernel
// frames end in "_[k]". Values are in the sample type's unit (nanoseconds
// for time). With threadRoot, each stack starts with its thread name.
func WriteFolded(w io.Writer, p *profile.Profile, typ string, threadRoot bool) error {
	i := pp.ValueIndex(p, typ)
	if i < 0 {
		return fmt.Errorf("profile has no sample type %q", typ)
	}
	sums := map[string]int64{}
	for _, s := range p.Sample {
		v := s.Value[i]
		if v == 0 {
			continue
		}
		frames := pp.Frames(s)
		slices.Reverse(frames)
		if threadRoot {
			if t := s.Label["thread"]; len(t) > 0 {
				frames = append([]string{t[0]}, frames...)
			}
		}
		for j, f := range frames {
			frames[j] = foldedName(f)
		}
		sums[strings.Join(frames, ";")] += v
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		if _, err := fmt.Fprintf(bw, "%s %d\n", k, sums[k]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// foldedName keeps a frame on one field: ';' separates frames and a line
// ends a stack.
func foldedName(s string) string {
	if s == "" {
		return "[unknown]"
	}
	return strings.NewReplacer(";", ":", "\n", " ", "\r", " ").Replace(s)
}
