// Package pyroscope pushes perfprobe's profile windows to Grafana Pyroscope
// with its official push API (push.v1.PusherService over connect). Series
// turns one merged window into Pyroscope series, one single-type pprof per
// eBPF quantity under the names of the Types table, plus the Go runtime's
// own profiles as the runtime wrote them; Client queues the windows in a
// memory-capped queue and pushes them with retries, exponential backoff and
// jitter, dropping the oldest windows (counted) when the server is away for
// longer than the queue can hold. Secrets given in Config never reach an
// error, a log line, Stats or a metric. docs/pyroscope.md describes the
// naming, the labels and the queries to run in Grafana.
package pyroscope
