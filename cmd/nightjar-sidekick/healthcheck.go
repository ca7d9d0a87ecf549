package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// healthcheck is the container image's HEALTHCHECK: the images have no shell
// or curl, so the binary probes the sidekick's /healthz itself. It exits 0 when the
// endpoint answers 2xx, 1 otherwise.
func healthcheck(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:"+listenPort(environ)+"/healthz", "the `URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
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

// listenPort is the port the sidekick listens on by its environment
// (LISTENPORT), as the image is configured.
func listenPort(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "LISTENPORT="); ok && v != "" {
			return v
		}
	}
	return strconv.Itoa(config.DefaultListenPort)
}
