package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// Thresholds turn a share into a score, and keep it at info unless the
// absolute evidence is there too: a share of a few milliseconds, of a
// handful of samples, or of a very short window proves nothing.
type Thresholds struct {
	Warn, Critical float64 // share (0..1) that scores ScoreWarning / ScoreCritical
	MinValue       time.Duration
	MinSamples     int64
	MinWindow      time.Duration
}

// Default absolute gates for on-CPU hot spots: at least 200 ms of CPU in
// the category, 20 samples, over a window of at least 1 s.
const (
	DefaultMinValue   = 200 * time.Millisecond
	DefaultMinSamples = 20
	DefaultMinWindow  = time.Second
)

// HotSpot is the usual threshold of an on-CPU hot spot: a warning at 20%
// of the CPU, critical at 50%.
var HotSpot = Thresholds{Warn: 0.20, Critical: 0.50, MinValue: DefaultMinValue, MinSamples: DefaultMinSamples, MinWindow: DefaultMinWindow}

// Score maps share to 0..100: linear up to ScoreWarning at Warn, to
// ScoreCritical at Critical, to 100 at twice the critical share (or 1).
// It stays below ScoreWarning when value, samples or window fall short of
// the minimums; gated says which one did ("" when none).
func (t Thresholds) Score(share float64, value time.Duration, samples int64, window time.Duration) (score int, gated string) {
	var s float64
	switch {
	case share < t.Warn:
		s = ScoreWarning * share / t.Warn
	case share < t.Critical:
		s = ScoreWarning + (ScoreCritical-ScoreWarning)*(share-t.Warn)/(t.Critical-t.Warn)
	default:
		top := math.Min(1, 2*t.Critical)
		if top <= t.Critical {
			s = 100
		} else {
			s = ScoreCritical + (100-ScoreCritical)*math.Min(1, (share-t.Critical)/(top-t.Critical))
		}
	}
	switch {
	case window < t.MinWindow:
		gated = fmt.Sprintf("window %s is under %s", window.Round(time.Millisecond), t.MinWindow)
	case value < t.MinValue:
		gated = fmt.Sprintf("%s is under %s", Seconds(int64(value)), Seconds(int64(t.MinValue)))
	case samples < t.MinSamples:
		gated = fmt.Sprintf("%d samples are under %d", samples, t.MinSamples)
	}
	if gated != "" && s >= ScoreWarning {
		s = ScoreWarning - 1
	}
	return int(math.Round(s)), gated
}

// Confidence says how sure a finding is: the independent signals looked at
// and whether each agrees.
type Confidence struct {
	Level   string   `json:"level"` // high | medium | low
	Signals []Signal `json:"signals"`
}

// Signal is one independent piece of evidence.
type Signal struct {
	Name   string `json:"name"`   // "oncpu in crypto/tls", "handshake count", ...
	Agrees bool   `json:"agrees"` // it points the same way
	Detail string `json:"detail"` // its number, in words
}

// Agreement derives the confidence from signals: high when two or more
// agree and none disagrees, medium when one more agrees than disagrees,
// low otherwise.
func Agreement(signals ...Signal) Confidence {
	c := Confidence{Signals: signals}
	if c.Signals == nil {
		c.Signals = []Signal{}
	}
	yes, no := 0, 0
	for _, s := range signals {
		if s.Agrees {
			yes++
		} else {
			no++
		}
	}
	switch {
	case yes >= 2 && no == 0:
		c.Level = "high"
	case yes > no:
		c.Level = "medium"
	default:
		c.Level = "low"
	}
	return c
}

// Fingerprint is a finding's stable id: the first 16 hex digits of the
// SHA-256 of plugin, category and key.
func Fingerprint(plugin, category string, key []string) string {
	h := sha256.New()
	h.Write([]byte(plugin + "\x00" + category))
	for _, k := range key {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fingerprintKey is Key, or else the first stack's three leafmost frames
// that are neither unknown nor numbers (addresses change between builds).
func (f *Finding) fingerprintKey() []string {
	if len(f.Key) > 0 {
		return f.Key
	}
	if len(f.Stacks) == 0 {
		return []string{f.Title}
	}
	var key []string
	for _, fr := range f.Stacks[0] {
		if fr == "[unknown]" || strings.HasPrefix(fr, "0x") {
			continue
		}
		key = append(key, fr)
		if len(key) == 3 {
			break
		}
	}
	return key
}

// Pct formats a 0..1 share as a percentage for a detail line.
func Pct(share float64) string {
	if share > 0 && share < 0.01 {
		return fmt.Sprintf("%.1f%%", 100*share)
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}
