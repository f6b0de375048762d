package hashing_test

import (
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/plugins/hashing"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 20% and 50%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "hashing", "crypto/internal/fips140/sha256.blockSHANI", 0.20, 0.50)
}

// Hashing a TLS handshake does, the CRC of a gzip stream and the Go
// profilers' own stacks are other plugins' time: only main.checksum's
// 30% is hashing.
func TestLeavesOut(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"crypto/sha256.block;main.checksum;main.main":                                              3e9,
		"crypto/sha256.block;crypto/tls.(*Conn).clientHandshake;main.dial":                         2e9,
		"hash/crc32.ieeeCLMUL;compress/gzip.(*Writer).Write;main.save":                             2e9,
		"hash/crc32.ieeeCLMUL;compress/gzip.(*Writer).Write;runtime/pprof.(*profileBuilder).build": 1e9,
		"main.neutral;main.main": 2e9,
	})
	if got := plugintest.Share(t, "hashing", ev); got != 0.3 {
		t.Errorf("hashing share %s, want 30.0%% (main.checksum only)", plugintest.Pct(got))
	}
}

// C frames of a hand-written SHA-256 are hashing, named by their caller.
func TestCFrames(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"sha256_transform;sha256_update;plant_hashing;main": 5e9,
		"neutral_work;main": 5e9,
	})
	f := plugintest.One(t, "hashing", ev)
	if f == nil || f.Share != 0.5 || f.Title != "50% of CPU time is hashing from plant_hashing" {
		t.Errorf("finding %+v, want 50%% hashing from plant_hashing", f)
	}
}
