package fetch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/google/pprof/profile"
)

// parseProfileAnswer turns the body and Content-Type of a 200 answer into
// a profile, or says in one line what came instead. The profile is
// validated (profile.ParseData runs CheckValid). Decompression is bounded
// by limit, like the body itself, so that a small gzip bomb cannot
// exhaust memory.
func parseProfileAnswer(body []byte, contentType string, limit int64) (*profile.Profile, error) {
	if len(body) == 0 {
		return nil, errors.New("empty answer instead of a profile")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	head := bytes.TrimSpace(body[:min(len(body), 512)])
	switch {
	case mt == "text/html" || bytes.HasPrefix(head, []byte("<")):
		return nil, errors.New("got an HTML page, not a profile (a web app's catch-all page? check the URL)")
	case strings.HasPrefix(mt, "text/") || mt == "application/json":
		return nil, fmt.Errorf("got text, not a profile: %q", serverMessage(body))
	}
	raw := body
	if len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip answer: %v", err)
		}
		raw, err = io.ReadAll(io.LimitReader(zr, limit+1))
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("truncated gzip answer: it ends after %d bytes", len(body))
		case err != nil:
			return nil, fmt.Errorf("corrupt gzip answer: %v", err)
		case int64(len(raw)) > limit:
			return nil, fmt.Errorf("profile larger than %s once decompressed: not reading it", byteSize(limit))
		}
	}
	p, err := profile.ParseData(raw)
	if err != nil {
		return nil, fmt.Errorf("not a pprof profile: %v", err)
	}
	return p, nil
}

// hasSampleType reports whether p has the sample type "type/unit".
func hasSampleType(p *profile.Profile, want string) bool {
	return slices.Contains(sampleTypes(p), want)
}

func sampleTypes(p *profile.Profile) []string {
	var out []string
	for _, st := range p.SampleType {
		out = append(out, st.Type+"/"+st.Unit)
	}
	return out
}

// statusCause describes a non-200 answer to a request for path in one line,
// with the server's own message (net/http/pprof answers errors in one line
// of text) and what to do about the ones we know.
func statusCause(a *answer, path string) string {
	msg := serverMessage(a.body)
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt == "text/html" || strings.HasPrefix(strings.TrimSpace(msg), "<") {
		msg = "(an HTML page)"
	}
	status := fmt.Sprintf("%d %s", a.status, http.StatusText(a.status))
	hint := ""
	switch {
	case strings.Contains(msg, "HTTPS server") || strings.Contains(msg, "HTTPS port"):
		hint = ": the port serves HTTPS: use https://"
	case strings.Contains(msg, "profiling already in use"):
		hint = " (another CPU profile of the target is running: a second perfprobe, go tool pprof, or the target itself)"
	case strings.Contains(msg, "WriteTimeout"):
		hint = " (the target's http.Server WriteTimeout is shorter than the profile: raise it)"
	}
	if msg == "" {
		return fmt.Sprintf("%s answered %s%s", path, status, hint)
	}
	return fmt.Sprintf("%s answered %s: %s%s", path, status, msg, hint)
}

// serverMessage returns the first non-empty line of an error answer,
// printable and at most 200 characters.
func serverMessage(body []byte) string {
	s := string(body[:min(len(body), 4096)])
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.Map(func(r rune) rune {
			if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
				return '?'
			}
			return r
		}, line)
		if r := []rune(line); len(r) > 200 {
			line = string(r[:200]) + "…"
		}
		return line
	}
	return ""
}
