package crypto_test

import (
	"testing"
	"time"

	_ "github.com/perfprobe/perfprobe/plugins/crypto"
	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 20% and 50%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "crypto", "crypto/internal/fips140/aes/gcm.gcmAesEnc", 0.20, 0.50)
}

// Stacks that are also hashing (an HMAC over a cipher's output) or under
// a TLS handshake belong to other plugins: only the sealing is crypto.
func TestLeavesOut(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"crypto/internal/fips140/aes/gcm.gcmAesEnc;crypto/internal/fips140/aes/gcm.(*GCM).Seal;main.seal;main.main":           4e9,
		"crypto/sha256.block;crypto/hmac.(*hmac).Write;crypto/internal/fips140/aes.encryptBlockAsm;main.mac":                  1e9,
		"crypto/internal/fips140/nistec.(*P256Point).ScalarMult;crypto/tls.(*serverHandshakeStateTLS13).handshake;main.serve": 2e9,
		"main.neutral;main.main": 3e9,
	})
	if got := plugintest.Share(t, "crypto", ev); got != 0.4 {
		t.Errorf("crypto share %s, want 40.0%% (main.seal only)", plugintest.Pct(got))
	}
}
