package regexp_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/regexp"
	"github.com/perfprobe/perfprobe/profile"
)

// Compiling: a warning at 5%, critical at 20%; the gates; no CPU evidence.
func TestCompileBands(t *testing.T) {
	plugintest.HotSpotBands(t, "regexp", "regexp.MustCompile", 0.05, 0.20)
}

// Matching: plugins.HotSpot's 20% and 50%.
func TestMatchBands(t *testing.T) {
	plugintest.HotSpotBands(t, "regexp", "regexp.(*Regexp).doExecute", 0.20, 0.50)
}

// Compiling and matching are told apart, each named by its caller: 10%
// compiling is a warning where 10% matching is info.
func TestCompileAndMatch(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"regexp/syntax.(*parser).push;regexp/syntax.Parse;regexp.compile;regexp.MustCompile;main.handle;main.main": 6e8,
		"runtime.mallocgc;regexp/syntax.(*compiler).rune;regexp.compile;regexp.Compile;main.handle;main.main":      4e8,
		"regexp.(*Regexp).backtrack;regexp.(*Regexp).doExecute;regexp.(*Regexp).MatchString;main.filter":           1e9,
		"main.neutral;main.main": 8e9,
	})
	st, fs := plugintest.Run(t, "regexp", ev)
	if st.Status != plugins.StatusOK || len(fs) != 2 {
		t.Fatalf("status %s, findings %+v; want compiling and matching", st.Status, fs)
	}
	if m := fs[1]; m.Title != "10% of CPU time matches regular expressions in main.filter" || m.Severity != plugins.Info {
		t.Errorf("matching: %s %q, want info in main.filter", m.Severity, m.Title)
	}
	f := fs[0]
	if f.Title != "10% of CPU time compiles regular expressions in main.handle" || f.Severity != plugins.Warning || f.Share != 0.1 {
		t.Errorf("%s %q share %v", f.Severity, f.Title, f.Share)
	}
	for k, v := range map[string]float64{"compile_share": 10, "match_share": 10} {
		if got, _ := f.Figure(k); got != v {
			t.Errorf("figure %s = %v, want %v", k, got, v)
		}
	}
	// A quarter of the CPU matching is a warning of its own.
	ev = plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"regexp/syntax.(*parser).push;regexp.MustCompile;main.handle;main.main":                          1e9,
		"regexp.(*Regexp).backtrack;regexp.(*Regexp).doExecute;regexp.(*Regexp).MatchString;main.filter": 25e8,
		"main.neutral;main.main": 65e8,
	})
	_, fs = plugintest.Run(t, "regexp", ev)
	if len(fs) != 2 || fs[0].Title != "10% of CPU time compiles regular expressions in main.handle" ||
		fs[1].Title != "25% of CPU time matches regular expressions in main.filter" || fs[1].Severity != plugins.Warning || fs[0].ID == fs[1].ID {
		t.Errorf("findings %+v, want compiling in main.handle and matching in main.filter, with their own ids", fs)
	}
}
