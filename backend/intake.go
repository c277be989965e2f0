package backend

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// intake tracks how far the command consumers have got through the queue,
// by the time the frontend received each command, so that the chain
// follower credits a pool block only once every share that can belong to
// its round has been handled: after an outage the queue holds shares
// received long before, and crediting first would push them, the winning
// share among them, out of their own round.
//
// The queue delivers in the order the frontend published, so once a
// command received at t has been handled and nothing received earlier is
// still in hand, every command received before t has been. It is a wait,
// not a fact of the ledger: round membership is still decided from the log
// alone (aggregates.Ledger.MaturingOf).
type intake struct {
	mu        sync.Mutex
	consuming int       // Consume loops running
	since     time.Time // when the first of them started
	inHand    map[uuid.UUID]inHandCommand
	handled   time.Time // latest receipt time of a command handled
	lastMove  time.Time // last delivery started or finished
}

type inHandCommand struct {
	received time.Time // when the frontend received it
	touched  time.Time // last delivery started (wall clock)
}

// retryForget is how long a command that failed stays in hand, waiting for
// its redelivery, before it no longer holds rounds back (another backend
// may have handled it, or it went to the dead-letter queue).
const retryForget = 2 * time.Minute

// expectConsumer registers a Consume loop about to run (before any job
// starts, so that no round is decided before the consumers had a chance),
// consuming notes when it starts consuming, and consumerStopped when it ends.
func (in *intake) expectConsumer() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.consuming++
}

func (in *intake) consumingSince(now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.since.IsZero() {
		in.since = now
	}
}

func (in *intake) consumerStopped() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.consuming--
	if in.consuming == 0 {
		in.since = time.Time{}
	}
}

// start notes a delivery of command id received at received (zero: a
// command without a receipt time, e.g. an admin's).
func (in *intake) start(id uuid.UUID, received, now time.Time) {
	received = notAfter(received, now)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lastMove = now
	if received.IsZero() {
		return
	}
	if in.inHand == nil {
		in.inHand = map[uuid.UUID]inHandCommand{}
	}
	in.inHand[id] = inHandCommand{received: received, touched: now}
}

// finish notes the end of a delivery: handled for good, or to be
// redelivered (kept in hand until retryForget).
func (in *intake) finish(id uuid.UUID, received time.Time, handled bool, now time.Time) {
	received = notAfter(received, now)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lastMove = now
	if !handled {
		return
	}
	delete(in.inHand, id)
	if received.After(in.handled) {
		in.handled = received
	}
}

// caughtUp reports whether every command the frontend received before t
// has been handled, as far as this backend can tell: the oldest command in
// hand was received at or after t, or none is in hand and one received at
// or after t was handled, or the consumers have had nothing to do for idle.
// Without a running consumer (commands handed to Handle directly), it is
// always true.
func (in *intake) caughtUp(t time.Time, idle time.Duration, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.consuming == 0 {
		return true
	}
	oldest := time.Time{}
	for id, c := range in.inHand {
		if now.Sub(c.touched) > retryForget {
			delete(in.inHand, id)
			continue
		}
		if oldest.IsZero() || c.received.Before(oldest) {
			oldest = c.received
		}
	}
	if !oldest.IsZero() {
		return !oldest.Before(t)
	}
	if !in.handled.Before(t) {
		return true
	}
	return !in.since.IsZero() && now.Sub(in.lastMove) >= idle && now.Sub(in.since) >= idle
}

// notAfter is a receipt time no later than now: a command cannot have
// arrived after it is handled, and a frontend whose clock runs ahead must
// not make every round look caught up.
func notAfter(received, now time.Time) time.Time {
	if received.After(now) {
		return now
	}
	return received
}
