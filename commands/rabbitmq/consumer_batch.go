package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
)

// job is one unit of work for a consumer's worker: a single message (b nil),
// or command i of batch b.
type job struct {
	d   *amqp.Delivery
	bad error // d is a batch that cannot be read: dead-letter it whole
	b   *batchDelivery
	i   int
}

// batchDelivery is a batch being handled: it is settled by whichever
// worker finishes its last command.
type batchDelivery struct {
	d       amqp.Delivery
	count   int // earlier deliveries of the batch, hence of each command
	entries []batchEntry

	mu      sync.Mutex
	left    int
	stopped bool        // a command's handling was cut short by the consumer stopping
	settled []uuid.UUID // handled or dead-lettered
	failed  []failedCommand
}

type failedCommand struct {
	i   int
	err error
}

// unpack turns a delivery into jobs. A message without the batch content
// type is a single command, handled exactly as before batching.
func (c *Consumer) unpack(d amqp.Delivery) []job {
	if d.ContentType != BatchContentType {
		return []job{{d: &d}}
	}
	entries, err := decodeBatch(d.Body)
	if err != nil {
		return []job{{d: &d, bad: err}}
	}
	b := &batchDelivery{d: d, count: deliveryCount(d), entries: entries, left: len(entries)}
	jobs := make([]job, len(entries))
	for i := range jobs {
		jobs[i] = job{b: b, i: i}
	}
	return jobs
}

func (c *Consumer) run(ctx context.Context, h commands.Handler, dl *deadLetterer, j job) {
	switch {
	case j.b != nil:
		c.handleInBatch(ctx, h, dl, j.b, j.i)
	case j.bad != nil:
		log := c.cfg.Logger.With("component", "rabbitmq.consumer", "queue", c.cfg.Topology.Queue, "message_id", j.d.MessageId, "type", j.d.Type)
		c.deadLetter(ctx, dl, *j.d, deliveryCount(*j.d), commands.Permanent(j.bad).Error(), log)
	default:
		c.handle(ctx, h, dl, *j.d)
	}
}

// handleInBatch handles command i of batch b as handle does a single
// message, except that the outcome is recorded instead of settled:
//   - nil: settled.
//   - Permanent (or an id that is no UUID): this command alone is
//     dead-lettered, as the single message it would have been, then settled.
//   - other error (or a dead letter that could not be stored): failed.
//   - the consumer stopping first: the batch is left unacknowledged.
//
// A command settled by an earlier delivery of the same batch to this
// consumer is not handled again.
func (c *Consumer) handleInBatch(ctx context.Context, h commands.Handler, dl *deadLetterer, b *batchDelivery, i int) {
	e := &b.entries[i]
	log := c.cfg.Logger.With("component", "rabbitmq.consumer", "queue", c.cfg.Topology.Queue,
		"message_id", e.RawID, "type", e.Name, "batch_id", b.d.MessageId)
	var err error
	switch {
	case e.idErr != nil:
		err = commands.Permanent(e.idErr)
	case c.settled.has(e.id):
	default:
		err = commands.SafeCall(ctx, h, commands.Message{ID: e.id, Name: e.Name, Body: e.body(), Redelivered: b.count})
	}
	stopped := err != nil && ctx.Err() != nil
	if err != nil && !stopped && commands.IsPermanent(err) {
		if dlErr := dl.publishCommand(ctx, b.d, e, b.count+1, c.cfg.Topology.Queue, err.Error()); dlErr != nil {
			log.Error("dead-lettering a command of a batch failed; the batch will be redelivered", "reason", err, "err", dlErr)
			err = fmt.Errorf("dead-lettering it failed: %w (reason: %v)", dlErr, err)
		} else {
			log.Warn("dead-lettered", "reason", err)
			err = nil
		}
	}
	b.mu.Lock()
	switch {
	case stopped:
		b.stopped = true
	case err == nil:
		b.settled = append(b.settled, e.id)
	default:
		b.failed = append(b.failed, failedCommand{i: i, err: err})
	}
	b.left--
	last := b.left == 0
	b.mu.Unlock()
	if last {
		c.settleBatch(ctx, dl, b)
	}
}

// settleBatch acks or requeues a batch once each command has an outcome.
//
// Failed commands are redelivered by requeueing the whole batch (after the
// redelivery delay, as a single message): the backend's user may publish
// only to the dead-letter exchange, so it cannot republish the failed ones
// alone, and a requeue needs nothing new from the broker. The commands
// already settled come back with it; this consumer remembers them and skips
// them, and anywhere else they are handled again as the duplicates that
// idempotent handlers recognise. The batch's delivery count is each
// command's: on the delivery at which the queue's limit would dead-letter
// the whole batch, the failed commands are dead-lettered one by one
// instead (with their last error) and the batch is acked, so one poisoned
// command can neither loop its batch forever nor take the others with it.
func (c *Consumer) settleBatch(ctx context.Context, dl *deadLetterer, b *batchDelivery) {
	log := c.cfg.Logger.With("component", "rabbitmq.consumer", "queue", c.cfg.Topology.Queue,
		"batch_id", b.d.MessageId, "commands", len(b.entries))
	if b.stopped {
		return // left unacked: the batch returns to the queue
	}
	limit := c.cfg.Topology.deliveryLimit()
	if len(b.failed) > 0 && b.count >= limit {
		var errs []error
		for _, f := range b.failed {
			e := &b.entries[f.i]
			reason := fmt.Sprintf("delivery limit %d reached: %v", limit, f.err)
			if err := dl.publishCommand(ctx, b.d, e, b.count+1, c.cfg.Topology.Queue, reason); err != nil {
				errs = append(errs, err)
				continue
			}
			log.Warn("dead-lettered", "message_id", e.RawID, "type", e.Name, "reason", reason)
			b.settled = append(b.settled, e.id)
		}
		if err := errors.Join(errs...); err != nil {
			// Requeued, the broker dead-letters the whole batch past the
			// limit: its commands are kept there, not lost.
			log.Error("dead-lettering failed; requeueing the batch", "err", err)
			c.settled.add(b.settled)
			_ = b.d.Nack(false, true)
			if dl.ch.IsClosed() {
				_ = dl.conn.Close() // end the session, reconnect with backoff
			}
			return
		}
		b.failed = nil
	}
	if len(b.failed) == 0 {
		if err := b.d.Ack(false); err != nil {
			// The batch will come back; handlers are idempotent.
			log.Warn("ack failed", "err", err)
		}
		return
	}
	c.settled.add(b.settled)
	log.Info("commands of the batch failed; requeueing it", "failed", len(b.failed), "deliveries", b.count+1,
		slog.Group("first", "message_id", b.entries[b.failed[0].i].RawID, "err", b.failed[0].err))
	if !sleep(ctx, c.redeliveryDelay(b.count)) {
		return // stopping: unacked, it returns to the queue
	}
	if err := b.d.Nack(false, true); err != nil {
		log.Warn("nack failed", "err", err)
	}
}
