package compression_test

import (
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/plugins/compression"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 20% and 50%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "compression", "compress/flate.(*compressor).deflate", 0.20, 0.50)
}

// A gzip stream's CRC is compression's; the Go profiler gzipping the
// profile it serves is the capture's own cost.
func TestCRCAndProfiler(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"compress/flate.(*compressor).deflate;compress/gzip.(*Writer).Write;main.save;main.main":                   2e9,
		"hash/crc32.ieeeCLMUL;compress/gzip.(*Writer).Write;main.save;main.main":                                   1e9,
		"compress/flate.(*compressor).deflate;compress/gzip.(*Writer).Write;runtime/pprof.(*profileBuilder).build": 1e9,
		"main.neutral;main.main": 6e9,
	})
	if got := plugintest.Share(t, "compression", ev); got != 0.3 {
		t.Errorf("compression share %s, want 30.0%% (main.save with its CRC)", plugintest.Pct(got))
	}
}
