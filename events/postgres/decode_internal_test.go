package postgres

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/testenv"
)

// The raw decoder is the one every read uses; it must be chosen for the
// store's own queries and agree with pgx's generic Scan on every field.
func TestDecodeRow_MatchesScan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, meta := range []events.Metadata{{}, {CommandID: "c", CorrelationID: "r", CausationID: "<&>"}} {
		ev := events.NewEvent{ID: uuid.New(), Type: "T", SchemaVersion: 3 + i, Data: json.RawMessage(`{"n": [1, 2]}`), Metadata: meta}
		if _, err := events.Append(ctx, s, "decode", events.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	query := `SELECT ` + columns + ` FROM eventstore.events ORDER BY position`
	rows, err := s.pool.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	if !binaryLayout(rows.FieldDescriptions()) {
		rows.Close()
		t.Fatal("the store's reads do not get the binary layout: every read takes the slow path")
	}
	fast, err := scanEnvelopes(rows, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows, err = s.pool.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := scanGeneric(rows, nil)
	rows.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(fast) != 2 || len(slow) != 2 {
		t.Fatalf("read %d and %d events, want 2", len(fast), len(slow))
	}
	for i := range fast {
		f, g := fast[i], slow[i]
		if f.ID != g.ID || f.Stream != g.Stream || f.Version != g.Version || f.Position != g.Position || f.Type != g.Type ||
			f.SchemaVersion != g.SchemaVersion || !f.RecordedAt.Equal(g.RecordedAt) || f.RecordedAt.Location() != g.RecordedAt.Location() ||
			string(f.Data) != string(g.Data) || f.Metadata != g.Metadata || string(f.PrevHash) != string(g.PrevHash) ||
			string(f.Hash) != string(g.Hash) || (f.PrevHash == nil) != (g.PrevHash == nil) {
			t.Fatalf("event %d: raw decoder %+v, Scan %+v", i, f, g)
		}
		if want := events.ChainHash(f.PrevHash, f); string(want) != string(f.Hash) {
			t.Fatalf("event %d: hash does not verify after decoding", i)
		}
	}
}
