package serve_test

import (
	"fmt"
	"net/http"

	"github.com/perfprobe/perfprobe/profile/serve"
)

// A service serves its profiles on a free loopback port, where
// perfprobe attach and perfprobe agent find them, until it returns.
func ExampleStart() {
	srv, err := serve.Start(serve.Options{ServiceName: "checkout"})
	if err != nil {
		fmt.Println("profiles not served:", err)
		return
	}
	defer srv.Close()

	resp, err := http.Get(srv.URL() + "/debug/pprof/delta_heap")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("delta_heap:", resp.Status)
	// Output: delta_heap: 200 OK
}
