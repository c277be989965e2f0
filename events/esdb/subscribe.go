package esdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/purepool/purepool/events"
)

// maxBatch bounds how many events one call of the handler gets.
const maxBatch = 256

// Subscribe delivers every non-system event with Position > after: a
// catch-up subscription to $all with an explicit From (Start{} for 0, else
// the position itself, which the server treats as exclusive) and the
// server-side ExcludeSystemEventsFilter. Events already waiting are handed
// over together, up to maxBatch. When the server or the connection drops
// the subscription, Subscribe subscribes again from the last position the
// handler accepted, so each event reaches the handler once per call.
func (s *Store) Subscribe(ctx context.Context, after uint64, handle func(context.Context, []events.Envelope) error) error {
	last := after
	backoff := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var sub *esdbclient.Subscription
		err := s.do(func(c *esdbclient.Client) (err error) {
			sub, err = c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
				From:   allPosition(last),
				Filter: esdbclient.ExcludeSystemEventsFilter(),
			})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !transient(err) {
				return fmt.Errorf("events/esdb: subscribe to $all after %d: %w", last, err)
			}
			s.log.Warn("events/esdb: subscribe failed; retrying", "after", last, "err", err, "in", backoff)
		} else {
			var delivered bool
			var dropErr error
			last, delivered, dropErr, err = s.pump(ctx, sub, last, handle)
			if err != nil {
				return err
			}
			if delivered {
				backoff = 50 * time.Millisecond
			}
			s.log.Warn("events/esdb: subscription dropped; resubscribing", "after", last, "err", dropErr, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// transient reports whether a failed subscribe is worth retrying.
func transient(err error) bool {
	var e *esdbclient.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case esdbclient.ErrorUnavailable, esdbclient.ErrorCodeDeadlineExceeded, esdbclient.ErrorCodeNotLeader,
		esdbclient.ErrorAborted:
		return true
	}
	return false
}

// pump reads one subscription until it drops (returning the new checkpoint,
// whether anything was delivered, the reason of the drop and a nil error),
// ctx ends, or handle fails.
func (s *Store) pump(ctx context.Context, sub *esdbclient.Subscription, last uint64,
	handle func(context.Context, []events.Envelope) error) (_ uint64, delivered bool, dropErr, err error) {
	defer sub.Close()
	incoming := make(chan *esdbclient.SubscriptionEvent, maxBatch)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			ev := sub.Recv()
			select {
			case incoming <- ev:
			case <-done:
				return
			}
			if ev.SubscriptionDropped != nil {
				return
			}
		}
	}()

	var batch []events.Envelope
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := handle(ctx, batch); err != nil {
			return err
		}
		last = batch[len(batch)-1].Position
		delivered = true
		batch = nil
		return nil
	}
	// take adds one subscription message to the batch; it reports false
	// when the subscription dropped.
	take := func(ev *esdbclient.SubscriptionEvent) (bool, error) {
		switch {
		case ev.SubscriptionDropped != nil:
			dropErr = ev.SubscriptionDropped.Error
			return false, nil
		case ev.EventAppeared != nil:
			r := ev.EventAppeared.OriginalEvent()
			if r == nil || isSystem(r) {
				return true, nil
			}
			prev := last
			if len(batch) > 0 {
				prev = batch[len(batch)-1].Position
			}
			if r.Position.Commit <= prev {
				return true, nil // already delivered before a resubscription
			}
			env, err := toEnvelope(r)
			if err != nil {
				return false, err
			}
			batch = append(batch, env)
		}
		return true, nil
	}

	for {
		var ev *esdbclient.SubscriptionEvent
		select {
		case <-ctx.Done():
			return last, delivered, nil, ctx.Err()
		case ev = <-incoming:
		}
		alive, err := take(ev)
		if err != nil {
			return last, delivered, nil, err
		}
		// Gather whatever else is already waiting into the same batch.
	drain:
		for alive && len(batch) < maxBatch {
			select {
			case ev = <-incoming:
				if alive, err = take(ev); err != nil {
					return last, delivered, nil, err
				}
			default:
				break drain
			}
		}
		if err := flush(); err != nil {
			return last, delivered, nil, err
		}
		if !alive {
			if ctx.Err() != nil {
				return last, delivered, nil, ctx.Err()
			}
			return last, delivered, dropErr, nil
		}
	}
}
