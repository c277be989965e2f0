package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
)

// Header names the consumer puts on a message it dead-letters itself.
const (
	HeaderReason     = "x-purepool-reason"     // why the message can never be handled
	HeaderQueue      = "x-purepool-queue"      // the queue it was consumed from
	HeaderDeliveries = "x-purepool-deliveries" // how many times it was handled
	HeaderDeadAt     = "x-purepool-dead-at"    // when (RFC 3339, UTC)
	headerDelivCount = "x-delivery-count"      // set by quorum queues on redelivery
)

// Consumer consumes the command queue with manual acknowledgements. It
// never declares topology (purepool setup does), so the backend's user needs
// only read on the queue and write on the dead-letter exchange.
//
// Outcomes of a delivery:
//   - handler returns nil: Ack.
//   - commands.Permanent error, or a transient error on the delivery at
//     which the queue's delivery limit would dead-letter it anyway: the
//     message is dead-lettered with the error as its reason (see deadLetter).
//   - other error: Nack(requeue=true); the broker redelivers it with
//     x-delivery-count incremented.
//   - Consume's ctx ends before the handler returns: the message is left
//     unacked and returns to the queue when the channel closes.
//
// A batch (batch.go) is settled as one delivery once each of its commands
// has an outcome; see handleInBatch and settleBatch.
type Consumer struct {
	cfg     Config
	settled *settledMemo
}

// NewConsumer makes a consumer; nothing connects until Consume.
func NewConsumer(cfg Config) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Topology.validate(); err != nil {
		return nil, err
	}
	if _, err := parseURLs(cfg.URL); err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	return &Consumer{cfg: cfg, settled: newSettledMemo()}, nil
}

// Consume delivers commands to h until ctx ends (it then returns
// ctx.Err()), reconnecting with backoff whenever the connection or channel
// is lost. A refused login or permission (403) is returned at once on the
// first connection (a configuration error); once consuming has worked, it
// is retried for RefusedGrace, since a restarting broker refuses logins for
// a moment.
func (c *Consumer) Consume(ctx context.Context, h commands.Handler) error {
	log := c.cfg.Logger.With("component", "rabbitmq.consumer", "conn", c.cfg.Name, "queue", c.cfg.Topology.Queue)
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	var consumed bool          // a session has consumed
	var refusedSince time.Time // start of the current run of refusals
	for {
		started := time.Now()
		err := c.session(ctx, h, &consumed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isAccessRefused(err) {
			if refusedSince.IsZero() {
				refusedSince = started
			}
			if !consumed || time.Since(refusedSince) > c.cfg.RefusedGrace {
				return fmt.Errorf("rabbitmq: consume %s: %w", c.cfg.Topology.Queue, err)
			}
			log.Error("the broker refuses the login or permissions; retrying (a restarting broker does this for a moment)",
				"err", err, "refused_for", time.Since(refusedSince).Round(time.Millisecond), "grace", c.cfg.RefusedGrace)
			if b.wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		refusedSince = time.Time{}
		if time.Since(started) > time.Minute {
			b.reset()
		}
		log.Warn("consumer session ended; reconnecting", "err", err)
		if b.wait(ctx) != nil {
			return ctx.Err()
		}
	}
}

// session runs one connection's worth of consuming; it sets *consumed
// once the broker has accepted the consumer.
func (c *Consumer) session(ctx context.Context, h commands.Handler, consumed *bool) error {
	conn, err := c.cfg.dial()
	if err != nil {
		return err
	}
	defer conn.Close() // returns every unacked delivery to the queue
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("qos: %w", err)
	}
	dl, err := newDeadLetterer(conn, c.cfg.Topology)
	if err != nil {
		return err
	}
	deliveries, err := ch.Consume(c.cfg.Topology.Queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	*consumed = true
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	// A reader unpacks deliveries into jobs (a single message is one job, a
	// batch one per command) and the workers take jobs, so the commands of
	// a batch are handled concurrently as separate messages would be.
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	jobs := make(chan job)
	wg.Go(func() {
		defer close(jobs)
		for {
			select {
			case <-ctx.Done():
				return
			case d, ok := <-deliveries:
				if !ok {
					errs <- errors.New("delivery channel closed (channel or connection lost)")
					return
				}
				for _, j := range c.unpack(d) {
					select {
					case jobs <- j:
					case <-ctx.Done():
						return // unhandled commands: the delivery stays unacked
					}
				}
			}
		}
	})
	for range c.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue // leave it unacked: it goes back to the queue
				}
				c.run(ctx, h, dl, j)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		select { // the connection's reason, if it is the connection that went
		case e, ok := <-connClosed:
			if ok && e != nil {
				return fmt.Errorf("%w: %v", err, e)
			}
		default: // only the channel or the consumer (e.g. queue deleted)
		}
		if e := ch.Close(); e != nil && !errors.Is(e, amqp.ErrClosed) {
			return fmt.Errorf("%w: %v", err, e)
		}
		return err
	default:
		return ctx.Err()
	}
}

// handle runs the handler on one delivery and settles it.
func (c *Consumer) handle(ctx context.Context, h commands.Handler, dl *deadLetterer, d amqp.Delivery) {
	log := c.cfg.Logger.With("component", "rabbitmq.consumer", "queue", c.cfg.Topology.Queue, "message_id", d.MessageId, "type", d.Type)
	count := deliveryCount(d)
	id, err := uuid.Parse(d.MessageId)
	if err != nil {
		err = commands.Permanent(fmt.Errorf("message id %q is not a UUID", d.MessageId))
	} else {
		err = commands.SafeCall(ctx, h, commands.Message{ID: id, Name: d.Type, Body: d.Body, Redelivered: count})
	}
	switch {
	case err == nil:
		if e := d.Ack(false); e != nil {
			// The message will come back; handlers are idempotent.
			log.Warn("ack failed", "err", e)
		}
	case ctx.Err() != nil:
		// Stopping: leave it unacked so it returns to the queue.
	case commands.IsPermanent(err):
		c.deadLetter(ctx, dl, d, count, err.Error(), log)
	case count >= c.cfg.Topology.deliveryLimit():
		// The broker would dead-letter it on this nack, with only
		// "delivery_limit" as reason; do it here to keep the last error.
		c.deadLetter(ctx, dl, d, count, fmt.Sprintf("delivery limit %d reached: %v", c.cfg.Topology.deliveryLimit(), err), log)
	default:
		log.Info("handler failed; requeueing", "deliveries", count+1, "err", err)
		if !sleep(ctx, c.redeliveryDelay(count)) {
			return // stopping: unacked, it returns to the queue
		}
		if e := d.Nack(false, true); e != nil {
			log.Warn("nack failed", "err", e)
		}
	}
}

// deadLetter publishes a copy of d, with the reason, to the dead-letter
// exchange and waits for the broker's confirm (routed, persistent) before
// it acks the original. A crash between the two steps leaves both copies:
// the original is redelivered and dead-lettered again (a duplicate in the
// dead queue, same MessageId), never lost. If the copy cannot be stored the
// original is requeued, and the delivery limit still ends the loop.
func (c *Consumer) deadLetter(ctx context.Context, dl *deadLetterer, d amqp.Delivery, count int, reason string, log interface {
	Warn(string, ...any)
	Error(string, ...any)
}) {
	if err := dl.publish(ctx, d, count+1, c.cfg.Topology.Queue, reason); err != nil {
		log.Error("dead-lettering failed; requeueing", "reason", reason, "err", err)
		_ = d.Nack(false, true)
		if dl.ch.IsClosed() {
			// e.g. the dead-letter exchange is missing (404): end the
			// session and reconnect with backoff instead of spinning.
			_ = dl.conn.Close()
		}
		return
	}
	log.Warn("dead-lettered", "reason", reason)
	if e := d.Ack(false); e != nil {
		log.Warn("ack after dead-lettering failed", "err", e)
	}
}

// redeliveryDelay is RedeliveryDelay doubled per earlier delivery, capped.
func (c *Consumer) redeliveryDelay(count int) time.Duration {
	if c.cfg.RedeliveryDelay < 0 {
		return 0
	}
	return min(c.cfg.RedeliveryDelay<<min(count, 16), 30*time.Second)
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deliveryCount is how many earlier deliveries the message had: quorum
// queues count them in x-delivery-count; elsewhere only the redelivered
// flag is known.
func deliveryCount(d amqp.Delivery) int {
	switch v := d.Headers[headerDelivCount].(type) {
	case int64:
		return int(v)
	case int32:
		return int(v)
	case int16:
		return int(v)
	case int:
		return v
	case uint8:
		return int(v)
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	if d.Redelivered {
		return 1
	}
	return 0
}

// deadLetterer publishes dead letters on its own confirm channel, one at a
// time, so a return in its buffer always belongs to the current publish.
type deadLetterer struct {
	conn    *amqp.Connection
	mu      sync.Mutex
	ch      *amqp.Channel
	returns chan amqp.Return
	exch    string
}

func newDeadLetterer(conn *amqp.Connection, t Topology) (*deadLetterer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open dead-letter channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("dead-letter channel confirm mode: %w", err)
	}
	return &deadLetterer{conn: conn, ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, 1)), exch: t.DeadLetterExchange}, nil
}

func (dl *deadLetterer) publish(ctx context.Context, d amqp.Delivery, deliveries int, queue, reason string) error {
	return dl.send(ctx, d.RoutingKey, amqp.Publishing{
		Headers:      dl.headers(d, deliveries, queue, reason),
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    d.MessageId,
		Type:         d.Type,
		Timestamp:    d.Timestamp,
		AppId:        d.AppId,
		Body:         d.Body,
	})
}

// publishCommand dead-letters one command of batch d on its own, as the
// single message it would have been, naming the batch in HeaderBatchID.
func (dl *deadLetterer) publishCommand(ctx context.Context, d amqp.Delivery, e *batchEntry, deliveries int, queue, reason string) error {
	headers := dl.headers(d, deliveries, queue, reason)
	delete(headers, HeaderBatch)
	headers[HeaderBatchID] = d.MessageId
	return dl.send(ctx, d.RoutingKey, amqp.Publishing{
		Headers:      headers,
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    e.RawID,
		Type:         e.Name,
		Timestamp:    d.Timestamp,
		AppId:        d.AppId,
		Body:         e.body(),
	})
}

func (dl *deadLetterer) headers(d amqp.Delivery, deliveries int, queue, reason string) amqp.Table {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderReason] = reason
	headers[HeaderQueue] = queue
	headers[HeaderDeliveries] = int64(deliveries)
	headers[HeaderDeadAt] = time.Now().UTC().Format(time.RFC3339Nano)
	delete(headers, headerDelivCount)
	return headers
}

// send publishes one dead letter and waits for the broker's confirm.
func (dl *deadLetterer) send(ctx context.Context, key string, pub amqp.Publishing) error {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	dc, err := dl.ch.PublishWithDeferredConfirmWithContext(ctx, dl.exch, key, true, false, pub)
	if err != nil {
		return err
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	select {
	case r, ok := <-dl.returns:
		if ok {
			return fmt.Errorf("%w: %d %s (dead-letter exchange %q)", ErrUnroutable, r.ReplyCode, r.ReplyText, dl.exch)
		}
	default:
	}
	if !acked {
		return ErrNacked
	}
	return nil
}
