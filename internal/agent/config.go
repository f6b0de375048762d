package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile/fetch"
	"github.com/perfprobe/perfprobe/profile/pyroscope"
	"github.com/perfprobe/perfprobe/profile/store"
)

// Config is everything the agent does. One YAML file holds it (Load);
// flags override the file. The zero value is not usable: start from
// Defaults.
type Config struct {
	Targets Targets `yaml:"targets"`
	// Interval is each window's length: one profile per target per window.
	Interval time.Duration `yaml:"interval"`
	// Hz is the on-CPU sampling rate per CPU; MaxCPU may lower it.
	Hz     int      `yaml:"hz"`
	Probes []string `yaml:"probes"`
	// ServiceName names every target's service_name; empty: each target's
	// executable name, else its systemd unit or container.
	ServiceName string `yaml:"service_name"`
	// Hostname is the hostname label; empty: the machine's hostname.
	Hostname string            `yaml:"hostname"`
	Labels   map[string]string `yaml:"labels"`

	Store     StoreConfig     `yaml:"store"`
	Pyroscope PyroscopeConfig `yaml:"pyroscope"`
	Go        GoConfig        `yaml:"go_profiles"`

	// MetricsAddr serves /metrics (Prometheus) there; empty: no metrics.
	MetricsAddr string `yaml:"metrics_addr"`
	// MaxCPU is the agent's own CPU budget, in percent of one CPU, over a
	// window: above it the sampling rate is halved (down to 1 Hz). 0: no
	// guard.
	MaxCPU float64 `yaml:"max_cpu_percent"`
	// ShutdownTimeout bounds the flush at SIGTERM: the last window is
	// written and the push queue sent for at most this long.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Rotate re-attaches the probes this often (and whenever their stack
	// maps fill up): stack ids live as long as the probes, so a session
	// that ran for days would drop new stacks. 0: only when full.
	Rotate time.Duration `yaml:"rotate"`
}

// Targets says which processes the agent profiles.
type Targets struct {
	PIDs   []int  `yaml:"pids"`
	Comm   string `yaml:"comm"`   // a regular expression on the comm or executable name
	Cgroup string `yaml:"cgroup"` // a cgroup directory: every process in it or below
	All    bool   `yaml:"all"`    // every process of the machine
}

// StoreConfig is the embedded store.
type StoreConfig struct {
	Disabled bool          `yaml:"disabled"`
	Dir      string        `yaml:"dir"`
	MaxBytes ByteSize      `yaml:"max_size"`
	MaxAge   time.Duration `yaml:"max_age"`
}

// PyroscopeConfig is the Pyroscope server the windows are pushed to.
// Secrets come from the file, the environment (PERFPROBE_PYROSCOPE_*) or
// files named here (*_file), never printed.
type PyroscopeConfig struct {
	URL                   string        `yaml:"url"`
	BasicAuthUser         string        `yaml:"basic_auth_user"`
	BasicAuthPassword     string        `yaml:"basic_auth_password"`
	BasicAuthPasswordFile string        `yaml:"basic_auth_password_file"`
	BearerToken           string        `yaml:"bearer_token"`
	BearerTokenFile       string        `yaml:"bearer_token_file"`
	TenantID              string        `yaml:"tenant_id"`
	CAFile                string        `yaml:"ca_file"`
	InsecureSkipVerify    bool          `yaml:"insecure_skip_verify"`
	Timeout               time.Duration `yaml:"timeout"`
	QueueBytes            ByteSize      `yaml:"queue_size"`
}

// GoConfig is the scraping of the Go runtime's own profiles. It costs the
// target while the CPU profiler and fgprof run (5-15%), so it is off
// unless asked and runs Duration of every Every.
type GoConfig struct {
	Enabled bool `yaml:"enabled"`
	// Match limits it to targets whose comm or executable name matches;
	// empty: every Go target.
	Match string `yaml:"match"`
	// URL is the pprof endpoint when known (one target); empty: discovered
	// among each target's listening sockets, as attach does.
	URL      string        `yaml:"url"`
	Every    time.Duration `yaml:"every"`
	Duration time.Duration `yaml:"duration"`
	Kinds    []string      `yaml:"kinds"`
}

// Defaults are the agent's defaults: 15 s windows at 19 Hz, attach's
// probes, the store in DefaultStoreDir, metrics on loopback.
func Defaults() Config {
	return Config{
		Interval:        15 * time.Second,
		Hz:              19,
		Probes:          probes.Defaults(),
		Store:           StoreConfig{Dir: store.DefaultDir(), MaxBytes: store.DefaultMaxBytes, MaxAge: store.DefaultMaxAge},
		Pyroscope:       PyroscopeConfig{Timeout: 10 * time.Second, QueueBytes: 64 << 20},
		Go:              GoConfig{Every: time.Minute, Duration: 10 * time.Second, Kinds: GoKinds},
		MetricsAddr:     "127.0.0.1:9465",
		MaxCPU:          2,
		ShutdownTimeout: 10 * time.Second,
		Rotate:          24 * time.Hour,
	}
}

// GoKinds are the Go profiles the agent scrapes by default.
var GoKinds = []string{"cpu", "wall", "heap", "mutex", "block", "goroutine"}

// Load reads a YAML config file over c: keys present replace c's values,
// unknown keys are errors with their line.
func Load(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// Secrets fills the secrets not set from the environment
// (PERFPROBE_PYROSCOPE_PASSWORD, PERFPROBE_PYROSCOPE_TOKEN) and from the
// files named, so that no secret needs to be on the command line.
func (c *Config) Secrets() error {
	p := &c.Pyroscope
	if p.BasicAuthPassword == "" {
		p.BasicAuthPassword = os.Getenv("PERFPROBE_PYROSCOPE_PASSWORD")
	}
	if p.BearerToken == "" {
		p.BearerToken = os.Getenv("PERFPROBE_PYROSCOPE_TOKEN")
	}
	if p.BasicAuthUser == "" {
		p.BasicAuthUser = os.Getenv("PERFPROBE_PYROSCOPE_USER")
	}
	if p.TenantID == "" {
		p.TenantID = os.Getenv("PERFPROBE_PYROSCOPE_TENANT")
	}
	if p.BasicAuthPassword == "" && p.BasicAuthPasswordFile != "" {
		s, err := pyroscope.LoadSecret(p.BasicAuthPasswordFile)
		if err != nil {
			return fmt.Errorf("pyroscope password file: %w", err)
		}
		p.BasicAuthPassword = s
	}
	if p.BearerToken == "" && p.BearerTokenFile != "" {
		s, err := pyroscope.LoadSecret(p.BearerTokenFile)
		if err != nil {
			return fmt.Errorf("pyroscope token file: %w", err)
		}
		p.BearerToken = s
	}
	return nil
}

// pusher is the push client's config.
func (p PyroscopeConfig) pusher() pyroscope.Config {
	return pyroscope.Config{
		URL: p.URL, BasicAuthUser: p.BasicAuthUser, BasicAuthPassword: p.BasicAuthPassword,
		BearerToken: p.BearerToken, TenantID: p.TenantID, CAFile: p.CAFile,
		InsecureSkipVerify: p.InsecureSkipVerify, Timeout: p.Timeout, QueueBytes: int64(p.QueueBytes),
	}
}

// Validate checks c, with errors that name the setting.
func (c *Config) Validate() error {
	t := c.Targets
	if len(t.PIDs) == 0 && t.Comm == "" && t.Cgroup == "" && !t.All {
		return errors.New("no targets: give --pid, --comm, --cgroup or --all")
	}
	if t.All && (len(t.PIDs) > 0 || t.Comm != "" || t.Cgroup != "") {
		return errors.New("--all profiles every process: it takes no --pid, --comm or --cgroup")
	}
	if t.Comm != "" {
		if _, err := regexp.Compile(t.Comm); err != nil {
			return fmt.Errorf("comm: %v", err)
		}
	}
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("interval %v: give at least 100ms (15s is the usual continuous window)", c.Interval)
	}
	if c.Hz < 1 || c.Hz > 10000 {
		return fmt.Errorf("hz %d: give 1..10000 (19 is the usual continuous rate)", c.Hz)
	}
	for _, name := range c.Probes {
		if !slices.Contains(probes.Names(), name) {
			return fmt.Errorf("probes: unknown probe %q: choose from %s", name, strings.Join(probes.Names(), ","))
		}
	}
	if c.Store.Disabled && c.Pyroscope.URL == "" {
		return errors.New("nothing to write to: the store is off and no --pyroscope-url is given")
	}
	if !c.Store.Disabled && c.Store.Dir == "" {
		return errors.New("store: give a directory (--store DIR)")
	}
	if c.Pyroscope.URL != "" {
		if err := c.Pyroscope.pusher().Validate(); err != nil {
			return err
		}
	}
	for k := range c.Labels {
		if !pyroscope.ValidLabelName(k) {
			return fmt.Errorf("label %q: a label name is letters, digits and _, not starting with a digit", k)
		}
		if reserved[k] {
			return fmt.Errorf("label %q is set by the agent; choose another name", k)
		}
	}
	g := c.Go
	if g.Enabled {
		if g.Match != "" {
			if _, err := regexp.Compile(g.Match); err != nil {
				return fmt.Errorf("go profiles match: %v", err)
			}
		}
		if g.Duration < time.Second || g.Every < g.Duration {
			return fmt.Errorf("go profiles: the duty cycle %v of every %v needs a duration of at least 1s and no longer than the period", g.Duration, g.Every)
		}
		for _, k := range g.Kinds {
			if !slices.Contains(GoKinds, k) {
				return fmt.Errorf("go profiles: unknown kind %q: choose from %s", k, strings.Join(GoKinds, ","))
			}
		}
		if g.URL != "" {
			if _, err := fetch.NewEndpoint(g.URL, false); err != nil {
				return fmt.Errorf("go profiles url: %v", err)
			}
		}
	}
	if c.MaxCPU < 0 {
		return fmt.Errorf("max cpu %v%%: give a positive percent of one CPU, or 0 for no guard", c.MaxCPU)
	}
	return nil
}

// reserved are the labels the agent sets itself.
var reserved = map[string]bool{"__name__": true, "service_name": true, "pid": true, "comm": true, "hostname": true, "source": true}

// ByteSize is a size in bytes that YAML and flags write as "1GiB", "512MB"
// or a plain number.
type ByteSize int64

// ParseByteSize parses "1GiB", "512MiB", "10MB", "4096".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: give a number with an optional unit (KiB, MiB, GiB, MB, GB)", s)
	}
	return ByteSize(f * float64(mult)), nil
}

func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	default:
		return strconv.FormatInt(int64(b), 10)
	}
}

// Set and Type make ByteSize a flag value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type names the flag's value type in --help.
func (b *ByteSize) Type() string { return "size" }

// UnmarshalYAML reads "1GiB" or a number.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*b = v
	return nil
}
