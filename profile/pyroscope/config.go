package pyroscope

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults of Config's zero values.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultQueueBytes = 64 << 20
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Config of the push client. Secrets are never printed: String and every
// error the package returns redact them.
type Config struct {
	// URL of the Pyroscope server, e.g. http://pyroscope:4040. A path
	// prefix (a reverse proxy's) is kept; user:password in the URL is
	// basic auth, as if given in BasicAuthUser and BasicAuthPassword.
	URL               string
	BasicAuthUser     string
	BasicAuthPassword string
	BearerToken       string
	TenantID          string // sent as X-Scope-OrgID
	// CAFile is a PEM bundle added to the system roots, for https.
	CAFile             string
	InsecureSkipVerify bool
	Timeout            time.Duration // per push; 0: DefaultTimeout
	QueueBytes         int64         // memory cap of the send queue; 0: DefaultQueueBytes
	// MinBackoff and MaxBackoff bound the exponential backoff (with full
	// jitter) between retries; 0: DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

const redacted = "<redacted>"

// String describes the configuration with its secrets redacted.
func (c Config) String() string {
	secret := func(s string) string {
		if s == "" {
			return `""`
		}
		return redacted
	}
	return fmt.Sprintf("pyroscope.Config{URL: %q, BasicAuthUser: %q, BasicAuthPassword: %s, BearerToken: %s, TenantID: %q, CAFile: %q, InsecureSkipVerify: %t, Timeout: %s, QueueBytes: %d, MinBackoff: %s, MaxBackoff: %s}",
		redactURL(c.URL), c.BasicAuthUser, secret(c.BasicAuthPassword), secret(c.BearerToken), c.TenantID, c.CAFile, c.InsecureSkipVerify, c.Timeout, c.QueueBytes, c.MinBackoff, c.MaxBackoff)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// redactURL hides the password of a URL's userinfo; a URL that does not
// parse is hidden whole when it may hold one.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return redacted
		}
		return raw
	}
	return u.Redacted()
}

// Validate checks the configuration; each error is one line that names the
// setting ("pyroscope url: ...") and never holds a secret.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is a validated Config with its defaults applied.
type resolved struct {
	Config
	base    string // URL without userinfo, without a trailing slash
	secrets []string
}

func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	if c.URL == "" {
		return nil, errors.New("pyroscope url: empty; give the server's address, e.g. http://pyroscope:4040")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Parse's message quotes the URL, which may hold a password.
		if strings.Contains(c.URL, "@") {
			return nil, errors.New("pyroscope url: not a valid URL (check the scheme, host and port)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("pyroscope url: %q is not a valid URL: %v", c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("pyroscope url: scheme %q is not supported: use http:// or https://", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("pyroscope url: no host; give it as http://host:port")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("pyroscope url: a query or fragment is not supported; give the server's base address")
	}
	if u.User != nil {
		if c.BasicAuthUser != "" || c.BasicAuthPassword != "" {
			return nil, errors.New("pyroscope url: holds a user and so do the basic auth settings: give one")
		}
		r.BasicAuthUser = u.User.Username()
		r.BasicAuthPassword, _ = u.User.Password()
		u.User = nil
	}
	r.base = strings.TrimSuffix(u.String(), "/")
	switch {
	case r.BasicAuthUser != "" && r.BasicAuthPassword == "":
		return nil, errors.New("pyroscope password: a basic auth user is set but no password (use --pyroscope-password-file)")
	case r.BasicAuthUser == "" && r.BasicAuthPassword != "":
		return nil, errors.New("pyroscope user: a basic auth password is set but no user")
	case r.BasicAuthUser != "" && c.BearerToken != "":
		return nil, errors.New("pyroscope auth: both basic auth and a bearer token are set: give one")
	}
	for _, f := range []struct{ name, v string }{{"user", r.BasicAuthUser}, {"password", r.BasicAuthPassword}, {"bearer token", c.BearerToken}, {"tenant id", c.TenantID}} {
		if strings.ContainsFunc(f.v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return nil, fmt.Errorf("pyroscope %s: contains a control character (a newline at the end of a file read by hand?)", f.name)
		}
	}
	if strings.Contains(r.BasicAuthUser, ":") {
		return nil, errors.New("pyroscope user: contains ':', which basic auth cannot carry")
	}
	if c.CAFile != "" {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("pyroscope ca file: given, but the url is %s, not https", u.Scheme)
		}
		if _, err := loadCA(c.CAFile); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", c.Timeout}, {"min backoff", c.MinBackoff}, {"max backoff", c.MaxBackoff}} {
		if d.v < 0 {
			return nil, fmt.Errorf("pyroscope %s: %s is negative", d.name, d.v)
		}
	}
	if c.QueueBytes < 0 {
		return nil, fmt.Errorf("pyroscope queue bytes: %d is negative", c.QueueBytes)
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if r.QueueBytes == 0 {
		r.QueueBytes = DefaultQueueBytes
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = DefaultMinBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = max(DefaultMaxBackoff, r.MinBackoff)
	}
	if r.MinBackoff > r.MaxBackoff {
		return nil, fmt.Errorf("pyroscope backoff: min %s is above max %s", r.MinBackoff, r.MaxBackoff)
	}
	for _, s := range []string{r.BasicAuthPassword, r.BearerToken} {
		if s != "" {
			r.secrets = append(r.secrets, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	if r.BasicAuthUser != "" {
		r.secrets = append(r.secrets, basicAuth(r.BasicAuthUser, r.BasicAuthPassword))
	}
	return r, nil
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// redact replaces every secret of the configuration in s.
func (r *resolved) redact(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pyroscope ca file: reading it: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("pyroscope ca file: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// maxSecretBytes bounds what LoadSecret reads: a secret file is small.
const maxSecretBytes = 64 << 10

// LoadSecret reads a secret (a password, a token) from a file, for flags
// like --pyroscope-password-file, with surrounding white space trimmed.
// Its errors name the file, never its content.
func LoadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading secret from %s: %w", path, err)
	}
	if len(b) > maxSecretBytes {
		return "", fmt.Errorf("reading secret from %s: larger than %d KiB, not a secret file", path, maxSecretBytes>>10)
	}
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return "", fmt.Errorf("reading secret from %s: the file is empty", path)
	}
	return s, nil
}

// httpClient is the client of a resolved Config: its TLS settings, and a
// transport that adds the auth and tenant headers and records each
// response's HTTP status.
func (r *resolved) httpClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: r.InsecureSkipVerify}
	if r.CAFile != "" {
		pool, err := loadCA(r.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	h := http.Header{}
	switch {
	case r.BasicAuthUser != "":
		h.Set("Authorization", "Basic "+basicAuth(r.BasicAuthUser, r.BasicAuthPassword))
	case r.BearerToken != "":
		h.Set("Authorization", "Bearer "+r.BearerToken)
	}
	if r.TenantID != "" {
		h.Set("X-Scope-OrgID", r.TenantID)
	}
	return &http.Client{Transport: &authTransport{base: tr, header: h}}, nil
}

// authTransport adds the headers and records the HTTP status of the
// response where the request's context asks for it (statusKey): connect
// maps statuses to codes, and the client decides on the status itself.
type authTransport struct {
	base   http.RoundTripper
	header http.Header
}

type statusKey struct{}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = v
	}
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		if p, ok := req.Context().Value(statusKey{}).(*int); ok {
			*p = resp.StatusCode
		}
	}
	return resp, err
}
