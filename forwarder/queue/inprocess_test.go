package queue

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// writeReturns runs Write in a goroutine and reports whether it returned
// within d.
func writeReturns(c net.Conn, p []byte, d time.Duration) (chan error, bool) {
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(p)
		done <- err
	}()
	select {
	case err := <-done:
		done <- err
		return done, true
	case <-time.After(d):
		return done, false
	}
}

func TestBufferedConnWritesWithoutWaitingForTheReader(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newBufferedConn(client, 1<<20)
	defer c.Close()

	// Nobody reads the pipe yet: with net.Pipe alone each Write would wait.
	var want []byte
	for i := range 100 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 100)
		want = append(want, p...)
		if _, ok := writeReturns(c, p, 5*time.Second); !ok {
			t.Fatalf("write %d waited for the reader", i)
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes arrived changed or out of order")
	}
}

func TestBufferedConnBoundsWhatWaits(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newBufferedConn(client, 16)
	defer c.Close()

	// The first write goes to the pipe (in flight until read), the second
	// waits in the buffer; the third would pass the limit and must wait.
	for i := range 2 {
		if _, ok := writeReturns(c, []byte("0123456789"), 5*time.Second); !ok {
			t.Fatalf("write %d waited", i)
		}
	}
	done, ok := writeReturns(c, []byte("abcdefghij"), 200*time.Millisecond)
	if ok {
		t.Fatal("a write past the limit returned before the reader read anything")
	}
	got := make([]byte, 30)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "01234567890123456789abcdefghij" {
		t.Fatalf("read %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting write: %v", err)
	}
}

func TestBufferedConnCloseDeliversWhatWasWritten(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newBufferedConn(client, 1<<20)
	for _, s := range []string{"+ACK 1\r\n", "+ACK 2\r\n"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "+ACK 1\r\n+ACK 2\r\n" {
		t.Fatalf("read %q before the close", got)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, errConnClosed) {
		t.Fatalf("write after Close: %v, want errConnClosed", err)
	}
}

func TestBufferedConnReportsTheServerGone(t *testing.T) {
	client, server := net.Pipe()
	c := newBufferedConn(client, 1<<20)
	defer c.Close()
	server.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Write([]byte("PUB x 0\r\n\r\n"))
		if errors.Is(err, io.ErrClosedPipe) {
			return
		}
		if err != nil {
			t.Fatalf("write: %v, want io.ErrClosedPipe", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("writes kept succeeding after the server's end closed")
		}
		time.Sleep(time.Millisecond)
	}
}
