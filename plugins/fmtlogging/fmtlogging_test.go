package fmtlogging_test

import (
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/plugins/fmtlogging"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 10% and 30%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "fmt-logging", "fmt.(*pp).doPrintf", 0.10, 0.30)
}

// fmt and the loggers both count, with the caller that formats most.
func TestLoggers(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"fmt.(*pp).doPrintf;fmt.Sprintf;main.handle;main.main":                                          1e9,
		"log/slog.(*handleState).appendAttr;log/slog.(*Logger).Info;main.handle":                        1e9,
		"go.uber.org/zap/zapcore.(*jsonEncoder).AppendString;go.uber.org/zap.(*Logger).Info;main.other": 5e8,
		"main.neutral;main.main": 75e8,
	})
	f := plugintest.One(t, "fmt-logging", ev)
	if f == nil || f.Share != 0.25 || f.Title != "25% of CPU time is formatting and logging from main.handle" {
		t.Errorf("finding %+v, want 25%% from main.handle", f)
	}
}
