package eventstoretest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
)

// BenchEvent is a realistic ledger event for benchmarks: an accepted share,
// about 600 bytes of JSON.
func BenchEvent(tb testing.TB) events.NewEvent {
	id := uuid.New()
	e, err := events.New(id, events.SolutionAccepted{
		Network: "main", SolutionID: id, WorkID: uuid.New(), MinerID: uuid.New(),
		Address: "B5tWpb8K1S7NmH4Zx5rMfG3yXh9K3Yv8s2", Worker: "rig-01",
		BlockHash:  "00000000a3c1f8e2b7d4e9f0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4",
		BibleHash:  "0000000fe1d2c3b4a5968778695a4b3c2d1e0f1e2d3c4b5a69788796a5b4c3d2",
		PrevHeight: 123456, Nonce: 987654, Target: "00000fffff000000000000000000000000000000000000000000000000000000",
		Difficulty: 4096, HashrateHPS: 150000, At: time.Now().UTC(),
	}, events.Metadata{CommandID: uuid.NewString(), CorrelationID: uuid.NewString()})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchWrites is streams new solution streams of perStream BenchEvents each.
func BenchWrites(tb testing.TB, streams, perStream int) []events.StreamWrite {
	writes := make([]events.StreamWrite, streams)
	for i := range writes {
		writes[i] = events.StreamWrite{Stream: "solution-" + uuid.NewString(), Expected: events.Any}
		for range perStream {
			writes[i].Events = append(writes[i].Events, BenchEvent(tb))
		}
	}
	return writes
}

// FreshIDs gives every event of the writes a new id (appending the same
// ids again would be an idempotent no-op).
func FreshIDs(writes []events.StreamWrite) {
	for i := range writes {
		for j := range writes[i].Events {
			writes[i].Events[j].ID = uuid.New()
		}
	}
}
