// Package queuetest holds what tests of the queue and of its users share:
// an external NATS server to point queue.url at.
package queuetest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server runs a NATS server with JetStream on a loopback port, as an
// external one (queue.url) would be, storing under a test directory, with
// the given max_payload (0: NATS's default, 1 MiB). It is shut down when
// the test ends.
func Server(tb testing.TB, maxPayload int32) *server.Server {
	tb.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoSigs: true, NoLog: true,
		MaxPayload: maxPayload,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ns.Start()
	tb.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	return ns
}
