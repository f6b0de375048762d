package iostall

import (
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/probes"
)

// The block hooks follow what the kernel declares (a hand-made BTF stands
// for it; no root needed), and each choice says why.
func TestChooseBlockPath(t *testing.T) {
	for _, c := range []struct {
		name   string
		tps    map[string]int
		getrq  bool // BlockFromGetrq
		want   blockPath
		saying string
	}{
		{"6.5+", map[string]int{"block_rq_complete": 3, "block_io_start": 1, "block_getrq": 1, "block_rq_issue": 1}, false, blockIOStart, "from block_io_start"},
		{"6.5+, getrq forced", map[string]int{"block_rq_complete": 3, "block_io_start": 1, "block_getrq": 1, "block_rq_issue": 1}, true, blockGetrq, "(forced)"},
		{"before 6.5", map[string]int{"block_rq_complete": 3, "block_getrq": 1, "block_rq_issue": 1}, false, blockGetrq, "block_io_start is Linux 6.5+"},
		{"no block_rq_issue", map[string]int{"block_rq_complete": 3, "block_getrq": 1}, false, blockNone, "neither block_io_start"},
		{"old block_rq_complete", map[string]int{"block_rq_complete": 4, "block_io_start": 1}, false, blockNone, "no block_rq_complete(rq, error, nr_bytes)"},
		{"getrq with another layout", map[string]int{"block_rq_complete": 3, "block_getrq": 3, "block_rq_issue": 1}, false, blockNone, "neither"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PERFPROBE_BTF_PATH", bpftest.FakeBTF(t, c.tps, nil))
			old := BlockFromGetrq
			BlockFromGetrq = c.getrq
			t.Cleanup(func() { BlockFromGetrq = old })
			k, err := probes.ReadKernel()
			if err != nil {
				t.Fatal(err)
			}
			got, why := chooseBlockPath(k)
			if got != c.want || !strings.Contains(why, c.saying) {
				t.Errorf("chooseBlockPath = %d %q, want %d saying %q", got, why, c.want, c.saying)
			}
		})
	}
}
