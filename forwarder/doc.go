// Package forwarder is the sidekick daemon: it wires the configuration to
// the outputs, the durable queue, the dispatch workers and the HTTP API.
package forwarder
