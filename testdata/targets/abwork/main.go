// Command abwork does a fixed amount of CPU-bound work (~150 ms on the
// test machine, one thread) and exits, printing nothing: a command whose
// wall and CPU time are what `perfprobe bench` compares.
//
// Known behaviour: it runs rounds*slowdown rounds of dependent integer
// work. slowdown is set at build time to plant a regression:
//
//	go build -ldflags '-X main.slowdown=1.15' ./testdata/targets/abwork
//
// does 15% more rounds, so 15% more time.
package main

import (
	"fmt"
	"os"
	"strconv"
)

// rounds of work at slowdown 1.
const rounds = 150_000_000

var slowdown = "1"

var sink uint64

func main() {
	f, err := strconv.ParseFloat(slowdown, 64)
	if err != nil || f <= 0 {
		fmt.Fprintf(os.Stderr, "abwork: slowdown %q: want a positive number\n", slowdown)
		os.Exit(2)
	}
	n := int(rounds * f)
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}
