// Package outputstest holds what the destination packages' tests share, in
// the manner of net/http/httptest.
package outputstest

import (
	"testing"
	"time"
)

// Recv takes what a test server saw of one request; a request that never
// came fails the test instead of hanging it.
func Recv[T any](tb testing.TB, ch chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("the server got no request")
		panic("unreachable")
	}
}
