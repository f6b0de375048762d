package tls

import (
	"fmt"
	"io"

	pprof "github.com/google/pprof/profile"

	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/profile"
	"github.com/perfprobe/perfprobe/profile/text"
)

func init() {
	probes.Register(probes.Description{
		Name: "tls", Default: true, Rank: 40,
		Doc: "TLS handshakes (Go crypto/tls, OpenSSL, BoringSSL): count, result and latency by the stack that started them",
		New: func() probes.Probe { return &Probe{} },
		SampleTypes: []profile.SampleType{{Name: profile.TypeTLSHandshake, Unit: "nanoseconds", Rank: 40,
			Desc: "Time inside TLS handshakes, at the stack that started them"}},
		EventUnit: "events",
		Counts: []probes.Fact{
			{Name: "tls_handshakes_ok", Desc: "handshakes that succeeded"},
			{Name: "tls_handshakes_failed", Desc: "handshakes that failed"},
			{Name: "tls_client_*", Desc: "client-side handshakes, _ok or _failed"},
			{Name: "tls_server_*", Desc: "server-side handshakes, _ok or _failed"},
			{Name: "tls_unknown_*", Desc: "handshakes whose side could not be told"},
			{Name: "tls_go_*", Desc: "handshakes in Go's crypto/tls, _ok or _failed"},
			{Name: "tls_openssl_*", Desc: "handshakes in OpenSSL or BoringSSL, _ok or _failed (tls_openssl_retries: SSL_do_handshake calls that wanted more I/O)"},
			{Name: "tls_unpaired_returns", Desc: "handshake returns without their start in the window"},
			{Name: "tls_started_before_window", Desc: "handshakes started before the window (not counted)"},
			{Name: "tls_stacks_reused", Desc: "handshakes that reused their connection's first stack"},
			{Name: "tls_own_probes", Desc: "server handshakes on perfprobe's own connections (endpoint discovery, profile fetches): left out of every other count, histogram and stack"},
			{Name: "tls_inflight_at_end", Desc: "handshakes still running when the window ended"},
			{Name: "tls_files_probed", Desc: "executables and libraries with uprobes, each once whichever targets run it"},
		},
		Histograms: []probes.Fact{
			{Name: "tls_handshake", Desc: "handshake duration, all sides"},
			{Name: "tls_handshake_*", Desc: "handshake duration of one side (client, server)"},
		},
		Drops: []probes.Fact{
			{Name: "tls_user_stack", Desc: "handshakes whose user stack could not be stored"},
			{Name: "tls_stats_full", Desc: "handshakes lost because the per-stack map was full"},
			{Name: "tls_inflight_full", Desc: "handshakes not timed because the in-flight map was full"},
			{Name: "tls_expired", Desc: "OpenSSL handshakes pending longer than MaxIdle, replaced"},
			{Name: "tls_pid_hists_full", Desc: "handshakes left out of their process's histograms (the per-process map was full); the capture's histograms have them"},
		},
		Summary: summary,
	})
}

// summary prints the TLS handshakes the probe saw.
func summary(w io.Writer, c *profile.Capture, p *pprof.Profile) {
	if p == nil {
		return
	}
	ok, failed := c.Counts["tls_handshakes_ok"], c.Counts["tls_handshakes_failed"]
	fmt.Fprintf(w, "\nTLS handshakes: %d ok (client %d, server %d), %d failed; %s in handshakes\n",
		ok, c.Counts["tls_client_ok"], c.Counts["tls_server_ok"], failed, text.Ns(profile.Total(p, profile.TypeTLSHandshake)))
	if h := c.Histograms["tls_handshake"]; h != nil && h.Count > 0 {
		fmt.Fprintf(w, "  duration %s\n", text.Percentiles(h))
	}
	text.TopStacks(w, p, profile.TypeTLSHandshake, 3, false)
}
