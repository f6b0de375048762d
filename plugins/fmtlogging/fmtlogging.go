// Package fmtlogging diagnoses CPU time spent formatting text and logging
// on hot paths: fmt (Sprintf, Fprintf, Errorf), log, log/slog, zap,
// logrus, zerolog, klog, and printf/syslog, Rust's std::fmt and log, C++
// spdlog and fmt (plugins.CatFmtLogging's frame rules).
//
// Thresholds: a warning at 10% of the CPU, critical at 30% (formatting
// text nobody reads is pure overhead; a tenth of the CPU in it is worth a
// look), and never above info under 200 ms of CPU, 20 samples or a 1 s
// window.
//
// Stacks of the Go profilers at work in the target (runtime/pprof,
// fgprof, the CPU profiler's signal handler) are the capture's own cost,
// the profiler-cost plugin's: they are left out.
package fmtlogging

import "github.com/perfprobe/perfprobe/plugins"

// thresholds of the fmt-logging plugin.
var thresholds = plugins.Thresholds{Warn: 0.10, Critical: 0.30, MinValue: plugins.DefaultMinValue, MinSamples: plugins.DefaultMinSamples, MinWindow: plugins.DefaultMinWindow}

func init() {
	plugins.Register(plugins.CPUHotSpot{
		PluginName: "fmt-logging",
		Category:   plugins.CatFmtLogging,
		Except:     []plugins.Category{plugins.CatProfilerCost},
		What:       "formatting and logging",
		Thresholds: thresholds,
		Advice: "Format less on the hot path: check the level before building a log line (slog's Enabled, zap's " +
			"Check), log per batch or sample instead of per item, and use structured loggers with typed fields " +
			"(slog.Int, zap.String) instead of Sprintf-built messages. Replace fmt.Sprintf in string building with " +
			"strconv.Append*/strings.Builder, and fmt.Errorf on expected paths with preallocated sentinel errors. " +
			"A logger writing synchronously to a slow sink also blocks: buffer it.",
	})
}
