package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder"
	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// healthcheck is the container image's HEALTHCHECK: the images have no shell
// or curl, so the binary probes its own sidekick. It runs beside the
// sidekick with the same environment (and, given -c, the same file), so it
// reads the configuration as the sidekick does and probes where the
// sidekick serves: GET /healthz on its port over plain HTTP, or over HTTPS
// when tlsserver.deploy is on. With mutual TLS, which it has no client
// certificate for, it probes the plain-HTTP port (tlsserver.notlsport) when
// that serves /healthz or /ping, and otherwise presents the sidekick's own
// certificate. It exits 0 when the endpoint answers 2xx and 1 otherwise,
// misuse and a configuration the sidekick would refuse included: Docker's
// HEALTHCHECK reserves exit status 2.
func healthcheck(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "the sidekick's configuration `file`, when it runs with one")
	target := fs.String("url", "", "the `URL` to probe (default: the sidekick's own /healthz, https when tlsserver.deploy is on)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	cfg, err := config.Load(*cfgPath, environ, forwarder.OutputTypes)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck: configuration:", err)
		return 1
	}
	u := *target
	if u == "" {
		u = probeURL(cfg)
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: --url %q: want http(s)://host:port/path\n", u)
		return 1
	}
	tr := &http.Transport{Proxy: nil}
	if parsed.Scheme == "https" {
		if tr.TLSClientConfig, err = probeTLS(cfg, parsed.Hostname()); err != nil {
			fmt.Fprintln(stderr, "healthcheck:", err)
			return 1
		}
		if tr.TLSClientConfig.InsecureSkipVerify {
			// The skip is for the loopback self-check only: refuse any
			// connection that does not end on this machine ("localhost"
			// is trusted by the address it resolves to, not its name).
			tr.DialContext = loopbackOnly
		}
	}
	// A redirect is an answer, not a place to go: following it would take
	// the check (and, with mutual TLS, the sidekick's certificate) to
	// another host. A 3xx is unhealthy.
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(stderr, "unhealthy:", u, resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}

// loopbackOnly dials like net.Dialer but keeps the connection only when
// its remote address is a loopback address.
func loopbackOnly(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		c.Close()
		return nil, fmt.Errorf("%s is not a loopback address: certificates are only left unchecked on this machine", c.RemoteAddr())
	}
	return c, nil
}

// probeURL is where the sidekick configured by cfg answers probes.
func probeURL(cfg *config.Config) string {
	host := selfHost(cfg.ListenAddress)
	t := cfg.TLSServer
	switch {
	case !t.Deploy:
		return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.ListenPort)) + "/healthz"
	case t.MutualTLS:
		// The plain port serves only notlspaths (by default /ping): the
		// queue's health when it may, else that the sidekick answers.
		for _, path := range []string{"/healthz", "/ping"} {
			if slices.Contains(t.NoTLSPaths, path) {
				return "http://" + net.JoinHostPort(host, strconv.Itoa(t.NoTLSPort)) + path
			}
		}
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(cfg.ListenPort)) + "/healthz"
}

// selfHost is the address to reach a server listening on listenAddress
// from the same machine: loopback for all addresses.
func selfHost(listenAddress string) string {
	if ip := net.ParseIP(listenAddress); listenAddress == "" || ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return listenAddress
}

// probeTLS is the client side of the TLS check of the sidekick at host.
func probeTLS(cfg *config.Config, host string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		// The loopback self-check: it connects to the sidekick in its own
		// container or host, where nothing can stand in between, and the
		// sidekick's certificate names the service (its DNS name), not
		// 127.0.0.1, so verifying it would fail for a good certificate
		// and prove nothing. Any other host is verified as usual.
		c.InsecureSkipVerify = true
	} else if f := cfg.TLSServer.CACertFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("tlsserver.cacertfile: %w", err)
		}
		if c.RootCAs, err = x509.SystemCertPool(); err != nil {
			c.RootCAs = x509.NewCertPool()
		}
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("tlsserver.cacertfile: no PEM certificate")
		}
	}
	if cfg.TLSServer.MutualTLS {
		// The check has no client certificate of its own: the sidekick's
		// will do when the CA issued it for client authentication too.
		cert, err := tls.LoadX509KeyPair(cfg.TLSServer.CertFile, cfg.TLSServer.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsserver.certfile, tlsserver.keyfile: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
