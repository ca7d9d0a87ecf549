package queue

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nightjar-sec/nightjar/forwarder/queue/queuetest"
)

func externalConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Dir = ""
	cfg.URL = url
	return cfg
}

// An alert that would be stored larger than the server's max_payload is
// refused with a *TooLargeError naming both sizes, and stored for no
// output; one exactly at the limit is stored.
func TestEnqueueTooLarge(t *testing.T) {
	const limit = 8 << 10
	ns := queuetest.Server(t, limit)
	q := open(t, externalConfig(ns.ClientURL()), "webhook", "a-much-longer-output-name")
	defer q.Close()
	if got := q.MaxPayload(); got != limit {
		t.Fatalf("MaxPayload = %d, want %d", got, limit)
	}
	outs := []string{"webhook", "a-much-longer-output-name"}

	// Pad an alert (its uuid from the sender: a message-ID header too) so
	// that its larger message, the longer output's, is exactly limit.
	a := testAlert(1)
	body, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a.Output += strings.Repeat("x", limit-int(storedSize(body, true, a.UUID, outs[1])))
	if err := q.Enqueue(context.Background(), a, outs); err != nil {
		t.Fatalf("an alert of exactly max_payload: %v", err)
	}
	waitDepth(t, q, "webhook", 1)

	a = testAlert(2)
	a.Output += strings.Repeat("x", limit-int(storedSize(body, true, a.UUID, outs[1]))+1)
	err = q.Enqueue(context.Background(), a, outs)
	var tl *TooLargeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Limit != limit || tl.Size != limit+1 ||
		!strings.Contains(err.Error(), strconv.Itoa(limit)+" bytes") {
		t.Fatalf("one byte over: err = %v", err)
	}
	// Refused before anything was published: the shorter output's message
	// fitted, yet neither output has it.
	time.Sleep(50 * time.Millisecond)
	if d := q.Depth(); d["webhook"] != 1 || d["a-much-longer-output-name"] != 1 {
		t.Fatalf("depth = %v, want 1 each (the first alert only)", d)
	}
}

// gatedProxy relays a TCP connection to addr; while held, what the server
// sends stays in the proxy (the client's acknowledgements do not arrive).
type gatedProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	cond *sync.Cond
	held bool
}

func newGatedProxy(t *testing.T, addr string) *gatedProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedProxy{ln: ln}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() {
		p.hold(false)
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					p.mu.Lock()
					for p.held {
						p.cond.Wait()
					}
					p.mu.Unlock()
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *gatedProxy) hold(h bool) {
	p.mu.Lock()
	p.held = h
	p.mu.Unlock()
	p.cond.Broadcast()
}

// A publish that finds as many messages waiting for the server's
// acknowledgement as the client allows, and none acknowledged within the
// stall wait, fails with ErrBusy (a 503 with Retry-After), not an error the
// API answers 500.
func TestEnqueueBusy(t *testing.T) {
	ns := queuetest.Server(t, 0)
	p := newGatedProxy(t, ns.Addr().String())
	q := open(t, externalConfig("nats://"+p.ln.Addr().String()), "a", "b")
	defer q.Close()
	// The production client allows 16384 messages waiting; one makes the
	// second publish of an alert for two outputs wait for the first's ack.
	js, err := jetstream.New(q.nc, jetstream.WithPublishAsyncMaxPending(1), jetstream.WithPublishAsyncTimeout(opTimeout))
	if err != nil {
		t.Fatal(err)
	}
	q.js = js
	if err := q.Enqueue(context.Background(), testAlert(1), []string{"a", "b"}); err != nil {
		t.Fatalf("with the server answering: %v", err)
	}

	p.hold(true)
	err = q.Enqueue(context.Background(), testAlert(2), []string{"a", "b"})
	p.hold(false)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("with acknowledgements held: err = %v, want ErrBusy", err)
	}
	if err := q.Enqueue(context.Background(), testAlert(3), []string{"a", "b"}); err != nil {
		t.Fatalf("after: %v", err)
	}
}

// An acknowledgement that does not come within the publish timeout is the
// server not keeping up: ErrBusy (a 503 with Retry-After), as a stalled
// publish is, not an error POST / answers 500.
func TestPublishTimeoutIsBusy(t *testing.T) {
	err := classifyPublish(jetstream.ErrAsyncPublishTimeout)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		t.Fatalf("classifyPublish(ErrAsyncPublishTimeout) = %v, want ErrBusy wrapping it", err)
	}
	if err := classifyPublish(errors.New("something else")); errors.Is(err, ErrBusy) || errors.Is(err, ErrFull) {
		t.Fatalf("classifyPublish(other) = %v", err)
	}
}
