// Package bottlenecks reads the user's bottleneck list and SLOs and gives
// every finding of a diagnosis its status against them.
//
// The list lives in perfprobe.yaml, or in ```perfprobe fenced YAML blocks
// of PERFORMANCE.md: SLOs on the capture's histograms, counts and shares,
// and the known hot spots, each acceptable (within a budget, until a date)
// or must-fix. Apply marks the findings that match an entry, adds a
// finding for a listed hot spot that no plugin reported, checks the SLOs
// and adds a finding per breach. docs/bottlenecks.md is the reference.
package bottlenecks

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
)

// List is a bottleneck list with its SLOs.
type List struct {
	Path        string // the file it came from
	SLOs        []SLO
	Bottlenecks []Bottleneck
	// Plugins are the external plugins listed under plugins:, names or
	// paths as written.
	Plugins []string
}

// SLO is one service-level objective: a metric of the capture and a bound.
type SLO struct {
	Name   string
	Metric string // as written: "tls_handshake.p95", "share(hashing, oncpu)"
	// Bound is "max" or "min": Limit is an upper or a lower bound.
	Bound string
	// Limit is in the metric's unit (Unit): nanoseconds, percent
	// (0..100), a count or a rate per second.
	Limit float64
	Unit  string // "ns", "%", "count", "/s"
	Note  string
	Line  int // in Path

	m         metric
	limitKind limitKind
}

// Bottleneck is one known hot spot and what the team decided about it.
type Bottleneck struct {
	Name string
	// Category matches the findings of a built-in category ("" for none).
	Category plugins.Category
	// Match is a regexp on function names ("" for none); the entry then
	// also finds its hot spot in the profile when no plugin reported it.
	Match string
	// Type is the sample type Match is measured in; "oncpu" by default,
	// which falls back to "go_cpu" when the profile has no oncpu.
	Type   string
	Status string // plugins.StatusAcceptable or plugins.StatusMustFix
	// Budget is the share (0..1] an acceptable hot spot may take; 0 for
	// no budget.
	Budget float64
	Owner  string
	// Expires ends an acceptance: from this instant (a date means its
	// start, UTC) the entry counts as must-fix, status "expired". Zero
	// when it does not expire.
	Expires time.Time
	Note    string
	Line    int // in Path

	re *regexp.Regexp
}

// File names Find looks for in a directory.
const (
	YAMLFile     = "perfprobe.yaml"
	MarkdownFile = "PERFORMANCE.md"
)

// Load reads and parses the list at path.
func Load(path string) (*List, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the bottleneck list: %w", err)
	}
	return Parse(path, data)
}

// Find looks in order: explicit (when not ""; error if missing/bad),
// dir/perfprobe.yaml, ```perfprobe blocks in dir/PERFORMANCE.md. Returns
// nil, nil when none exists and explicit == "".
func Find(explicit, dir string) (*List, error) {
	if explicit != "" {
		return Load(explicit)
	}
	path := filepath.Join(dir, YAMLFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return Parse(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading the bottleneck list: %w", err)
	}
	path = filepath.Join(dir, MarkdownFile)
	data, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the bottleneck list: %w", err)
	}
	if blocks, _ := fencedBlocks(data); len(blocks) == 0 {
		return nil, nil // a PERFORMANCE.md without a perfprobe block
	}
	return Parse(path, data)
}

// Starter is a commented starter block (YAML): the sections with their
// examples commented out, so that it parses to an empty list.
func Starter() string {
	return `# perfprobe checks every capture against this block: the SLOs it must
# meet, and the known bottlenecks with what was decided about each.
# Reference: docs/bottlenecks.md in the perfprobe repository.

# slos: a metric of the capture and a max: or min: limit.
#   <histogram>.<p50|p95|p99|max|mean|count>   tls_handshake.p95, runqueue.p99
#   share(<category or /regexp/>, <type>)     share(hashing, oncpu), in %
#   count(<count>), rate(<count>), total(<type>)
# Limits: durations (5ms), percentages (25%), plain numbers.
slos:
  # - name: handshake-p95
  #   metric: tls_handshake.p95
  #   max: 5ms
  # - name: hashing-share
  #   metric: share(hashing, oncpu)
  #   max: 25%

# bottlenecks: known hot spots, matched by a built-in category and/or a
# regexp on function names; the first entry that matches a finding wins.
#   status: acceptable (within budget, until expires) or must-fix
bottlenecks:
  # - name: upload-hashing
  #   category: hashing
  #   match: 'crypto/sha256|main\.checksum'
  #   type: oncpu
  #   status: acceptable
  #   budget: 30%
  #   owner: storage-team
  #   expires: 2027-03-01
  #   note: sha256 of every upload is required by the protocol

# External diagnosis plugins to run, by name or path:
# plugins: [perfprobe-plugin-foo, ./tools/myplugin]
`
}

// Init starts a list in dir for perfprobe init: it appends a ```perfprobe
// fenced starter block to dir/PERFORMANCE.md when that exists (an error if
// it already has one), else writes dir/perfprobe.yaml. An existing
// dir/perfprobe.yaml is an error either way: Find reads it first.
func Init(dir string) (path string, err error) {
	yamlPath := filepath.Join(dir, YAMLFile)
	if _, err := os.Stat(yamlPath); err == nil {
		return "", fmt.Errorf("%s already exists (perfprobe reads it before %s)", yamlPath, MarkdownFile)
	}
	mdPath := filepath.Join(dir, MarkdownFile)
	data, err := os.ReadFile(mdPath)
	switch {
	case err == nil:
		if blocks, _ := fencedBlocks(data); len(blocks) > 0 {
			return "", fmt.Errorf("%s:%d: already has a ```perfprobe block", mdPath, blocks[0].fence)
		}
		var add bytes.Buffer
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			add.WriteString("\n")
		}
		if len(data) > 0 {
			add.WriteString("\n")
		}
		add.WriteString("```perfprobe\n" + Starter() + "```\n")
		f, err := os.OpenFile(mdPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return "", fmt.Errorf("opening %s: %w", mdPath, err)
		}
		if _, err := f.Write(add.Bytes()); err != nil {
			f.Close()
			return "", fmt.Errorf("appending to %s: %w", mdPath, err)
		}
		return mdPath, f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("reading %s: %w", mdPath, err)
	}
	f, err := os.OpenFile(yamlPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", yamlPath, err)
	}
	if _, err := f.WriteString(Starter()); err != nil {
		f.Close()
		return "", fmt.Errorf("writing %s: %w", yamlPath, err)
	}
	return yamlPath, f.Close()
}
