package plugins

import (
	"encoding/json"
	"strings"
	"testing"
)

// fake returns fixed findings, and records the evidence it was given.
type fake struct {
	name     string
	findings []Finding
	saw      **Evidence
}

func (f fake) Name() string { return f.name }

func (f fake) Diagnose(ev *Evidence) []Finding {
	if f.saw != nil {
		*f.saw = ev
	}
	return append([]Finding(nil), f.findings...)
}

var seen *Evidence

func init() {
	Register(fake{name: "test-a", saw: &seen, findings: []Finding{
		{Title: "b", Severity: Warning, Share: 0.2},
		{Title: "z", Severity: Critical, Share: 0.1},
	}})
	Register(fake{name: "test-b", findings: []Finding{
		{Title: "a", Severity: Warning, Share: 0.2},
		{Title: "x", Severity: Info, Share: 0.9},
		{Title: "c", Severity: Warning, Share: 0.5},
	}})
	Register(fake{name: "test-healthy"}) // finds nothing: adds nothing
}

// Diagnose runs every plugin on the same evidence, names the plugin of
// each finding and ranks them: most severe first, then the largest share,
// then by title.
func TestDiagnoseRanks(t *testing.T) {
	ev := &Evidence{}
	got := Diagnose(ev)
	if seen != ev {
		t.Errorf("plugin saw evidence %p, want %p", seen, ev)
	}
	want := []string{"test-a/z/critical", "test-b/c/warning", "test-b/a/warning", "test-a/b/warning", "test-b/x/info"}
	var order []string
	for _, f := range got {
		order = append(order, f.Plugin+"/"+f.Title+"/"+f.Severity.String())
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("findings %v, want %v", order, want)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"test-a" registered twice`) {
			t.Errorf("registering test-a twice: recovered %v, want a panic naming it", r)
		}
	}()
	Register(fake{name: "test-a"})
}

func TestSeverityText(t *testing.T) {
	b, err := json.Marshal(Finding{Severity: Critical})
	if err != nil || !strings.Contains(string(b), `"severity":"critical"`) {
		t.Errorf("finding JSON %s (%v): want the severity by name", b, err)
	}
	for s, want := range map[Severity]string{Info: "info", Warning: "warning", Critical: "critical", Severity(7): "info"} {
		if s.String() != want {
			t.Errorf("Severity(%d) = %q, want %q", s, s.String(), want)
		}
	}
}
