package serialization_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/plugins/internal/plugintest"
	_ "github.com/perfprobe/perfprobe/plugins/serialization"
	"github.com/perfprobe/perfprobe/profile"
)

// Bands at 20% and 50%, the absolute gates, and no CPU evidence.
func TestBands(t *testing.T) {
	plugintest.HotSpotBands(t, "serialization", "encoding/json.structEncoder.encode", 0.20, 0.50)
}

// Reflection under an encoder and protobuf count here, with the caller
// that encodes most named.
func TestEncoders(t *testing.T) {
	ev := plugintest.CPU(profile.TypeOnCPU, 10*time.Second, map[string]int64{
		"reflect.Value.Field;encoding/json.structEncoder.encode;encoding/json.Marshal;main.respond;main.main": 3e9,
		"google.golang.org/protobuf/internal/impl.(*MessageInfo).marshal;main.store;main.main":                1e9,
		"main.neutral;main.main": 6e9,
	})
	f := plugintest.One(t, "serialization", ev)
	if f == nil || f.Share != 0.4 || f.Title != "40% of CPU time is serialization (JSON, protobuf, gob, XML) from main.respond" {
		t.Errorf("finding %+v, want 40%% from main.respond", f)
	}
}
