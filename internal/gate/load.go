package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/perfprobe/perfprobe/profile"
)

// maxFile is the largest file Load reads: result files are small, and a
// directory of results may hold a core dump or a binary beside them.
const maxFile = 64 << 20

// MetaFile is the name of the file in a side's top directory that
// describes the machine (Meta); it is not a result.
const MetaFile = "meta.json"

// Load reads one side: a result file, or a directory walked recursively
// (hidden files and directories skipped) where every file is recognised
// by content. Files understood are listed in Set.Files, the others in
// Set.Skipped with why; a meta.json in the top directory fills Set.Meta.
// A file that is recognised but malformed is an error, and so is a
// directory without any result file. Files beside a capture.json that
// the capture wrote (its profile, flame graph, reports) are neither.
func Load(path string) (*Set, error) { return LoadShares(path, nil) }

// LoadShares is Load that also measures, in every capture with a profile,
// the shares given as SLO metrics: "share(/main\.checksum/, oncpu)" (a
// function regexp) or "share(hashing, go_cpu)".
func LoadShares(path string, shares []string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w (gate reads %s)", err, Formats)
	}
	set := NewSet()
	set.shares = shares
	if !fi.IsDir() {
		data, why, err := readResult(path, fi)
		if err != nil {
			return nil, err
		}
		ok := false
		if why == "" {
			if ok, err = parseData(path, filepath.Dir(path), data, set); err != nil {
				return nil, err
			}
		}
		if !ok {
			if why == "" {
				why = "not a result file"
			}
			return nil, fmt.Errorf("%s: %s; gate reads %s", path, why, Formats)
		}
		set.Files = append(set.Files, path)
		return set, nil
	}

	var skipped []string
	captureOwn := map[string]bool{} // files a capture wrote, by path
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(path, p)
		if rel == MetaFile {
			return readMeta(p, set)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		data, why, err := readResult(p, info)
		if err != nil {
			return err
		}
		if why == "" {
			var ok bool
			if ok, err = parseData(rel, filepath.Dir(p), data, set); err != nil {
				return err
			}
			if ok {
				set.Files = append(set.Files, rel)
				for _, f := range captureFiles(data) {
					captureOwn[filepath.Join(filepath.Dir(p), f)] = true
				}
				return nil
			}
			why = "not a result file"
		}
		skipped = append(skipped, rel+": "+why)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		rel, _, _ := strings.Cut(s, ": ")
		if !captureOwn[filepath.Join(path, rel)] {
			set.Skipped = append(set.Skipped, s)
		}
	}
	if len(set.Files) == 0 {
		return nil, fmt.Errorf("%s has no result file (gate reads %s)", path, Formats)
	}
	return set, nil
}

// readResult reads a file that may be a result, or says why it is not one.
func readResult(path string, fi fs.FileInfo) (data []byte, why string, err error) {
	if fi.Size() > maxFile {
		return nil, fmt.Sprintf("larger than %d MiB", maxFile>>20), nil
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", path, err)
	}
	if isBinary(data) {
		return nil, "binary", nil
	}
	return data, "", nil
}

// isBinary reports whether data looks like no text: a NUL byte, or
// invalid UTF-8, in its first 8 KiB.
func isBinary(data []byte) bool {
	head := data[:min(len(data), 8192)]
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	if len(head) < len(data) {
		// A rune cut at the end of head is not binary.
		for i := 0; i < utf8.UTFMax-1 && !utf8.Valid(head); i++ {
			head = head[:len(head)-1]
		}
	}
	return !utf8.Valid(head)
}

func readMeta(path string, set *Set) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	set.Meta = &m
	return nil
}

// captureFiles are the files a capture.json says its capture wrote beside
// it, or none when data is not a capture.json.
func captureFiles(data []byte) []string {
	var c struct {
		Schema *int              `json:"schema"`
		Files  map[string]string `json:"files"`
	}
	if json.Unmarshal(data, &c) != nil || c.Schema == nil {
		return nil
	}
	out := []string{profile.CaptureProfile}
	for _, f := range c.Files {
		out = append(out, f)
	}
	return out
}
