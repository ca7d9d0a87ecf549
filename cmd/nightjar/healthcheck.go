package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"
)

// healthcheck is the container image's HEALTHCHECK: the images have no shell
// or curl, so the binary probes the detector's metrics endpoint itself. That
// endpoint exists only with metrics.enabled (the image's configuration turns
// it on, on 127.0.0.1:8765). It exits 0 when the endpoint answers 2xx and
// 1 otherwise, misuse included: Docker's HEALTHCHECK reserves exit status 2.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8765/metrics", "the `URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		if errors.Is(err, syscall.ECONNREFUSED) {
			fmt.Fprintln(stderr, "(nothing listens there: is metrics.enabled true, with metrics.listen_address at that address?)")
		}
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(stderr, "unhealthy:", resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}
