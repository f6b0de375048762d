package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perfprobe/perfprobe/internal/agent"
	"github.com/perfprobe/perfprobe/probes"
)

func newCmdAgent() *cobra.Command {
	d := agent.Defaults()
	var (
		c          agent.Config
		configFile string
		labels     []string
		password   string
		token      string
		quiet      bool
	)
	cmd := &cobra.Command{
		Use:   "agent (--pid PID... | --comm REGEX | --cgroup DIR | --all) [--store DIR] [--pyroscope-url URL]",
		Short: "Profile continuously: one profile per process per window, to the local store and Pyroscope",
		Long: `agent keeps the probes attached to the processes selected and hands over one
profile per process every --interval (15 s), consecutive windows with no gap
and nothing counted twice: on-CPU (19 Hz), off-CPU, run-queue, I/O-wait and
TLS-handshake time, each process's samples under its own labels
(service_name, pid, comm, hostname, and --label k=v).

Every window goes to the local store (--store, default /var/lib/perfprobe as
root, bounded by --store-max-size and --store-max-age, oldest deleted first;
query it with flame, diff and diagnose --store), to Grafana Pyroscope with
--pyroscope-url (the official push API; a bounded queue with retries), or
both. Processes that start matching --comm, --cgroup or --all are picked up,
exited ones dropped after their last window.

--go-profiles also scrapes each Go target's pprof endpoint (found as attach
finds it) on a duty cycle: the CPU profiler and fgprof cost the target 5-15%
while they run, so they run --go-duration of every --go-every.

/metrics (--metrics-addr, loopback) has the pushes, queue, drops, targets,
per-probe BPF time and events, the agent's own CPU and memory, and run-queue,
I/O-syscall and TLS-handshake latency histograms per service.

Secrets are never printed: give them in --config, the environment
(PERFPROBE_PYROSCOPE_PASSWORD, PERFPROBE_PYROSCOPE_TOKEN) or files
(--pyroscope-password-file, --pyroscope-token-file) rather than on the
command line, where ps shows them. SIGTERM writes the last window and
flushes the queue within --shutdown-timeout.`,
		Example: `  sudo perfprobe agent --comm '^myservice$'                 # windows in /var/lib/perfprobe
  sudo perfprobe agent --all --store /data/profiles --store-max-size 5GiB
  sudo perfprobe agent --cgroup /sys/fs/cgroup/system.slice/nginx.service \
       --pyroscope-url http://pyroscope:4040 --label env=prod
  sudo PERFPROBE_PYROSCOPE_PASSWORD=... perfprobe agent --pid 1234 --no-store \
       --pyroscope-url https://profiles.example.com --pyroscope-user 1234 --pyroscope-tenant team-a
  sudo perfprobe agent --config /etc/perfprobe/agent.yaml
  sudo perfprobe agent --comm '^api$' --go-profiles --go-duration 10s --go-every 1m
  perfprobe flame --store /var/lib/perfprobe --from -1h --service myservice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := agent.Defaults()
			if configFile != "" {
				if err := agent.Load(configFile, &cfg); err != nil {
					return err
				}
			}
			overrideChanged(cmd.Flags(), &cfg, &c)
			if cmd.Flags().Changed("label") {
				cfg.Labels = map[string]string{}
				for _, kv := range labels {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return fmt.Errorf("--label %q: give name=value", kv)
					}
					cfg.Labels[k] = v
				}
			}
			if password != "" {
				cfg.Pyroscope.BasicAuthPassword = password
				fmt.Fprintln(os.Stderr, "perfprobe: --pyroscope-password is visible to every user in ps; prefer --pyroscope-password-file or PERFPROBE_PYROSCOPE_PASSWORD")
			}
			if token != "" {
				cfg.Pyroscope.BearerToken = token
				fmt.Fprintln(os.Stderr, "perfprobe: --pyroscope-token is visible to every user in ps; prefer --pyroscope-token-file or PERFPROBE_PYROSCOPE_TOKEN")
			}
			if err := cfg.Secrets(); err != nil {
				return err
			}
			return startAgent(cfg, quiet)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configFile, "config", "", "YAML config file (every setting; flags given override it); see docs/agent.md")
	fl.IntSliceVar(&c.Targets.PIDs, "pid", nil, "profile these processes (repeat or comma-separate)")
	fl.StringVar(&c.Targets.Comm, "comm", "", "profile every process whose comm or executable name matches this regular expression, now and as they start")
	fl.StringVar(&c.Targets.Cgroup, "cgroup", "", "profile every process in this cgroup directory and below (a systemd unit, a container, a pod)")
	fl.BoolVar(&c.Targets.All, "all", false, "profile every process of the machine")
	fl.DurationVar(&c.Interval, "interval", d.Interval, "window length: one profile per process per window")
	fl.IntVar(&c.Hz, "hz", d.Hz, "on-CPU sampling rate per CPU")
	fl.StringSliceVarP(&c.Probes, "probes", "p", d.Probes, "probes to attach: "+strings.Join(probes.Names(), ","))
	fl.StringVar(&c.ServiceName, "service-name", "", "service_name of every target (default: each process's executable name, else its systemd unit or container)")
	fl.StringVar(&c.Hostname, "hostname", "", "the hostname label (default: the machine's hostname; in a container, the node's name)")
	fl.StringArrayVar(&labels, "label", nil, "add a label to every profile, name=value (repeatable)")
	fl.StringVar(&c.Store.Dir, "store", d.Store.Dir, "local store directory")
	fl.BoolVar(&c.Store.Disabled, "no-store", false, "do not write the local store (push only)")
	c.Store.MaxBytes = d.Store.MaxBytes
	fl.Var(&c.Store.MaxBytes, "store-max-size", "delete the oldest windows beyond this size (e.g. 500MiB, 5GiB)")
	fl.DurationVar(&c.Store.MaxAge, "store-max-age", d.Store.MaxAge, "delete windows older than this")
	fl.StringVar(&c.Pyroscope.URL, "pyroscope-url", "", "push every window to this Grafana Pyroscope server (http:// or https://)")
	fl.StringVar(&c.Pyroscope.BasicAuthUser, "pyroscope-user", "", "basic auth user (the password from --pyroscope-password-file or PERFPROBE_PYROSCOPE_PASSWORD)")
	fl.StringVar(&password, "pyroscope-password", "", "basic auth password (visible in ps: prefer the file or the environment)")
	fl.StringVar(&c.Pyroscope.BasicAuthPasswordFile, "pyroscope-password-file", "", "file holding the basic auth password")
	fl.StringVar(&token, "pyroscope-token", "", "bearer token (visible in ps: prefer the file or PERFPROBE_PYROSCOPE_TOKEN)")
	fl.StringVar(&c.Pyroscope.BearerTokenFile, "pyroscope-token-file", "", "file holding the bearer token")
	fl.StringVar(&c.Pyroscope.TenantID, "pyroscope-tenant", "", "tenant id, sent as X-Scope-OrgID")
	fl.StringVar(&c.Pyroscope.CAFile, "pyroscope-ca-file", "", "PEM file of the CA that signed the server's certificate")
	fl.BoolVar(&c.Pyroscope.InsecureSkipVerify, "pyroscope-insecure", false, "do not verify the server's TLS certificate")
	c.Pyroscope.QueueBytes = d.Pyroscope.QueueBytes
	fl.Var(&c.Pyroscope.QueueBytes, "pyroscope-queue-size", "memory cap of the send queue; beyond it the oldest windows are dropped (counted)")
	fl.BoolVar(&c.Go.Enabled, "go-profiles", false, "also scrape Go targets' pprof endpoints (CPU, fgprof wall, heap, goroutine, mutex, block) on a duty cycle")
	fl.StringVar(&c.Go.Match, "go-profiles-match", "", "scrape only the Go targets whose comm or executable name matches this regular expression")
	fl.StringVar(&c.Go.URL, "pprof-url", "", "the pprof endpoint to scrape (one target; default: found from each target's listening sockets)")
	fl.DurationVar(&c.Go.Every, "go-every", d.Go.Every, "start a Go scrape this often per target")
	fl.DurationVar(&c.Go.Duration, "go-duration", d.Go.Duration, "each Go scrape's length (the profilers' cost lasts this long)")
	fl.StringVar(&c.MetricsAddr, "metrics-addr", d.MetricsAddr, "serve Prometheus metrics at http://ADDR/metrics ('' for none)")
	fl.Float64Var(&c.MaxCPU, "max-cpu", d.MaxCPU, "the agent's CPU budget in percent of one CPU: over it for two windows, the sampling rate halves (0: no guard)")
	fl.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "at SIGTERM, how long to flush the push queue")
	fl.DurationVar(&c.Rotate, "rotate", d.Rotate, "re-attach the probes this often so that their stack maps start empty (0: only when full)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "log only problems")
	return cmd
}

// overrideChanged copies the flags the user gave from f into cfg, over
// the defaults and the config file.
func overrideChanged(fs *pflag.FlagSet, cfg, f *agent.Config) {
	set := map[string]func(){
		"pid":                     func() { cfg.Targets.PIDs = f.Targets.PIDs },
		"comm":                    func() { cfg.Targets.Comm = f.Targets.Comm },
		"cgroup":                  func() { cfg.Targets.Cgroup = f.Targets.Cgroup },
		"all":                     func() { cfg.Targets.All = f.Targets.All },
		"interval":                func() { cfg.Interval = f.Interval },
		"hz":                      func() { cfg.Hz = f.Hz },
		"probes":                  func() { cfg.Probes = f.Probes },
		"service-name":            func() { cfg.ServiceName = f.ServiceName },
		"hostname":                func() { cfg.Hostname = f.Hostname },
		"store":                   func() { cfg.Store.Dir = f.Store.Dir },
		"no-store":                func() { cfg.Store.Disabled = f.Store.Disabled },
		"store-max-size":          func() { cfg.Store.MaxBytes = f.Store.MaxBytes },
		"store-max-age":           func() { cfg.Store.MaxAge = f.Store.MaxAge },
		"pyroscope-url":           func() { cfg.Pyroscope.URL = f.Pyroscope.URL },
		"pyroscope-user":          func() { cfg.Pyroscope.BasicAuthUser = f.Pyroscope.BasicAuthUser },
		"pyroscope-password-file": func() { cfg.Pyroscope.BasicAuthPasswordFile = f.Pyroscope.BasicAuthPasswordFile },
		"pyroscope-token-file":    func() { cfg.Pyroscope.BearerTokenFile = f.Pyroscope.BearerTokenFile },
		"pyroscope-tenant":        func() { cfg.Pyroscope.TenantID = f.Pyroscope.TenantID },
		"pyroscope-ca-file":       func() { cfg.Pyroscope.CAFile = f.Pyroscope.CAFile },
		"pyroscope-insecure":      func() { cfg.Pyroscope.InsecureSkipVerify = f.Pyroscope.InsecureSkipVerify },
		"pyroscope-queue-size":    func() { cfg.Pyroscope.QueueBytes = f.Pyroscope.QueueBytes },
		"go-profiles":             func() { cfg.Go.Enabled = f.Go.Enabled },
		"go-profiles-match":       func() { cfg.Go.Match = f.Go.Match },
		"pprof-url":               func() { cfg.Go.URL = f.Go.URL },
		"go-every":                func() { cfg.Go.Every = f.Go.Every },
		"go-duration":             func() { cfg.Go.Duration = f.Go.Duration },
		"metrics-addr":            func() { cfg.MetricsAddr = f.MetricsAddr },
		"max-cpu":                 func() { cfg.MaxCPU = f.MaxCPU },
		"shutdown-timeout":        func() { cfg.ShutdownTimeout = f.ShutdownTimeout },
		"rotate":                  func() { cfg.Rotate = f.Rotate },
	}
	fs.Visit(func(fl *pflag.Flag) {
		if s := set[fl.Name]; s != nil {
			s()
		}
	})
}

// startAgent runs the agent (tests replace it to see the config).
var startAgent = runAgent

func runAgent(cfg agent.Config, quiet bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "perfprobe agent: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	a, err := agent.New(cfg, logf)
	if err != nil {
		return err
	}
	a.Quiet = quiet
	if !quiet {
		where := []string{}
		if s := a.Store(); s != nil {
			where = append(where, "store "+s.Dir())
		}
		if cfg.Pyroscope.URL != "" {
			where = append(where, "Pyroscope "+redactURL(cfg.Pyroscope.URL))
		}
		if addr := a.MetricsAddr(); addr != "" {
			where = append(where, "metrics http://"+addr+"/metrics")
		}
		logf("writing to %s", strings.Join(where, ", "))
	}
	return a.Run(ctx)
}

// redactURL drops the user and password of a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
