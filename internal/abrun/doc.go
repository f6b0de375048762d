// Package abrun is the A/B runner of `perfprobe bench`: it runs two shell
// commands, a base and a head, in interleaved pairs whose order alternates
// (base first in even pairs, head first in odd ones), so that slow drifts
// of a shared machine (thermal state, a neighbour's load, caches) fall on
// both sides alike. Each run's metrics are what its output holds that
// gate.ParseData understands or, when it prints nothing gate knows, the
// command's wall time, CPU time and peak RSS. The comparison of the pairs
// is gate.ComparePaired's; abrun only measures.
package abrun
