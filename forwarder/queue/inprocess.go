package queue

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// inProcess connects nats.go to the embedded server (nats.InProcessServer)
// through a write buffer.
//
// The server hands out one end of a net.Pipe, which has no buffer: a Write
// returns only once the server's read loop has read every byte, that is
// after it has handled what it read before. nats.go writes to the
// connection while holding the connection's lock, so every publish (HTTP
// handlers waiting to answer) and every ack (delivery workers) in the
// process queued behind that one write. An execution trace at 5,000
// alerts/s showed handlers waiting for that lock 140 µs per publish on
// average and up to 8 ms. The buffer lets a Write return at once; one
// goroutine feeds the pipe. Nothing about durability changes: Enqueue still
// returns only once the server has acknowledged the stored message.
type inProcess struct{ ns *server.Server }

func (p inProcess) InProcessConn() (net.Conn, error) {
	c, err := p.ns.InProcessConn()
	if err != nil {
		return nil, err
	}
	return newBufferedConn(c, inProcessBufferLimit), nil
}

// inProcessBufferLimit bounds the bytes waiting in a bufferedConn: past it a
// Write waits for the server, as every Write did without the buffer. At
// 5,000 alerts/s 1 MiB is over a quarter of a second of publishes, while
// what it can add to memory (this buffer and the one being written, about
// 2 MiB) stays small beside the 96 MiB the sidekick keeps to. One message
// larger than the limit still goes through, alone.
const inProcessBufferLimit = 1 << 20

// closeDrainTimeout bounds how long Close waits for buffered bytes (say, the
// last acks) to reach the server before it closes the pipe anyway.
const closeDrainTimeout = time.Second

var errConnClosed = errors.New("queue: in-process connection closed")

// bufferedConn is a net.Conn whose writes go to a buffer that one goroutine
// copies to the underlying connection, in order. Reads and deadlines are the
// underlying connection's.
type bufferedConn struct {
	net.Conn
	limit int

	mu      sync.Mutex
	changed sync.Cond // buf filled or taken, a write failed, closed
	buf     []byte    // written, not yet handed to Conn
	err     error     // the underlying write's error, or errConnClosed
	done    chan struct{}
}

func newBufferedConn(c net.Conn, limit int) *bufferedConn {
	b := &bufferedConn{Conn: c, limit: limit, done: make(chan struct{})}
	b.changed.L = &b.mu
	go b.run()
	return b
}

// Write buffers p and returns at once, unless p would take the bytes waiting
// past limit: then it first waits until the goroutine has taken them.
func (b *bufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.buf) > 0 && len(b.buf)+len(p) > b.limit {
		b.changed.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.buf = append(b.buf, p...)
	b.changed.Broadcast()
	return len(p), nil
}

func (b *bufferedConn) run() {
	defer close(b.done)
	var out []byte
	b.mu.Lock()
	for {
		for b.err == nil && len(b.buf) == 0 {
			b.changed.Wait()
		}
		if len(b.buf) == 0 { // closed, and everything written
			b.mu.Unlock()
			return
		}
		// Swap buffers: writers fill the other one meanwhile.
		out, b.buf = b.buf, out[:0]
		b.changed.Broadcast()
		b.mu.Unlock()
		_, err := b.Conn.Write(out)
		b.mu.Lock()
		if err != nil {
			if b.err == nil {
				b.err = err
			}
			b.buf = nil
		}
		b.changed.Broadcast()
	}
}

// Close waits (at most closeDrainTimeout) for the buffered bytes to be
// written, then closes the underlying connection. Later Writes fail.
func (b *bufferedConn) Close() error {
	b.mu.Lock()
	if b.err == nil {
		b.err = errConnClosed
	}
	b.changed.Broadcast()
	b.mu.Unlock()
	t := time.NewTimer(closeDrainTimeout)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C: // the server stopped reading: closing unblocks the goroutine
	}
	return b.Conn.Close()
}
