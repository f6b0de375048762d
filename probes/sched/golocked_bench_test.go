package sched_test

import (
	"testing"
	"time"

	"github.com/perfprobe/perfprobe/internal/bpftest"
	"github.com/perfprobe/perfprobe/internal/testtarget"
	"github.com/perfprobe/perfprobe/probes"
	"github.com/perfprobe/perfprobe/probes/sched"
)

// BenchmarkSwitchOutCost measures, in BPF (bpf_ktime_get_ns around the
// work of each target switch-out), what a switch-out of the target's
// threads costs, with stacks walked every time (stack interval 0), over
// 1 s captures:
//   - lockedsleep: a goroutine locked to its thread sleeps 200 µs in a
//     loop; its thread's switch-outs walk the goroutine's stack
//     (walked-ns/op), the rest (the spinner's preemptions, runtime
//     threads) do not (other-ns/op);
//   - sleeper: a Go thread sleeps in nanosleep on its own goroutine: only
//     the g0 check runs;
//
// each with the attribution on and off (off: no runtime offsets, today's
// path), and again with the default stack interval (10 ms: most
// switch-outs reuse the last stacks, the g0 check still runs). The
// timer's own cost (two bpf_ktime_get_ns) is in every figure.
func BenchmarkSwitchOutCost(b *testing.B) {
	bpftest.Require(b)
	for _, target := range []string{"lockedsleep", "sleeper"} {
		for _, v := range []struct {
			name     string
			on       bool
			interval time.Duration
		}{{"locked_on", true, 0}, {"locked_off", false, 0}, {"locked_on_interval10ms", true, probes.DefaultStackInterval}, {"locked_off_interval10ms", false, probes.DefaultStackInterval}} {
			on := v.on
			b.Run(target+"/"+v.name, func(b *testing.B) {
				var sum sched.SwitchOutCost
				sched.MeasureSwitchOut(func(c sched.SwitchOutCost) { sum = c })
				sched.SetGoLocked(on)
				defer func() { sched.SetGoLocked(true); sched.MeasureSwitchOut(nil) }()
				bin := testtarget.Build(b, target)
				p := testtarget.Start(b, bin, "-interval", "200us")
				var tot sched.SwitchOutCost
				for i := 0; i < b.N; i++ {
					bpftest.Capture(b, p.PID, probes.Config{Probes: []string{"sched"}, StackInterval: v.interval}, time.Second)
					tot.WalkedNs, tot.Walked = tot.WalkedNs+sum.WalkedNs, tot.Walked+sum.Walked
					tot.OtherNs, tot.Other = tot.OtherNs+sum.OtherNs, tot.Other+sum.Other
				}
				if tot.Walked > 0 {
					b.ReportMetric(float64(tot.WalkedNs)/float64(tot.Walked), "walked-ns/op")
				}
				if tot.Other > 0 {
					b.ReportMetric(float64(tot.OtherNs)/float64(tot.Other), "other-ns/op")
				}
				b.ReportMetric(float64(tot.Walked)/float64(b.N), "walked/capture")
				b.ReportMetric(float64(tot.Other)/float64(b.N), "other/capture")
			})
		}
	}
}
