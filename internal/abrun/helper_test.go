package abrun

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a command of known cost: with
// ABRUN_HELPER=burn:<ms> it burns that much CPU time, with
// ABRUN_HELPER=alloc:<MB> it touches that many megabytes.
func TestMain(m *testing.M) {
	if h := os.Getenv("ABRUN_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(m.Run())
}

var sink []byte

func helper(h string) int {
	what, num, _ := strings.Cut(h, ":")
	n, err := strconv.Atoi(num)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	switch what {
	case "burn":
		want := time.Duration(n) * time.Millisecond
		x := uint64(1)
		for cpuTime() < want {
			for range 100000 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		fmt.Fprintln(os.Stderr, x) // keeps the loop
	case "alloc":
		sink = make([]byte, n<<20)
		for i := 0; i < len(sink); i += 4096 {
			sink[i] = 1
		}
	default:
		return 2
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// helperCmd is a shell command running the helper as a child of sh (not
// exec'd by it), so that its cost reaches the run through sh's rusage.
func helperCmd(t testing.TB, what string, n int) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return "ABRUN_HELPER=" + what + ":" + strconv.Itoa(n) + " " + strconv.Quote(self) + "; true"
}
