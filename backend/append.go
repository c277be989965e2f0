package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/events"
)

// EventID is the deterministic id of an event a decision produced: derived
// from the key of what caused it (a command id, or a key such as
// "chain:main:1234:<hash>") and the event's type, numbered when a decision
// produces several of one type. A redelivered command that decides the same
// events appends the same ids, which the store recognises as a duplicate.
func EventID(key, eventType string, n int) uuid.UUID {
	s := key + ":" + eventType
	if n > 0 {
		s += ":" + strconv.Itoa(n)
	}
	return uuid.NewSHA1(events.Namespace, []byte(s))
}

// plan turns decided events into one atomic write, one StreamWrite per
// stream in order of first appearance, with the expected version expect
// gives for each stream.
func plan(key string, meta events.Metadata, evs []events.Event, expect func(stream string) events.ExpectedVersion) ([]events.StreamWrite, error) {
	var writes []events.StreamWrite
	index := map[string]int{}
	seen := map[string]int{}
	for _, e := range evs {
		stream := aggregates.StreamFor(e)
		if stream == "" {
			return nil, fmt.Errorf("backend: no stream for %T", e)
		}
		n := seen[e.EventType()]
		seen[e.EventType()] = n + 1
		ne, err := events.New(EventID(key, e.EventType(), n), e, meta)
		if err != nil {
			return nil, err
		}
		i, ok := index[stream]
		if !ok {
			i = len(writes)
			index[stream] = i
			writes = append(writes, events.StreamWrite{Stream: stream, Expected: expect(stream)})
		}
		writes[i].Events = append(writes[i].Events, ne)
	}
	return writes, nil
}

// appendDecided appends decided events of one stream (payouts, schedules,
// policies, block ripening): decisions that may span several streams go
// through Backend.storeWrites.
func appendDecided(ctx context.Context, store events.Store, key string, meta events.Metadata, evs []events.Event, expect func(string) events.ExpectedVersion) (events.AppendResult, error) {
	if len(evs) == 0 {
		return events.AppendResult{}, nil
	}
	writes, err := plan(key, meta, evs, expect)
	if err != nil {
		return events.AppendResult{}, err
	}
	return store.Append(ctx, writes...)
}

// appendFunc appends writes atomically: the store itself, or the group
// commit.
type appendFunc func(ctx context.Context, writes []events.StreamWrite) (events.AppendResult, error)

// storeWrites stores one decision's writes. A store that writes several
// streams atomically (PostgreSQL, SQLite) takes them in one append. A store
// that cannot (EventStoreDB answers events.ErrNotAtomic, and writes nothing)
// takes them one stream at a time, in the order rank gives (lowest first;
// Config.StepWrites forces this on every store), so that no decision needs
// two streams at once:
//
//   - first what reserves a unique value (a bible hash, expected NoStream),
//     so that a second owner finds it taken before it wrote anything else;
//   - then what only completes it (a new worker on the miner's stream; a pool
//     block's discovery or orphaning);
//   - last the stream whose event marks the decision done (the solution,
//     the work, the chain height), which is what a redelivery or the next
//     pass looks at to see whether there is anything left to do.
//
// A crash between two steps leaves a prefix stored. The redelivered command
// (or the chain follower's next pass) decides again from what is stored:
// the event ids derive from the same key, so a step already stored is
// recognised as a Duplicate, its own reservation is recognised by owner
// (SubmitSolutionHandler), a step whose effect is already folded is not
// decided again (a registered worker, a discovered block), and the rest is
// written. The ledger ends up with the same events as without the crash
// (TestCrashBetweenStepsGivesTheSameLedger).
func (b *Backend) storeWrites(ctx context.Context, via appendFunc, writes []events.StreamWrite, rank func(stream string) int, crash string) (events.AppendResult, error) {
	if len(writes) == 0 {
		return events.AppendResult{}, nil
	}
	if len(writes) == 1 || !b.stepwise.Load() {
		res, err := via(ctx, writes)
		if len(writes) == 1 || !errors.Is(err, events.ErrNotAtomic) {
			return res, err
		}
		if !b.stepwise.Swap(true) {
			b.log.Info("the event store cannot write several streams atomically: decisions are stored one stream at a time")
		}
	}
	steps := append([]events.StreamWrite(nil), writes...)
	sort.SliceStable(steps, func(i, j int) bool { return rank(steps[i].Stream) < rank(steps[j].Stream) })
	out := events.AppendResult{Duplicate: true}
	for i, w := range steps {
		if i > 0 {
			crashpoint.Hit(crash)
		}
		res, err := via(ctx, []events.StreamWrite{w})
		if err != nil {
			return out, err
		}
		out.Events = append(out.Events, res.Events...)
		out.Duplicate = out.Duplicate && res.Duplicate
	}
	return out, nil
}

// lastStream ranks for storeWrites: every stream in decision order, then
// last (the stream that marks the decision done).
func lastStream(last string) func(string) int {
	return func(s string) int {
		if s == last {
			return 1
		}
		return 0
	}
}

// streamVersion reads a stream's current version (-1 when empty) and its
// decoded events.
func readStream(ctx context.Context, store events.Store, stream string) ([]events.Event, int64, error) {
	envs, err := events.ReadWholeStream(ctx, store, stream)
	if err != nil {
		return nil, -1, err
	}
	out := make([]events.Event, 0, len(envs))
	for _, env := range envs {
		e, err := events.Decode(env)
		if err != nil {
			return nil, -1, err
		}
		out = append(out, e)
	}
	v := int64(-1)
	if len(envs) > 0 {
		v = envs[len(envs)-1].Version
	}
	return out, v, nil
}

// expectedFor is the expected version after reading version v.
func expectedFor(v int64) events.ExpectedVersion {
	if v < 0 {
		return events.NoStream
	}
	return events.Exact(v)
}
