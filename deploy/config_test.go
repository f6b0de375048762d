package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perfprobe/perfprobe/internal/agent"
	// The probes register themselves, as in the binary: the config's
	// probe names are checked against them.
	_ "github.com/perfprobe/perfprobe/probes/cpu"
	_ "github.com/perfprobe/perfprobe/probes/iostall"
	_ "github.com/perfprobe/perfprobe/probes/sched"
	_ "github.com/perfprobe/perfprobe/probes/tls"
)

// loadConfig reads path over the agent's defaults as the agent does
// (unknown keys are errors) and validates it.
func loadConfig(t *testing.T, path string) agent.Config {
	t.Helper()
	cfg := agent.Defaults()
	if err := agent.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

// configKeys lists every key of the agent's config file, as dotted paths
// (store.max_size), from the yaml tags of agent.Config.
func configKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, prefix+name)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
			keys = append(keys, configKeys(f.Type, prefix+name+".")...)
		}
	}
	return keys
}

// present reports whether the dotted key is set in the decoded YAML doc.
func present(doc map[string]any, key string) bool {
	var cur any = doc
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestExampleConfigHasEveryKey(t *testing.T) {
	cfg := loadConfig(t, examplePath)
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := configKeys(reflect.TypeFor[agent.Config](), "")
	if len(keys) < 30 {
		t.Fatalf("found only %d config keys in agent.Config: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !present(doc, k) {
			t.Errorf("%s: key %s is missing (the example documents every key)", examplePath, k)
		}
	}
	// The values the unit relies on.
	if cfg.Store.Dir != storeDir || cfg.Store.Disabled {
		t.Errorf("store %+v: want %s, enabled (the unit's ReadWritePaths)", cfg.Store, storeDir)
	}
	stop, err := time.ParseDuration(one(t, unitSettings(t), "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop <= cfg.ShutdownTimeout+5*time.Second {
		t.Errorf("TimeoutStopSec %v: want well above shutdown_timeout %v (the last window is written first)", stop, cfg.ShutdownTimeout)
	}
	if cfg.Pyroscope.BasicAuthPassword != "" || cfg.Pyroscope.BearerToken != "" {
		t.Error("the example holds a secret")
	}
	// Defaults stay defaults: the example documents them, it does not
	// change them behind the reader's back.
	d := agent.Defaults()
	if cfg.Interval != d.Interval || cfg.Hz != d.Hz || cfg.MetricsAddr != d.MetricsAddr || cfg.MaxCPU != d.MaxCPU ||
		cfg.ShutdownTimeout != d.ShutdownTimeout || cfg.Rotate != d.Rotate || cfg.Store.MaxBytes != d.Store.MaxBytes ||
		cfg.Store.MaxAge != d.Store.MaxAge || cfg.Pyroscope.QueueBytes != d.Pyroscope.QueueBytes || cfg.Pyroscope.Timeout != d.Pyroscope.Timeout ||
		cfg.Go.Every != d.Go.Every || cfg.Go.Duration != d.Go.Duration || !reflect.DeepEqual(cfg.Probes, d.Probes) || !reflect.DeepEqual(cfg.Go.Kinds, d.Go.Kinds) {
		t.Errorf("%s changes a default it shows as the default:\n got %+v\nwant %+v", examplePath, cfg, d)
	}
}

func TestConfigMapConfig(t *testing.T) {
	m := loadManifests(t)
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(m.config.Data["agent.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, path)
	if !cfg.Targets.All {
		t.Error("the DaemonSet's agent does not profile every process of its node")
	}
	if cfg.Store.Disabled || cfg.Store.Dir != storeDir {
		t.Errorf("store %+v: want %s, the hostPath volume", cfg.Store, storeDir)
	}
	if cfg.Go.Enabled {
		t.Error("go_profiles enabled: entering pods' network namespaces needs CAP_SYS_ADMIN, which the DaemonSet does not grant")
	}
	grace := m.daemonSet.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= cfg.ShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v: want well above shutdown_timeout %v", grace, cfg.ShutdownTimeout)
	}
	for _, a := range agentContainer(t, m).Args {
		if strings.HasPrefix(a, "--metrics-addr=") {
			if _, port, ok := strings.Cut(strings.TrimPrefix(a, "--metrics-addr="), ":"); !ok || port != strconv.Itoa(int(agentContainer(t, m).Ports[0].ContainerPort)) {
				t.Errorf("%s: port differs from the container's metrics port", a)
			}
		}
	}
}
