package gate

import (
	"strings"
	"testing"
)

const policyYAML = `gate:
  thresholds:
    latency: 5%
    share: 3pt
  min_samples: 8
  alpha: 0.01
  shares:
    - share(/main\.checksum/, oncpu)
  metrics:
    - match: ^BenchmarkSymbolize
      unit: sec/op
      threshold: 20%
    - match: ^wrk .* errors$
      ignore: true
  waivers:
    - metric: ^BenchmarkLoad$
      reason: upstream zstd
      owner: storage-team
      expires: 2027-03-01
`

// The same gate: section in perfprobe.yaml and in a PERFORMANCE.md block
// (next to a bottleneck list) gives the same policy.
func TestPolicyYAMLAndMarkdown(t *testing.T) {
	md := "# Perf\n\nSome prose.\n\n```perfprobe\nbottlenecks:\n  - name: h\n    category: hashing\n    status: acceptable\n```\n\nMore.\n\n```perfprobe\n" + policyYAML + "```\n"
	for name, data := range map[string]string{"perfprobe.yaml": policyYAML, "PERFORMANCE.md": md} {
		p, found, err := ParsePolicy(name, []byte(data))
		if err != nil || !found {
			t.Fatalf("%s: found %v, %v", name, found, err)
		}
		if p.Thresholds[KindLatency] != 0.05 || p.Thresholds[KindShare] != 3 || p.Thresholds[KindCPU] != 0.15 {
			t.Errorf("%s: thresholds %v", name, p.Thresholds)
		}
		if p.MinSamples != 8 || p.Alpha != 0.01 || len(p.Rules) != 2 || len(p.Waivers) != 1 {
			t.Errorf("%s: %+v", name, p)
		}
		if len(p.Shares) != 1 || p.Shares[0] != `share(/main\.checksum/, oncpu)` {
			t.Errorf("%s: shares %q", name, p.Shares)
		}
		if p.Rules[0].Threshold != 0.2 || p.Rules[0].Unit != "sec/op" || !p.Rules[1].Ignore {
			t.Errorf("%s: rules %+v", name, p.Rules)
		}
		if w := p.Waivers[0]; w.Owner != "storage-team" || w.Expires.Format("2006-01-02") != "2027-03-01" {
			t.Errorf("%s: waiver %+v", name, w)
		}
	}
	// A PERFORMANCE.md with only a bottleneck list has no gate section.
	if _, found, err := ParsePolicy("PERFORMANCE.md", []byte("```perfprobe\nslos: []\n```\n")); found || err != nil {
		t.Errorf("no gate section: found %v, %v", found, err)
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"p.yaml", "gate:\n  thresholds:\n    latency: 10\n", "p.yaml:3: thresholds: latency: want a percentage like 10%, not \"10\""},
		{"p.yaml", "gate:\n  thresholds:\n    share: 5%\n", "p.yaml:3: thresholds: share: a share's threshold is in points of percent, like 5pt"},
		{"p.yaml", "gate:\n  treshold: 1\n", "p.yaml:2: unknown key \"treshold\""},
		{"p.yaml", "gate:\n  shares: [hashing]\n", "p.yaml:2: shares: want share(CATEGORY, TYPE) or share(/REGEXP/, TYPE), not \"hashing\""},
		{"p.yaml", "gate:\n  min_samples: 2\n", "p.yaml:2: min_samples: want a whole number of at least 4"},
		{"p.yaml", "gate:\n  waivers:\n    - metric: x\n      owner: me\n", "p.yaml:3: a waiver needs reason, expires"},
		{"p.yaml", "gate:\n  waivers:\n    - metric: x\n      reason: r\n      owner: me\n      expires: soon\n", "p.yaml:6: expires: want a date like 2027-03-01"},
		{"p.yaml", "gate:\n  metrics:\n    - match: '('\n", "p.yaml:3: match: error parsing regexp"},
		{"p.yaml", "gate:\n  metrics:\n    - unit: B/op\n", "p.yaml:3: metrics: each entry needs match:"},
		{"p.yaml", "gate:\n  metrics: [\n", "p.yaml:"},
		{"PERFORMANCE.md", "# t\n\n```perfprobe\ngate:\n  alpha: 2\n```\n", "PERFORMANCE.md:5: alpha: want a number between 0 and 1"},
		{"PERFORMANCE.md", "```perfprobe\ngate:\n```\n```perfprobe\ngate:\n```\n", "a second gate: section"},
	} {
		_, _, err := ParsePolicy(tc.name, []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.data, err, tc.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(policyYAML))
	f.Add([]byte("```perfprobe\n" + policyYAML + "```\n"))
	f.Add([]byte("gate: [1, 2]\n"))
	f.Add([]byte("gate:\n  waivers:\n    - *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := ParsePolicy("fuzz.yaml", data)
		if err == nil && (p == nil || p.MinSamples < 4) {
			t.Fatalf("no error and policy %+v", p)
		}
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error without the file name: %v", err)
		}
	})
}
