package profile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

// CaptureProfile is the file name of a capture directory's profile.
const CaptureProfile = "profile.pb.gz"

// maxInput bounds a profile read from disk.
const maxInput = 1 << 30

// Load reads a profile from path: a pprof file (gzipped or not, including
// those of go test -cpuprofile and go tool pprof -proto, and the legacy
// formats pprof reads), a capture directory written by perfprobe (its
// profile.pb.gz), or root-first folded stacks (taken as nanoseconds of
// type "folded" unless the file name says otherwise, e.g. oncpu.folded).
func Load(path string) (*profile.Profile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening profile: %w", err)
	}
	if fi.IsDir() {
		inner := filepath.Join(path, CaptureProfile)
		if _, err := os.Stat(inner); err != nil {
			return nil, fmt.Errorf("%s is a directory without %s: give a perfprobe capture directory or a profile file", path, CaptureProfile)
		}
		path = inner
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening profile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is larger than 1 GiB: not a profile this tool reads", path)
	}
	typ := "folded"
	if base := filepath.Base(path); strings.HasSuffix(base, ".folded") {
		typ = strings.TrimSuffix(base, ".folded")
	}
	p, err := Parse(data, typ)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse reads a profile from data: pprof (any encoding profile.Parse
// knows) or, failing that, folded stacks of sample type foldedType. The
// error says what the data looked like when it is neither.
func Parse(data []byte, foldedType string) (*profile.Profile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file: not a profile")
	}
	p, perr := profile.ParseData(data)
	if perr == nil {
		if err := p.CheckValid(); err != nil {
			return nil, fmt.Errorf("corrupt pprof profile: %w", err)
		}
		if len(p.SampleType) == 0 {
			return nil, errors.New("pprof profile has no sample types")
		}
		return p, nil
	}
	if looksFolded(data) {
		fp, err := ReadFolded(bytes.NewReader(data), foldedType, "nanoseconds")
		if err != nil {
			return nil, err
		}
		return fp, nil
	}
	return nil, fmt.Errorf("not a pprof profile (%v) nor folded stacks", perr)
}

// looksFolded reports whether the first non-comment line ends in a number.
func looksFolded(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexAny(line, " \t")
		if sp <= 0 {
			return false
		}
		_, err := strconv.ParseFloat(line[sp+1:], 64)
		return err == nil
	}
	return false
}
