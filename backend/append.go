package backend

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
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

// appendDecided appends decided events atomically.
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
