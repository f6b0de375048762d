package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// capabilities is the set the agent is granted by default, without the
// CAP_ prefix; docs/agent.md#capabilities says why each one.
var capabilities = []string{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"}

// optionalCapabilities are documented for what they add, granted by no file.
var optionalCapabilities = []string{"SYS_ADMIN", "CHECKPOINT_RESTORE", "SYS_RESOURCE"}

const (
	manifestPath = "kubernetes/daemonset.yaml"
	unitPath     = "systemd/perfprobe-agent.service"
	examplePath  = "systemd/agent.yaml"
	docPath      = "../docs/agent.md"
	agentCmdPath = "../cmd/perfprobe/agent.go"
	storeDir     = "/var/lib/perfprobe"
)

// manifests are the objects of the multi-document manifest, each decoded
// strictly into its Kubernetes API type.
type manifests struct {
	namespace *corev1.Namespace
	account   *corev1.ServiceAccount
	config    *corev1.ConfigMap
	secret    *corev1.Secret
	daemonSet *appsv1.DaemonSet
}

// splitDocs splits a multi-document YAML file at its "---" lines, leaving
// out documents with nothing but comments.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		for line := range strings.Lines(cur.String()) {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, bytes.Clone(cur.Bytes()))
				break
			}
		}
		cur.Reset()
	}
	for line := range bytes.Lines(b) {
		if strings.TrimRight(string(line), " \r\n") == "---" {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

// decodeManifests decodes every document of b strictly (unknown or
// duplicate fields are errors) into the type its kind names.
func decodeManifests(b []byte) (*manifests, error) {
	m := &manifests{}
	for i, doc := range splitDocs(b) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		var dst any
		switch head.APIVersion + " " + head.Kind {
		case "v1 Namespace":
			m.namespace = &corev1.Namespace{}
			dst = m.namespace
		case "v1 ServiceAccount":
			m.account = &corev1.ServiceAccount{}
			dst = m.account
		case "v1 ConfigMap":
			m.config = &corev1.ConfigMap{}
			dst = m.config
		case "v1 Secret":
			m.secret = &corev1.Secret{}
			dst = m.secret
		case "apps/v1 DaemonSet":
			m.daemonSet = &appsv1.DaemonSet{}
			dst = m.daemonSet
		default:
			return nil, fmt.Errorf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		// As the API server decodes: field names match case-sensitively
		// (encoding/json, under sigs.k8s.io/yaml's UnmarshalStrict, would
		// take readOnlyRootFileSystem for readOnlyRootFilesystem), and
		// unknown or duplicate fields are errors.
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %v", i, head.Kind, err)
		}
		strict, err := k8sjson.UnmarshalStrict(j, dst)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %v", i, head.Kind, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("document %d (%s): %v", i, head.Kind, errors.Join(strict...))
		}
	}
	return m, nil
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifests(b)
	if err != nil {
		t.Fatalf("%s: %v", manifestPath, err)
	}
	for name, missing := range map[string]bool{
		"Namespace": m.namespace == nil, "ServiceAccount": m.account == nil, "ConfigMap": m.config == nil,
		"Secret": m.secret == nil, "DaemonSet": m.daemonSet == nil,
	} {
		if missing {
			t.Fatalf("%s: no %s", manifestPath, name)
		}
	}
	return m
}

// agentContainer is the DaemonSet's one container.
func agentContainer(t *testing.T, m *manifests) corev1.Container {
	t.Helper()
	cs := m.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(cs))
	}
	return cs[0]
}

func TestManifestDecodesStrictly(t *testing.T) {
	m := loadManifests(t)
	ns := m.namespace.Name
	if ns != "perfprobe" {
		t.Errorf("namespace %q, want perfprobe", ns)
	}
	for kind, got := range map[string]string{
		"ServiceAccount": m.account.Namespace, "ConfigMap": m.config.Namespace,
		"Secret": m.secret.Namespace, "DaemonSet": m.daemonSet.Namespace,
	} {
		if got != ns {
			t.Errorf("%s in namespace %q, want %q", kind, got, ns)
		}
	}

	// The decoding is strict: a misspelled field, as a hand edit makes
	// it, is refused.
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(b, []byte("readOnlyRootFilesystem:"), []byte("readOnlyRootFileSystem:"), 1)
	if bytes.Equal(bad, b) {
		t.Fatal("readOnlyRootFilesystem not in the manifest")
	}
	if _, err := decodeManifests(bad); err == nil || !strings.Contains(err.Error(), "readOnlyRootFileSystem") {
		t.Errorf("a field name in the wrong case decoded: err = %v", err)
	}
	bad = bytes.Replace(b, []byte("hostPID:"), []byte("hostPid2:"), 1)
	if _, err := decodeManifests(bad); err == nil || !strings.Contains(err.Error(), "hostPid2") {
		t.Errorf("an unknown field decoded: err = %v", err)
	}
}

func TestDaemonSet(t *testing.T) {
	m := loadManifests(t)
	ds := m.daemonSet
	pod := ds.Spec.Template.Spec
	c := agentContainer(t, m)

	if ds.Spec.Selector == nil || ds.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] || ds.Spec.Template.Labels["app.kubernetes.io/name"] == "" {
		t.Errorf("selector %v does not select the template's labels %v", ds.Spec.Selector, ds.Spec.Template.Labels)
	}
	if pod.ServiceAccountName != m.account.Name {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, m.account.Name)
	}
	if !pod.HostPID {
		t.Error("hostPID is not set: the agent would see only its own pod's processes")
	}
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v, dnsPolicy %q: want the node's network (hostname label) with ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == ""
	}) {
		t.Errorf("tolerations %v: want one that tolerates every taint (operator Exists, no key, no effect)", pod.Tolerations)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/perfprobe/perfprobe:") {
		t.Errorf("image %q: want the documented placeholder", c.Image)
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Error("privileged must be set, to false")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.Capabilities == nil {
		t.Fatal("no capabilities")
	}
	var drop, add []string
	for _, c := range sc.Capabilities.Drop {
		drop = append(drop, string(c))
	}
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	if !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("capabilities drop %v, want [ALL]", drop)
	}
	if !sameSet(add, capabilities) {
		t.Errorf("capabilities add %v, want exactly %v", add, capabilities)
	}

	lim, req := c.Resources.Limits, c.Resources.Requests
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := lim[r]; !ok {
			t.Errorf("no %s limit", r)
		}
		if _, ok := req[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	if mem := lim[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("memory limit %s, want 256Mi (as the unit's MemoryMax)", mem.String())
	}
	if cpu := lim[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("200m")) != 0 {
		t.Errorf("cpu limit %s, want 200m (as the unit's CPUQuota=20%%)", cpu.String())
	}

	// Volumes: the store on the node, writable; tracefs and the cgroup tree
	// read-only; the config from the ConfigMap.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		if _, ok := vols[vm.Name]; !ok {
			t.Errorf("volumeMount %q names no volume", vm.Name)
		}
		mounts[vm.MountPath] = vm
	}
	hostPath := func(mountPath, path string, readOnly bool, typ corev1.HostPathType) {
		t.Helper()
		vm, ok := mounts[mountPath]
		if !ok {
			t.Errorf("nothing mounted at %s", mountPath)
			return
		}
		hp := vols[vm.Name].HostPath
		if hp == nil || hp.Path != path {
			t.Errorf("%s: volume %q is not hostPath %s", mountPath, vm.Name, path)
			return
		}
		if typ != "" && (hp.Type == nil || *hp.Type != typ) {
			t.Errorf("%s: hostPath type %v, want %s", mountPath, hp.Type, typ)
		}
		if vm.ReadOnly != readOnly {
			t.Errorf("%s: readOnly %v, want %v", mountPath, vm.ReadOnly, readOnly)
		}
	}
	hostPath(storeDir, storeDir, false, corev1.HostPathDirectoryOrCreate)
	hostPath("/sys/kernel/tracing", "/sys/kernel/tracing", true, "")
	hostPath("/sys/fs/cgroup", "/sys/fs/cgroup", true, corev1.HostPathDirectory)
	if vm, ok := mounts["/etc/perfprobe"]; !ok || vols[vm.Name].ConfigMap == nil || vols[vm.Name].ConfigMap.Name != m.config.Name || !vm.ReadOnly {
		t.Errorf("/etc/perfprobe: want the ConfigMap %q, read-only", m.config.Name)
	}
	if _, ok := m.config.Data["agent.yaml"]; !ok {
		t.Error("the ConfigMap has no agent.yaml")
	}
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--config=/etc/perfprobe/agent.yaml") || c.Args[0] != "agent" {
		t.Errorf("args %q: want agent --config=/etc/perfprobe/agent.yaml", args)
	}

	// Secrets reach the agent through the environment, from the Secret.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range []string{"PERFPROBE_PYROSCOPE_PASSWORD", "PERFPROBE_PYROSCOPE_TOKEN"} {
		e, ok := env[name]
		if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: want it from a secretKeyRef, not a value", name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != m.secret.Name {
			t.Errorf("%s: from Secret %q, want %q", name, ref.Name, m.secret.Name)
		}
		if _, ok := m.secret.StringData[ref.Key]; !ok {
			t.Errorf("%s: the Secret has no key %q", name, ref.Key)
		}
	}

	// Metrics: a named port, the address the agent is given, the scrape
	// annotations and the liveness probe agree.
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "metrics" {
			port = &c.Ports[i]
		}
	}
	if port == nil {
		t.Fatal("no port named metrics")
	}
	portStr := strconv.Itoa(int(port.ContainerPort))
	if !strings.Contains(args, "--metrics-addr=$(HOST_IP):"+portStr) {
		t.Errorf("args %q: want --metrics-addr=$(HOST_IP):%s", args, portStr)
	}
	if e, ok := env["HOST_IP"]; !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		t.Error("HOST_IP: want it from the downward API (status.hostIP)")
	}
	ann := ds.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != portStr || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("annotations %v: want prometheus.io/scrape true, port %s, path /metrics", ann, portStr)
	}
	lp := c.LivenessProbe
	if lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/metrics" || lp.HTTPGet.Port.String() != "metrics" {
		t.Errorf("livenessProbe %+v: want GET /metrics on the metrics port", lp)
	}
}

func TestFlagsInDeploymentFilesExist(t *testing.T) {
	known := agentFlags(t)
	for _, want := range []string{"config", "metrics-addr", "all", "pyroscope-url", "shutdown-timeout", "max-cpu"} {
		if !known[want] {
			t.Fatalf("flag --%s not found in %s: the parse of the flag definitions is broken (found %d flags)", want, agentCmdPath, len(known))
		}
	}
	c := agentContainer(t, loadManifests(t))
	check := func(where string, args []string) {
		t.Helper()
		n := 0
		for _, a := range args {
			name, ok := strings.CutPrefix(a, "--")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			n++
			if !known[name] {
				t.Errorf("%s: --%s is no flag of perfprobe agent (%s)", where, name, agentCmdPath)
			}
		}
		if n == 0 {
			t.Errorf("%s: no flags found in %q", where, args)
		}
	}
	check(manifestPath, c.Args)
	exec := unitSettings(t)["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("%s: %d ExecStart lines, want 1", unitPath, len(exec))
	}
	fields := strings.Fields(exec[0])
	if len(fields) < 2 || fields[0] != "/usr/local/bin/perfprobe" || fields[1] != "agent" {
		t.Fatalf("%s: ExecStart=%s: want /usr/local/bin/perfprobe agent ...", unitPath, exec[0])
	}
	check(unitPath, fields[2:])
}

// agentFlags lists the flag names perfprobe agent defines: the name
// argument of every fl.XxxVar(&v, "name", ...) and fl.XxxVarP(&v, "name",
// "x", ...) call in cmd/perfprobe/agent.go. Reading the source keeps this
// test free of building the command (package main).
func agentFlags(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), agentCmdPath, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{"help": true}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !regexp.MustCompile(`Var(P)?$`).MatchString(sel.Sel.Name) {
			return true
		}
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if name, err := strconv.Unquote(lit.Value); err == nil {
				flags[name] = true
			}
		}
		return true
	})
	return flags
}

// unitSettings reads the unit file's Key=Value lines (all sections).
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is no Key=Value line", unitPath, line)
		}
		out[k] = append(out[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// one returns the single value of key, failing when it is set other than
// once.
func one(t *testing.T, s map[string][]string, key string) string {
	t.Helper()
	if len(s[key]) != 1 {
		t.Fatalf("%s: %s is set %d times, want once", unitPath, key, len(s[key]))
	}
	return s[key][0]
}

func TestSystemdUnit(t *testing.T) {
	s := unitSettings(t)
	for key, want := range map[string]string{
		"ExecStart":       "/usr/local/bin/perfprobe agent --config /etc/perfprobe/agent.yaml",
		"ProtectSystem":   "strict",
		"StateDirectory":  "perfprobe",
		"ReadWritePaths":  storeDir,
		"MemoryMax":       "256M",
		"CPUQuota":        "20%",
		"Restart":         "on-failure",
		"EnvironmentFile": "-/etc/perfprobe/agent.env",
		"LimitMEMLOCK":    "infinity",
		"NoNewPrivileges": "yes",
	} {
		if got := one(t, s, key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	var want []string
	for _, c := range capabilities {
		want = append(want, "CAP_"+c)
	}
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := strings.Fields(one(t, s, key)); !sameSet(got, want) {
			t.Errorf("%s=%v, want exactly %v", key, got, want)
		}
	}
	// These hide /proc/kallsyms or drop CAP_SYSLOG: kernel frames would
	// lose their names.
	for _, key := range []string{"ProtectKernelTunables", "ProtectKernelLogs"} {
		if v, ok := s[key]; ok {
			t.Errorf("%s=%v: it leaves the kernel frames unnamed", key, v)
		}
	}
	if _, err := time.ParseDuration(one(t, s, "TimeoutStopSec")); err != nil {
		t.Errorf("TimeoutStopSec: %v", err)
	}
}

// TestCapabilitiesDocumented checks that docs/agent.md's capability table
// has one row per capability, granted or optional, as the files grant them.
func TestCapabilitiesDocumented(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `CAP_([A-Z_]+)` \\| (yes|optional) \\|")
	var granted, optional []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		if m[2] == "yes" {
			granted = append(granted, m[1])
		} else {
			optional = append(optional, m[1])
		}
	}
	if !sameSet(granted, capabilities) {
		t.Errorf("%s grants %v, the deployment files %v", docPath, granted, capabilities)
	}
	if !sameSet(optional, optionalCapabilities) {
		t.Errorf("%s lists %v as optional, want %v", docPath, optional, optionalCapabilities)
	}
}

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return len(slices.Compact(slices.Clone(x))) == len(x) && slices.Equal(x, y)
}
