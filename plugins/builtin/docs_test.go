package builtin_test

import (
	"os"
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/plugins"
)

// Every built-in plugin is in docs/diagnosis.md's table, with a Doc line.
func TestDocsListEveryPlugin(t *testing.T) {
	doc, err := os.ReadFile("../../docs/diagnosis.md")
	if err != nil {
		t.Fatal(err)
	}
	ps := plugins.Registered()
	if len(ps) < 17 {
		t.Errorf("%d built-in plugins registered, want at least 17", len(ps))
	}
	for _, p := range ps {
		if !strings.Contains(string(doc), "| `"+p.Name()+"` |") {
			t.Errorf("docs/diagnosis.md does not list plugin %s", p.Name())
		}
		if p.Doc() == "" {
			t.Errorf("plugin %s has no Doc", p.Name())
		}
	}
}
