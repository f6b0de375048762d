package pyroscope_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/pyroscope/pyroscopetest"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  pyroscope.Config
		want string // "" valid, else the start of the error
	}{
		{pyroscope.Config{URL: "http://pyroscope:4040"}, ""},
		{pyroscope.Config{URL: "https://example.com/pyroscope/", BearerToken: "t", TenantID: "a"}, ""},
		{pyroscope.Config{URL: "http://u:p@pyroscope:4040"}, ""},
		{pyroscope.Config{}, "pyroscope url: empty"},
		{pyroscope.Config{URL: "ftp://pyroscope"}, "pyroscope url: scheme"},
		{pyroscope.Config{URL: "pyroscope:4040"}, "pyroscope url: scheme"},
		{pyroscope.Config{URL: "http://"}, "pyroscope url: no host"},
		{pyroscope.Config{URL: "http://h:4040?x=1"}, "pyroscope url: a query"},
		{pyroscope.Config{URL: "http://h", BasicAuthUser: "u"}, "pyroscope password:"},
		{pyroscope.Config{URL: "http://h", BasicAuthPassword: "p"}, "pyroscope user:"},
		{pyroscope.Config{URL: "http://h", BasicAuthUser: "u", BasicAuthPassword: "p", BearerToken: "t"}, "pyroscope auth:"},
		{pyroscope.Config{URL: "http://x:y@h", BasicAuthUser: "u", BasicAuthPassword: "p"}, "pyroscope url: holds a user"},
		{pyroscope.Config{URL: "http://h", BearerToken: "t\n"}, "pyroscope bearer token: contains a control"},
		{pyroscope.Config{URL: "https://h", CAFile: filepath.Join(dir, "missing.pem")}, "pyroscope ca file: reading"},
		{pyroscope.Config{URL: "https://h", CAFile: notPEM}, "pyroscope ca file:"},
		{pyroscope.Config{URL: "http://h", CAFile: notPEM}, "pyroscope ca file: given, but the url is http"},
		{pyroscope.Config{URL: "http://h", Timeout: -time.Second}, "pyroscope timeout:"},
		{pyroscope.Config{URL: "http://h", QueueBytes: -1}, "pyroscope queue bytes:"},
		{pyroscope.Config{URL: "http://h", MinBackoff: time.Minute, MaxBackoff: time.Second}, "pyroscope backoff:"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%v: error %v, want one line starting %q", tc.cfg, err, tc.want)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if s, err := pyroscope.LoadSecret(write("pw", "  hunter2-secret\n")); err != nil || s != "hunter2-secret" {
		t.Errorf("LoadSecret = %q, %v", s, err)
	}
	if _, err := pyroscope.LoadSecret(write("empty", " \n")); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	big := strings.Repeat("s3cr3t", 20000)
	if _, err := pyroscope.LoadSecret(write("big", big)); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a huge file: %v", err)
	}
	if _, err := pyroscope.LoadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}

// TestSecretsNeverShown checks that the password, the token and the basic
// auth header's base64 appear in no error, Stats.LastError, log line or
// metric, with a wrong URL, the server down, failing or refusing.
func TestSecretsNeverShown(t *testing.T) {
	const password, token = "pw-Zq81-SECRET", "tok-Yx42-SECRET"
	secrets := []string{password, token, base64.StdEncoding.EncodeToString([]byte("agent:" + password)), url.QueryEscape(password)}
	var seen []string // every string the package let out
	check := func() {
		t.Helper()
		for _, s := range seen {
			for _, sec := range secrets {
				if strings.Contains(s, sec) {
					t.Fatalf("a secret leaked into %q", strings.ReplaceAll(s, sec, "<the secret>"))
				}
			}
		}
	}
	srv := pyroscopetest.New(t)
	cfgs := []pyroscope.Config{
		{URL: "http://agent:" + password + "@127.0.0.1:1/x"},                                                            // userinfo, nothing listening
		{URL: "http://127.0.0.1:1", BasicAuthUser: "agent", BasicAuthPassword: password},                                // refused
		{URL: "http://no-such-host.invalid:4040", BearerToken: token},                                                   // DNS fails
		{URL: srv.URL, BearerToken: token},                                                                              // 500, 400, down
		{URL: "https://" + strings.TrimPrefix(srv.URL, "http://"), BasicAuthUser: "agent", BasicAuthPassword: password}, // TLS to a plain server
	}
	for _, bad := range []pyroscope.Config{
		{URL: "http://agent:" + password + "@h:port"},
		{URL: "http://agent:" + password + " @h"},
		{URL: "http://agent:" + password + "@h", BearerToken: token},
		{URL: "http://h", BasicAuthPassword: password},
		{URL: "http://h", BasicAuthUser: "agent", BasicAuthPassword: password + "\n"},
		{URL: "ftp://agent:" + password + "@h"},
	} {
		err := bad.Validate()
		if err == nil {
			t.Errorf("%v: accepted", bad)
			continue
		}
		seen = append(seen, err.Error(), fmt.Sprint(bad), fmt.Sprintf("%+v %#v %s", bad, bad, bad))
	}
	for i, cfg := range cfgs {
		cfg.Timeout, cfg.MinBackoff, cfg.MaxBackoff = time.Second, 10*time.Millisecond, 20*time.Millisecond
		seen = append(seen, fmt.Sprint(cfg), fmt.Sprintf("%+v %#v", cfg, cfg))
		reg := prometheus.NewRegistry()
		c, err := pyroscope.New(cfg, reg)
		if err != nil {
			t.Fatalf("config %d: %v", i, err)
		}
		c.Logf = func(format string, args ...any) { seen = append(seen, fmt.Sprintf(format, args...)) }
		run := func(mode pyroscopetest.Failure) {
			if i == 3 {
				if err := srv.SetFailure(mode); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Enqueue(labels, hotWindow(time.Now(), 1e9, 1e9), nil); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := c.Flush(ctx); err != nil {
				seen = append(seen, err.Error())
			}
			seen = append(seen, c.Stats().LastError, fmt.Sprintf("%+v", c.Stats()))
		}
		for _, mode := range []pyroscopetest.Failure{pyroscopetest.Status500, pyroscopetest.Status400, pyroscopetest.Down} {
			run(mode)
		}
		if i == 3 {
			if err := srv.Up(); err != nil {
				t.Fatal(err)
			}
		} else if c.Stats().LastError == "" {
			t.Errorf("config %d: no error recorded", i)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
				t.Fatal(err)
			}
		}
		seen = append(seen, text.String())
	}
	check()
	if len(seen) < 40 {
		t.Errorf("only %d strings checked", len(seen))
	}
}
