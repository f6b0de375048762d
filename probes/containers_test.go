package probes

import (
	"os"
	"strings"
	"testing"
)

// TestCheckContainers: the three container lines are there; as root the
// roots of other mount namespaces are readable, and this test process
// (in the host's pid namespace on our machines, or in its own in a
// container) is told apart by its NSpid.
func TestCheckContainers(t *testing.T) {
	cs := CheckContainers()
	names := []string{}
	for _, c := range cs {
		names = append(names, c.Name)
		if c.Detail == "" || (!c.OK && c.Fix == "") {
			t.Errorf("%+v: want a detail, and a fix when not ok", c)
		}
	}
	if got := strings.Join(names, ","); got != "container files,pid namespaces,cgroups" {
		t.Errorf("checks %s", got)
	}
	if os.Geteuid() == 0 && !cs[0].OK {
		t.Errorf("as root: %+v", cs[0])
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	own := strings.Contains(string(b), "NSpid:") && len(strings.Fields(strings.SplitN(strings.SplitN(string(b), "NSpid:", 2)[1], "\n", 2)[0])) > 1
	if cs[1].OK == own {
		t.Errorf("pid namespaces %+v, but in a pid namespace of its own: %v", cs[1], own)
	}
}
