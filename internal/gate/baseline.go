package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/perfprobe/perfprobe/profile"
)

// UpdateBaseline copies the result files found in sources (files or
// directories, as Load reads them; a capture.json with the files its
// capture wrote) into dir, removes the files the previous update copied,
// and writes dir/meta.json with m and the files' names.
func UpdateBaseline(dir string, sources []string, m *Meta) (*Meta, error) {
	type copyOp struct{ from, to string }
	var ops []copyOp
	for _, src := range sources {
		set, err := Load(src)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		for _, rel := range set.Files {
			from, to := filepath.Join(src, rel), rel
			if !fi.IsDir() {
				from, to = src, filepath.Base(src)
			}
			ops = append(ops, copyOp{from, to})
			data, err := os.ReadFile(from)
			if err != nil {
				return nil, err
			}
			for _, f := range captureFiles(data) {
				side := filepath.Join(filepath.Dir(from), f)
				if _, err := os.Stat(side); err == nil && f == profile.CaptureProfile { // the shares are computed from it
					ops = append(ops, copyOp{side, filepath.Join(filepath.Dir(to), f)})
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.to] {
			return nil, fmt.Errorf("two result files would both be %s in the baseline: give them different names", op.to)
		}
		seen[op.to] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the baseline directory: %w", err)
	}
	if old, err := Load(dir); err == nil && old.Meta != nil {
		for _, f := range old.Meta.Files {
			if !filepath.IsLocal(f) {
				continue // never outside the baseline
			}
			os.Remove(filepath.Join(dir, f))
		}
	}
	m.Files = nil
	for _, op := range ops {
		if err := copyFile(op.from, filepath.Join(dir, op.to)); err != nil {
			return nil, err
		}
		m.Files = append(m.Files, op.to)
	}
	slices.Sort(m.Files)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, MetaFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("writing the baseline's meta.json: %w", err)
	}
	return m, os.Rename(tmp, filepath.Join(dir, MetaFile))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copying into the baseline: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("copying into the baseline: %w", err)
	}
	out, err := os.Create(to)
	if err != nil {
		return fmt.Errorf("copying into the baseline: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s into the baseline: %w", from, err)
	}
	return out.Close()
}
