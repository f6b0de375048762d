// Command prebuild compiles the test targets that the kernel matrix's
// virtual machines need (they have no Go toolchain or gcc) into one
// directory, named as testtarget.Build looks them up when
// PERFPROBE_TARGETS_DIR points there.
//
//	go run ./internal/testtarget/prebuild -o DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/perfprobe/perfprobe/internal/testtarget"
)

// targets lists every (target, build flags) the tests in
// testing/kernels/suite start.
var targets = []struct {
	name  string
	flags []string
}{
	{"spinner", nil},
	{"cspin", nil},
	{"forker", nil},
	{"sleeper", nil},
	{"lockedsleep", nil},
	{"lockedsleep", []string{"-ldflags=-w"}},
	{"lockedsleep", []string{"-ldflags=-linkmode=external"}},
	{"contended", nil},
	{"fsyncer", nil},
	{"tlshandshakes", nil},
	{"tlshandshakes", []string{"-ldflags=-s -w"}},
	{"tlshandshakes", []string{"-buildmode=pie"}},
	{"tlsserver", nil},
}

func main() {
	out := flag.String("o", "", "directory to build the targets into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: prebuild -o DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	for _, t := range targets {
		path, err := testtarget.BuildInto(*out, t.name, t.flags...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "prebuild:", err)
			os.Exit(1)
		}
		fmt.Println(path)
	}
}
