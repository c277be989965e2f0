package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/internal/appendplan"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
)

func newEvent() events.NewEvent {
	return events.NewEvent{ID: uuid.New(), Type: "Tested", SchemaVersion: 1, Data: json.RawMessage(`{"x": 1}`)}
}

// openWithURL is openStore that also returns the database URL.
func openWithURL(t *testing.T) (*postgres.Store, string) {
	url := testenv.NewPostgresDB(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, url
}

// listenerPID waits until a backend other than notPID is listening on the
// store's channel and returns its pid.
func listenerPID(t *testing.T, conn *pgx.Conn, notPID int32) int32 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var pid int32
		err := conn.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> $1 LIMIT 1`, notPID).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no subscription is listening")
	return 0
}

// With polling effectively off, live delivery must come from NOTIFY, also
// after the listening connection was killed and re-established.
func TestSubscribe_LiveByNotify(t *testing.T) {
	s, url := openWithURL(t)
	s.PollInterval = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	got := make(chan events.Envelope, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, 0, func(_ context.Context, batch []events.Envelope) error {
			for _, e := range batch {
				got <- e
			}
			return nil
		})
	}()
	expect := func(id uuid.UUID) {
		t.Helper()
		select {
		case e := <-got:
			if e.ID != id {
				t.Fatalf("delivered %s, want %s", e.ID, id)
			}
		case err := <-done:
			t.Fatalf("Subscribe returned %v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("live event not delivered (NOTIFY path broken?)")
		}
	}

	pid := listenerPID(t, admin, 0)
	time.Sleep(50 * time.Millisecond) // let the post-LISTEN read finish
	e1 := newEvent()
	if _, err := events.Append(ctx, s, "live", events.NoStream, e1); err != nil {
		t.Fatal(err)
	}
	expect(e1.ID)

	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	listenerPID(t, admin, pid)
	time.Sleep(50 * time.Millisecond)
	e2 := newEvent()
	if _, err := events.Append(ctx, s, "live", events.Exact(0), e2); err != nil {
		t.Fatal(err)
	}
	expect(e2.ID)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
}

func TestAppend_NowSeamAndTxColumn(t *testing.T) {
	s, url := openWithURL(t)
	at := time.Date(2026, 5, 6, 7, 8, 9, 987654321, time.FixedZone("UTC+2", 7200))
	s.Now = func() time.Time { return at }
	ctx := context.Background()
	res, err := events.Append(ctx, s, "clocked", events.NoStream, newEvent())
	if err != nil {
		t.Fatal(err)
	}
	want := events.Timestamp(at)
	read, err := s.ReadAll(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Events[0].RecordedAt.Equal(want) || !read[0].RecordedAt.Equal(want) || read[0].RecordedAt.Location() != time.UTC {
		t.Fatalf("RecordedAt %v / %v, want %v", res.Events[0].RecordedAt, read[0].RecordedAt, want)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var recordedTx bool
	if err := conn.QueryRow(ctx, `SELECT tx IS NOT NULL AND tx::text::bigint > 0 FROM eventstore.events`).Scan(&recordedTx); err != nil || !recordedTx {
		t.Fatalf("tx column not recorded: %v", err)
	}
}

func TestAppend_InvalidWriteStoresNothing(t *testing.T) {
	s, _ := openWithURL(t)
	ctx := context.Background()
	bad := newEvent()
	bad.Data = json.RawMessage(`{"unterminated": `)
	_, err := s.Append(ctx,
		events.StreamWrite{Stream: "good", Expected: events.Any, Events: []events.NewEvent{newEvent()}},
		events.StreamWrite{Stream: "bad", Expected: events.Any, Events: []events.NewEvent{bad}},
	)
	if !errors.Is(err, appendplan.ErrInvalid) {
		t.Fatalf("append with invalid JSON: %v, want ErrInvalid", err)
	}
	if h, err := s.Head(ctx); err != nil || h != 0 {
		t.Fatalf("head %d (%v) after a refused write", h, err)
	}
	if _, err := s.ReadAll(ctx, 0, 0); err == nil {
		t.Fatal("ReadAll with max 0 succeeded")
	}
}
