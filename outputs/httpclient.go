package outputs

import (
	"crypto/tls"
	"net/http"
)

// NewTransport returns the transport an HTTP output sends with: its own
// clone of http.DefaultTransport (proxy from the environment, HTTP/2),
// keeping up to maxConns idle connections to the destination (the output's
// maxconcurrentrequests), and not verifying the server's certificate when
// checkCert is false: falcosidekick's <output>.checkcert, for self-hosted
// destinations on self-signed certificates. With checkCert true a
// certificate that does not verify fails the request, and TransportError
// classifies that as it does any connection failure (retryable: the
// certificate may be fixed), with Go's x509 reason in the text.
func NewTransport(maxConns int, checkCert bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxConns
	if !checkCert {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user turned checkcert off
	}
	return tr
}

// HTTPClient returns a client on NewTransport for an output with these
// common settings. The dispatcher bounds each attempt through its context;
// the client's timeout (the output's timeout) is a backstop for callers that
// do not.
func HTTPClient(c *Common, checkCert bool) *http.Client {
	return &http.Client{Transport: NewTransport(c.MaxConcurrentRequests, checkCert), Timeout: c.Timeout}
}
