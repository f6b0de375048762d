package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// localLayouts are the date-time forms without a zone ParseTime accepts.
var localLayouts = []string{
	"2006-01-02 15:04", "2006-01-02 15:04:05",
	"2006-01-02T15:04", "2006-01-02T15:04:05",
	"2006-01-02",
}

// ParseTime parses "now", a negative duration relative to now ("-1h",
// "-15m", "-90s", "-1h30m", or whole days "-2d"), RFC 3339
// ("2026-12-01T10:00:00Z"), a date-time without zone in now's location
// (the local time zone for time.Now(): "2026-12-01 10:00", "2026-12-01
// 10:00:05", "2026-12-01" for midnight), or Unix seconds ("1764583200").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("empty time: %s", timeForms)
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, err := parseAgo(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %v; %s", s, err, timeForms)
		}
		return now.Add(d), nil
	case strings.Trim(s, "0123456789") == "":
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec > 1<<40 {
			return time.Time{}, fmt.Errorf("time %q: out of range as Unix seconds; %s", s, timeForms)
		}
		return time.Unix(sec, 0).In(now.Location()), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	if _, err := time.ParseDuration(s); err == nil {
		return time.Time{}, fmt.Errorf("time %q: a duration must be negative (-%s: that long ago)", s, s)
	}
	return time.Time{}, fmt.Errorf("time %q: %s", s, timeForms)
}

const timeForms = `use now, a duration ago (-1h, -15m, -2d), RFC 3339 (2026-12-01T10:00:00Z), local time ("2026-12-01 10:00") or Unix seconds`

// parseAgo parses a negative duration; "-Nd" is N whole days.
func parseAgo(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s[1:], "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("days must be a whole number")
		}
		return -time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration")
	}
	return d, nil
}
