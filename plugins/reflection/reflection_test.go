package reflection_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/reflection"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 10% and 30%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "reflection", "reflect.deepValueEqual", 0.10, 0.30)
}

// Reflection an encoder or fmt does is theirs: only main.same's is here.
func TestLeavesOut(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"reflect.deepValueEqual;reflect.DeepEqual;main.same;main.main":                        2e9,
		"reflect.Value.Field;encoding/json.structEncoder.encode;encoding/json.Marshal;main.a": 3e9,
		"reflect.Value.Field;fmt.(*pp).printValue;fmt.Sprintf;main.b":                         1e9,
		"main.neutral;main.main": 4e9,
	})
	if got := plugintest.Share(t, "reflection", ev); got != 0.2 {
		t.Errorf("reflection share %s, want 20.0%% (main.same only)", plugintest.Pct(got))
	}
}
