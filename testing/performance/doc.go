// Package performance holds perfprobe's self-gate test
// (TestPerfGateCatchesSlowSymbolizer); the rigs are its subdirectories
// and perfgate.sh (make perf-gate) runs the gate itself.
package performance
