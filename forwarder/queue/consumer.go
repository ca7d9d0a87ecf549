package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-sec/nightjar/alert"
)

// subjectToken turns an output name into one NATS subject token that is
// also a valid consumer name: letters, digits and '-' stay; every other byte
// (including '_' itself) becomes _XX in hex, so the mapping is reversible.
func subjectToken(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// parseToken reverses subjectToken.
func parseToken(tok string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '_' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", false
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

// ConsumerOptions tune an output's durable consumer.
type ConsumerOptions struct {
	// AckWait is how long a fetched delivery may stay unacknowledged before
	// the server hands it out again. It must exceed the time a worker can
	// hold it (the output's timeout, plus waiting for a free worker).
	AckWait time.Duration
	// MaxAckPending bounds deliveries handed out and not yet acknowledged,
	// including those waiting for a retry.
	MaxAckPending int
}

// Consumer is an output's durable pull consumer.
type Consumer struct {
	q      *Queue
	output string
	c      jetstream.Consumer
}

// Consumer creates or updates the durable consumer of an output. Deliveries
// are redelivered without limit; the dispatcher decides when to give up.
func (q *Queue) Consumer(ctx context.Context, output string, o ConsumerOptions) (*Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	c, err := q.deliver.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumerName(output),
		Description:   "nightjar-sidekick output " + output,
		FilterSubject: q.deliverSubject(output),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: o.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      q.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consumer for output %s: %w", output, err)
	}
	return &Consumer{q: q, output: output, c: c}, nil
}

// Messages starts pulling, buffering at most max deliveries in the client.
func (c *Consumer) Messages(max int) (*Iterator, error) {
	it, err := c.c.Messages(jetstream.PullMaxMessages(max))
	if err != nil {
		return nil, fmt.Errorf("queue: pulling for output %s: %w", c.output, err)
	}
	return &Iterator{c: c, it: it}, nil
}

// MessagesRaw is Messages for outputs that take the stored JSON as it is
// (outputs.RawSender): deliveries carry Data and no Alert, which saves
// decoding every alert. A stored message that is not a JSON object still
// comes with DecodeErr set, for the dead letters. Messages published by the
// sidekick are always alerts as alert.Encode wrote them; anything else on
// the queue's subjects could only come from another publisher.
func (c *Consumer) MessagesRaw(max int) (*Iterator, error) {
	it, err := c.Messages(max)
	if err != nil {
		return nil, err
	}
	it.raw = true
	return it, nil
}

// Iterator hands out an output's deliveries one at a time.
type Iterator struct {
	c   *Consumer
	it  jetstream.MessagesContext
	raw bool // MessagesRaw: do not decode
}

// ErrClosed is returned by Next once the iterator is stopped and drained.
var ErrClosed = errors.New("queue: iterator closed")

// Next waits for the next delivery. Transient errors (a missed heartbeat
// while the server is unreachable) are returned as they are, and the
// caller may call Next again; ErrClosed ends the iteration.
func (it *Iterator) Next(ctx context.Context) (*Delivery, error) {
	m, err := it.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil, ErrClosed
		}
		return nil, err
	}
	if it.raw {
		return newRawDelivery(it.c.q, it.c.output, m), nil
	}
	return newDelivery(it.c.q, it.c.output, m), nil
}

// Drain stops pulling; deliveries already buffered stay available to Next,
// which then returns ErrClosed.
func (it *Iterator) Drain() { it.it.Drain() }

// ReleaseBuffered stops pulling and hands the deliveries the client had
// buffered back to the queue, for immediate redelivery (to this process
// after a restart, or to another sidekick sharing the consumer). It naks
// them only once the pull subscription is gone: naked earlier, the server
// would hand them straight back to the subscription being closed.
func (it *Iterator) ReleaseBuffered() {
	it.it.Drain()
	var held []*Delivery
	for {
		d, err := it.Next(context.Background())
		if err != nil {
			break
		}
		held = append(held, d)
	}
	for _, d := range held {
		_ = d.Release()
	}
}

// Stop stops pulling and discards the buffer (the server hands those
// deliveries out again after AckWait).
func (it *Iterator) Stop() { it.it.Stop() }

// Delivery is one (alert, output) message handed to a worker.
type Delivery struct {
	Output string
	// Alert is nil when the stored message does not decode; such a delivery
	// can only go to the dead letters (DecodeErr says why). It is also nil
	// from MessagesRaw, which does not decode.
	Alert     *alert.Alert
	DecodeErr error
	// Data is the stored message: the alert's JSON as alert.Encode wrote
	// it. It must not be modified.
	Data []byte
	// Enqueued is when the sidekick accepted the alert.
	Enqueued time.Time
	// Attempt counts deliveries of this message to a worker, from 1.
	Attempt uint64

	q   *Queue
	msg jetstream.Msg
}

func newDelivery(q *Queue, output string, m jetstream.Msg) *Delivery {
	d := newRawDelivery(q, output, m)
	d.DecodeErr = nil
	a, err := alert.Decode(d.Data)
	if err != nil {
		d.DecodeErr = err
	} else {
		d.Alert = a
	}
	return d
}

// newRawDelivery checks only that the message is a JSON object.
func newRawDelivery(q *Queue, output string, m jetstream.Msg) *Delivery {
	d := &Delivery{Output: output, q: q, msg: m, Attempt: 1, Data: m.Data()}
	if md, err := m.Metadata(); err == nil {
		d.Enqueued, d.Attempt = md.Timestamp, md.NumDelivered
	}
	if b := bytes.TrimLeft(d.Data, " \t\r\n"); len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		d.DecodeErr = errors.New("stored message is not a JSON object")
	}
	return d
}

// Ack removes the delivery from the queue: the output has it. It does not
// wait for the server's confirmation: waiting put a round trip through the
// busy server into every delivery, and with a few workers per output that
// capped delivery below the ingest rate. An ack lost in a crash makes the
// delivery come again (at least once); Queue.Close flushes pending acks.
func (d *Delivery) Ack() error { return d.msg.Ack() }

// Retry hands the delivery back, to be delivered again after delay.
func (d *Delivery) Retry(delay time.Duration) error { return d.msg.NakWithDelay(delay) }

// Release hands the delivery back for immediate redelivery (shutdown). It
// is a nak with a token delay because the server stores the redelivery
// time of such a nak with the consumer, so that it survives a restart; a
// plain nak does not, and after a restart the delivery would wait AckWait.
func (d *Delivery) Release() error { return d.msg.NakWithDelay(time.Millisecond) }

// DeadLetter stores the delivery in the dead-letter stream with its reason,
// last error and the number of delivery attempts made, then removes it from
// the queue. The dead letter's message ID makes a repeat after a crash
// between the two steps harmless.
func (d *Delivery) DeadLetter(ctx context.Context, reason, cause string, attempts uint64) error {
	if err := d.q.publishDead(ctx, d.Output, d.msg.Data(), reason, cause, attempts, d.Enqueued); err != nil {
		return err
	}
	return d.Ack()
}

func (q *Queue) publishDead(ctx context.Context, output string, data []byte, reason, cause string, attempts uint64, enqueued time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	m := &nats.Msg{Subject: q.deadSubject(output), Data: data, Header: nats.Header{}}
	m.Header.Set(hdrOutput, output)
	m.Header.Set(hdrReason, reason)
	if cause != "" {
		if len(cause) > 1024 {
			cause = cause[:1024]
		}
		m.Header.Set(hdrError, strings.ReplaceAll(cause, "\n", " "))
	}
	m.Header.Set(hdrAttempts, strconv.FormatUint(attempts, 10))
	m.Header.Set(hdrEnqueued, enqueued.UTC().Format(time.RFC3339Nano))
	id := output + "/" + enqueued.UTC().Format(time.RFC3339Nano)
	if a, err := alert.Decode(data); err == nil && a.UUID != "" {
		id = a.UUID + "/" + output
	}
	m.Header.Set(jetstream.MsgIDHeader, id)
	if _, err := q.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("queue: dead letter for output %s: %w", output, err)
	}
	q.log.Warn("delivery dead-lettered", "output", output, "reason", reason, "error", cause, "attempts", attempts)
	return nil
}

// removedOutputs lists outputs that have deliveries or a consumer in the
// stream but are not in the configuration any more.
func (q *Queue) removedOutputs(ctx context.Context, current []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	depth, _, err := q.depth(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var removed []string
	for out, n := range depth {
		if n > 0 && !slices.Contains(current, out) && !seen[out] {
			seen[out] = true
			removed = append(removed, out)
		}
	}
	names := q.deliver.ConsumerNames(ctx)
	for name := range names.Name() {
		out, ok := parseToken(strings.TrimPrefix(name, "deliver_"))
		if !ok || !strings.HasPrefix(name, "deliver_") || slices.Contains(current, out) || seen[out] {
			continue
		}
		seen[out] = true
		removed = append(removed, out)
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("queue: listing consumers: %w", err)
	}
	slices.Sort(removed)
	return removed, nil
}

// drainRemoved moves the backlog of an output that is no longer configured
// to the dead-letter stream (reason "removed": counted, logged and
// listable, rather than lost or left to fill the queue forever), then
// deletes its consumer.
func (q *Queue) drainRemoved(ctx context.Context, output string) {
	log := q.log.With("output", output)
	c, err := q.Consumer(ctx, output, ConsumerOptions{AckWait: time.Minute, MaxAckPending: 1000})
	if err != nil {
		log.Error("output removed from the configuration: cannot read its backlog", "err", err)
		return
	}
	moved := 0
	for ctx.Err() == nil {
		// Deliveries waiting for a retry come back only when their delay
		// ends, so keep pulling until the output's subject is empty.
		batch, err := c.c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			log.Error("output removed from the configuration: reading its backlog", "err", err)
			return
		}
		n := 0
		for m := range batch.Messages() {
			n++
			d := newDelivery(q, output, m)
			if err := q.publishDead(ctx, output, m.Data(), ReasonRemoved, "output "+output+" is no longer configured", d.Attempt-1, d.Enqueued); err != nil {
				log.Error("output removed from the configuration: moving its backlog", "err", err)
				_ = m.Nak()
				return
			}
			_ = m.Ack()
			moved++
		}
		if n == 0 {
			dctx, cancel := context.WithTimeout(ctx, opTimeout)
			depth, _, err := q.depth(dctx)
			cancel()
			if err == nil && depth[output] == 0 {
				break
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := q.deliver.DeleteConsumer(dctx, consumerName(output)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		log.Warn("output removed from the configuration: deleting its consumer", "err", err)
	}
	log.Warn("output removed from the configuration: its backlog went to the dead letters", "moved", moved)
}
