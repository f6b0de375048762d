// Package tlshandshake diagnoses TLS handshakes that cost a large share of
// the CPU: connections set up anew instead of reused (no keep-alive) or
// full handshakes where a resumed one would do.
//
// The tls probe counts handshakes per side and times them, but it does
// not count connections: handshakes per connection cannot be told, so the
// plugin reads the rate and the CPU each handshake costs instead (a full
// ECDHE handshake costs about a millisecond of CPU per side, a resumed one
// a fraction of that), and whether the handshakes' stacks send or verify
// certificates, which only full handshakes do.
//
// Two things score: the share of the process's CPU in handshakes (a
// warning at 20%, critical at 50%), and the rate (a warning at 100
// handshakes a second, critical at 1,000), which counts only when the
// handshakes also take 5% of the process's CPU or more: hundreds of new
// connections a second that cost a sixth of the CPU are a problem even
// though no single share says so. Both need at least 200 ms of CPU in
// handshakes, in 20 samples, over 1 s.
package tlshandshake

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/perfprobe/perfprobe/plugins"
	"github.com/perfprobe/perfprobe/profile"
)

func init() { plugins.Register(Plugin{}) }

// Thresholds: the share of CPU time under a handshake frame, a warning at
// 20% and critical at 50%, with at least 200 ms of it in 20 samples over
// 1 s. fullHandshakeCPU is the CPU per handshake above which they look
// like full handshakes; manyPerSecond the rate that says connections are
// not reused.
var (
	thresholds       = plugins.Thresholds{Warn: 0.20, Critical: 0.50, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}
	fullHandshakeCPU = 300 * time.Microsecond
	manyPerSecond    = 10.0
	// rateThresholds score handshakes per second (not a share: Warn and
	// Critical are rates); rateMinCPU is the share of the process's CPU
	// the handshakes must take for the rate to make a warning.
	rateThresholds = plugins.Thresholds{Warn: 100, Critical: 1000, MinValue: 200 * time.Millisecond, MinSamples: 20, MinWindow: time.Second}
	rateMinCPU     = 0.05
	// certShare is the part of the handshakes' CPU in certificate work
	// (at least certSamples samples) that says they are full handshakes.
	certShare         = 0.05
	certSamples int64 = 2
)

// certFrame is certificate work inside a handshake: sending, signing for
// and verifying the certificate, which a resumed handshake skips.
var certFrame = regexp.MustCompile(`^crypto/tls\.\(\*(serverHandshakeStateTLS13|clientHandshakeStateTLS13)\)\.(sendServerCertificate|readServerCertificate|sendClientCertificate)$|^crypto/tls\.\(\*(serverHandshakeState|clientHandshakeState)\)\.doFullHandshake$|^crypto/tls\.\(\*Conn\)\.(verifyServerCertificate|processCertsFromClient)$|^crypto/x509\.|^(tls_construct_server_certificate|tls_process_server_certificate|tls_construct_cert_verify|tls_process_cert_verify|ssl_verify_cert_chain|X509_verify_cert)$`)

// Plugin is the TLS handshake diagnosis.
type Plugin struct{}

// Name implements plugins.Plugin.
func (Plugin) Name() string { return "tls-handshake" }

// Doc implements plugins.Plugin.
func (Plugin) Doc() string {
	return "CPU and wall time in TLS handshakes, their rate and latency: connections not reused or not resumed"
}

// Needs implements plugins.Plugin.
func (Plugin) Needs() []plugins.Need {
	return []plugins.Need{{Any: []string{"probe:tls"}, What: "TLS handshake events", Enable: "run with --probes tls"}}
}

// Diagnose implements plugins.Plugin.
func (Plugin) Diagnose(ev *plugins.Evidence) ([]plugins.Finding, error) {
	window := ev.Window()
	ok, failed := ev.Count("tls_handshakes_ok"), ev.Count("tls_handshakes_failed")
	n := ok + failed
	if n == 0 || window <= 0 {
		return nil, nil
	}
	rate := float64(n) / window.Seconds()
	cpuType := ev.CPUType()
	var cpu plugins.Match
	if cpuType != "" {
		cpu = ev.InCategory(cpuType, plugins.CatTLSHandshake)
	}
	// Without CPU samples the share is of the window (one thread's worth):
	// it scores, but only up to info (no CPU time proves it).
	share, value, samples := cpu.Share, time.Duration(cpu.Value), cpu.Samples
	inHandshakes := ev.Total(profile.TypeTLSHandshake)
	if cpuType == "" {
		share, value, samples = min(1, float64(inHandshakes)/float64(window)), 0, 0
	}
	score, gated := thresholds.Score(share, value, samples, window)
	// The rate, when the handshakes' CPU is a part of the process's that
	// matters.
	rs, rg := rateThresholds.Score(rate, value, samples, window)
	if rg == "" && cpu.Share < rateMinCPU {
		rg = fmt.Sprintf("the handshakes take %s of the CPU, under %s", plugins.Pct(cpu.Share), plugins.Pct(rateMinCPU))
		rs = min(rs, plugins.ScoreWarning-1)
	}
	byRate := rs > score
	if byRate {
		score, gated = rs, rg
	}
	if score < plugins.ScoreInfo {
		return nil, nil
	}
	h := ev.Histogram("tls_handshake")
	f := plugins.Finding{
		Category: string(plugins.CatTLSHandshake),
		Score:    score,
		Share:    share,
		Figures: []plugins.Figure{
			plugins.Fig("handshakes", float64(n), "count", fmt.Sprintf("%d ok, %d failed; client %d, server %d", ok, failed, ev.Count("tls_client_ok")+ev.Count("tls_client_failed"), ev.Count("tls_server_ok")+ev.Count("tls_server_failed"))),
			plugins.Fig("handshakes_per_s", rate, "/s", "window "+window.Round(time.Millisecond).String()),
			plugins.Fig("in_handshakes_ns", float64(inHandshakes), "ns", "wall time inside handshakes, all of them"),
		},
		Query: plugins.Query(profile.TypeTLSHandshake, ""),
	}
	if cpuType != "" {
		f.Figures = append(f.Figures,
			plugins.Fig("cpu_share", 100*cpu.Share, "%", fmt.Sprintf("%s total %s", cpuType, plugins.Seconds(cpu.Total))),
			plugins.Fig("cpu_ns", float64(cpu.Value), "ns", ""),
			plugins.Fig("cpu_per_handshake_ns", float64(cpu.Value)/float64(n), "ns", "both sides when the process is both"),
			plugins.Fig("rate_score", float64(rs), "count", "the rate's score (counts from 5% of the CPU)"))
		f.Query = plugins.Query(cpuType, plugins.CatTLSHandshake.Focus())
	}
	var p95 uint64
	if h != nil && h.Count > 0 {
		p95 = h.Percentile(0.95)
		f.Figures = append(f.Figures, plugins.Fig("p95_ns", float64(p95), "ns", fmt.Sprintf("one handshake, of %d", h.Count)),
			plugins.Fig("p50_ns", float64(h.Percentile(0.5)), "ns", "one handshake"))
	}
	// Wall: the goroutines that spend most of their time in handshakes.
	var wall []plugins.GoroutineShare
	if ev.HasType(profile.TypeGoWall) {
		wall = ev.GoroutineShares(func(frames []string) bool {
			for _, fr := range frames {
				if plugins.FrameIn(fr, plugins.CatTLSHandshake) {
					return true
				}
			}
			return false
		})
		if len(wall) > 0 {
			f.Figures = append(f.Figures, plugins.Fig("wall_share", 100*wall[0].Share, "%", fmt.Sprintf("go_wall of goroutines %s, %s", wall[0].Entry, plugins.Seconds(wall[0].Wall))))
		}
	}
	// Title and detail.
	if cpuType != "" {
		f.Title = fmt.Sprintf("%s of CPU time is TLS handshakes (%.0f per second)", plugins.Pct(cpu.Share), rate)
	} else {
		f.Title = fmt.Sprintf("TLS handshakes: %.0f per second, %s inside them", rate, plugins.Seconds(inHandshakes))
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%d TLS handshakes in %s (%.1f/s; %d failed)", n, window.Round(time.Millisecond), rate, failed)
	if cpuType != "" {
		fmt.Fprintf(&d, " took %s of %s CPU (%s), %s each", plugins.Seconds(cpu.Value), cpuType, plugins.Pct(cpu.Share), plugins.Seconds(cpu.Value/int64(n)))
	}
	if p95 > 0 {
		fmt.Fprintf(&d, "; one lasts %s at p50, %s at p95", plugins.Seconds(int64(h.Percentile(0.5))), plugins.Seconds(int64(p95)))
	}
	if len(wall) > 0 {
		fmt.Fprintf(&d, "; goroutines %s spend %s of their wall time in them", wall[0].Entry, plugins.Pct(wall[0].Share))
	}
	d.WriteString(". The probe does not count connections, so handshakes per connection are not known.")
	// The stacks that started the handshakes name the code to change.
	if ev.Profile != nil {
		for _, st := range profile.TopStacks(ev.Profile, profile.TypeTLSHandshake, 3) {
			f.Stacks = append(f.Stacks, st.Frames)
		}
	}
	if len(f.Stacks) == 0 {
		f.Stacks = cpu.StackFrames()
	}
	if len(cpu.Entries) > 0 {
		f.Key = []string{cpu.Entries[0]}
		f.Title += " from " + plugins.ShortFunc(cpu.Entries[0])
	} else if len(wall) > 0 {
		f.Key = []string{wall[0].Entry}
	}
	// Advice: keep-alive for a high rate, resumption for full handshakes.
	client := ev.Count("tls_client_ok") + ev.Count("tls_client_failed")
	server := ev.Count("tls_server_ok") + ev.Count("tls_server_failed")
	var advice []string
	if rate >= manyPerSecond {
		if client >= server {
			advice = append(advice, "Reuse connections: one long-lived http.Client/Transport (not one per request), read bodies to EOF and close them, raise MaxIdleConnsPerHost; for other protocols keep a connection pool.")
		} else {
			advice = append(advice, "Clients connect anew for each request: make them keep connections alive (HTTP keep-alive, connection pools) and check that the server does not close them (Connection: close, short IdleTimeout).")
		}
	}
	// Full handshakes: a millisecond-scale CPU cost each, or certificate
	// work on the handshakes' stacks.
	var cert plugins.Match
	if cpuType != "" {
		cert = ev.Where(cpuType, func(frames []string) bool {
			return slices.ContainsFunc(frames, func(f string) bool { return plugins.FrameIn(f, plugins.CatTLSHandshake) }) &&
				slices.ContainsFunc(frames, certFrame.MatchString)
		}, certFrame.MatchString)
	}
	costly := cpuType != "" && time.Duration(cpu.Value/int64(n)) >= fullHandshakeCPU
	certs := cert.Value > 0 && cert.Samples >= certSamples && float64(cert.Value) >= certShare*float64(cpu.Value)
	full := costly || certs
	if full || cpuType == "" {
		advice = append(advice, "Resume sessions instead of full handshakes: tls.Config.ClientSessionCache on clients, session tickets left on on servers (SessionTicketsDisabled false), SSL_CTX session caching in OpenSSL; prefer ECDSA certificates over RSA.")
		switch {
		case costly:
			fmt.Fprintf(&d, " At %s of CPU each they look like full handshakes; a resumed one costs a fraction of that.", plugins.Seconds(cpu.Value/int64(n)))
		case certs:
			fmt.Fprintf(&d, " They are full handshakes: %s of their CPU (%s) sends or verifies certificates, which a resumed handshake skips.", plugins.Pct(float64(cert.Value)/float64(cpu.Value)), plugins.Seconds(cert.Value))
		}
		if cert.Value > 0 {
			f.Figures = append(f.Figures, plugins.Fig("cert_cpu_ns", float64(cert.Value), "ns", cpuType+" in certificate work inside handshakes"))
		}
	}
	if byRate {
		fmt.Fprintf(&d, " Scored by the rate: %.0f handshakes a second that take %s of the process's CPU.", rate, plugins.Pct(cpu.Share))
	}
	if len(advice) == 0 {
		advice = append(advice, "Handshakes are few and already cheap: look at what surrounds them (certificate verification, slow peers).")
	}
	if gated != "" {
		fmt.Fprintf(&d, " Kept at info: %s.", gated)
	}
	f.Detail, f.Advice = d.String(), strings.Join(advice, " ")
	signals := []plugins.Signal{{Name: "handshake count", Agrees: rate >= manyPerSecond, Detail: fmt.Sprintf("%.1f/s", rate)}}
	if cpuType != "" {
		signals = append(signals, plugins.Signal{Name: cpuType + " in crypto/tls", Agrees: cpu.Share >= thresholds.Warn/2, Detail: plugins.Pct(cpu.Share) + " of " + cpuType})
	}
	if len(wall) > 0 {
		signals = append(signals, plugins.Signal{Name: "wall time in handshakes", Agrees: wall[0].Share >= thresholds.Warn, Detail: plugins.Pct(wall[0].Share) + " of " + wall[0].Entry})
	} else {
		signals = append(signals, plugins.Signal{Name: "wall time in handshakes", Agrees: float64(inHandshakes) >= thresholds.Warn*float64(window), Detail: plugins.Seconds(inHandshakes) + " in " + window.Round(time.Millisecond).String()})
	}
	f.Confidence = plugins.Agreement(signals...)
	return []plugins.Finding{f}, nil
}
