// Command abwork does a fixed amount of CPU-bound work (~150 ms on the
// test machine, one thread) and exits, printing nothing: a command whose
// wall and CPU time are what `perfprobe bench` compares. With -bench N it
// does the work in N equal parts and prints each part's time as a Go
// benchmark line (BenchmarkAbwork 1 NNN ns/op), as a benchmark would.
//
// Known behaviour: it runs rounds*slowdown rounds of dependent integer
// work. slowdown is set at build time to plant a regression:
//
//	go build -ldflags '-X main.slowdown=1.15' ./testdata/targets/abwork
//
// does 15% more rounds, so 15% more time.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
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
	parts := flag.Int("bench", 0, "do the work in this many parts and print each part's time as a Go benchmark line")
	flag.Parse()
	if *parts <= 0 {
		work(int(rounds * f))
		return
	}
	for range *parts {
		start := time.Now()
		work(int(rounds * f / float64(*parts)))
		fmt.Printf("BenchmarkAbwork \t       1\t%12d ns/op\n", time.Since(start).Nanoseconds())
	}
}

func work(n int) {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}
