// Package events is the ledger's event model: the envelope every stored event
// travels in, the event-store port that the adapters (events/postgres,
// events/sqlite, events/esdb) implement, and the catalogue of ledger events
// (ledger.go). Every balance in Purepool is derived from these events.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrWrongExpectedVersion is returned by Append when a stream's current
// version is not the one the caller expected. The caller reloads the stream,
// decides again and retries; no event of the write was stored.
var ErrWrongExpectedVersion = errors.New("events: wrong expected version")

// ErrDuplicateMismatch is returned by Append when some, but not all, of a
// write's event ids are already stored: a retry must repeat the original write
// exactly, so a partial overlap is a programming error, not a retry.
var ErrDuplicateMismatch = errors.New("events: write partially overlaps stored events")

// ExpectedVersion is the optimistic-concurrency condition of an append.
// Stream versions are 0-based: the first event of a stream has version 0, so
// Exact(0) means "the stream holds exactly one event".
type ExpectedVersion int64

const (
	// Any appends whatever the stream's state.
	Any ExpectedVersion = -2
	// NoStream appends only if the stream has no event yet. It is how
	// Purepool reserves unique values across streams (one bible hash accepted
	// once, one payout per id).
	NoStream ExpectedVersion = -1
)

// Exact expects the stream's last event to have version v.
func Exact(v int64) ExpectedVersion {
	if v < 0 {
		panic(fmt.Sprintf("events: Exact(%d): a version is never negative", v))
	}
	return ExpectedVersion(v)
}

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	default:
		return fmt.Sprintf("exact %d", int64(e))
	}
}

// Metadata links an event to what caused it.
type Metadata struct {
	// CommandID is the id of the command whose handling produced the event;
	// it makes redelivered commands recognisable.
	CommandID string `json:"command_id,omitempty"`
	// CorrelationID ties together everything that one outside request caused.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the message or event that directly caused this one.
	CausationID string `json:"causation_id,omitempty"`
}

// NewEvent is an event about to be appended.
type NewEvent struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// Envelope is a stored event.
type Envelope struct {
	ID            uuid.UUID
	Stream        string
	Version       int64  // position in its stream, 0-based
	Position      uint64 // global position, 1-based and increasing in commit order
	Type          string
	SchemaVersion int
	RecordedAt    time.Time // UTC, truncated to microseconds by the store
	Data          json.RawMessage
	Metadata      Metadata
	// PrevHash and Hash form the tamper-evidence chain over the global log:
	// Hash = ChainHash(PrevHash, envelope). Stores that cannot keep a global
	// chain leave both empty.
	PrevHash []byte
	Hash     []byte
}

// StreamWrite is the part of an atomic append that goes to one stream.
type StreamWrite struct {
	Stream   string
	Expected ExpectedVersion
	Events   []NewEvent
}

// AppendResult tells where the write landed.
type AppendResult struct {
	// Events are the stored envelopes, in the order given. For a retried
	// write whose events were all stored before, they are the earlier ones.
	Events []Envelope
	// Duplicate is true when every event id was already stored and nothing
	// new was written.
	Duplicate bool
}

// Store is the event-store port.
//
// Append writes to one or more streams atomically: all of the write is stored
// or none is. If every event id of the write is already stored, Append does
// nothing and reports Duplicate (retries are safe); if the expected version of
// any stream does not hold, it returns ErrWrongExpectedVersion. Stores that
// cannot write several streams atomically return ErrNotAtomic for a write to
// more than one stream.
type Store interface {
	Append(ctx context.Context, writes ...StreamWrite) (AppendResult, error)
	// ReadStream returns up to max events of stream with Version >= from,
	// in version order. A stream that does not exist reads as empty.
	ReadStream(ctx context.Context, stream string, from int64, max int) ([]Envelope, error)
	// ReadAll returns up to max events with Position > after, in position order.
	ReadAll(ctx context.Context, after uint64, max int) ([]Envelope, error)
	// Head is the position of the newest stored event (0 when empty).
	Head(ctx context.Context) (uint64, error)
	// Subscribe delivers every event with Position > after, in position
	// order and exactly once per call: first those already stored (catch-up),
	// then new ones as they are committed (live). handle gets batches; once it
	// returns nil the batch's last position is the caller's checkpoint. It
	// returns when ctx ends (with ctx.Err()), when handle fails (with that
	// error) or when the store cannot be read; the caller then resumes from
	// its checkpoint.
	Subscribe(ctx context.Context, after uint64, handle func(context.Context, []Envelope) error) error
	Close() error
}

// ChainKeeper is how a store says, by what it is, whether it keeps the
// tamper-evidence hash chain (Envelope.PrevHash and Hash, events.ChainHash).
// Every adapter implements it with constants: the answer is a property of
// the store type, never of the data it holds, so blanking the stored hashes
// cannot make a store that keeps a chain look like one that keeps none.
// The auditor (package audit) checks the chain of every store that keeps
// one, and holds a reader that does not implement ChainKeeper to the chain
// as well.
type ChainKeeper interface {
	// KeepsChain reports whether every event the store appends carries
	// PrevHash (empty only at position 1) and Hash.
	KeepsChain() bool
	// StoreName names the store for people ("PostgreSQL", "SQLite",
	// "EventStoreDB"), e.g. in the audit's report.
	StoreName() string
}

// ErrNotAtomic is returned by stores that cannot append to several streams in
// one atomic write.
var ErrNotAtomic = errors.New("events: this store cannot write several streams atomically")

// Append is the common single-stream case of Store.Append.
func Append(ctx context.Context, s Store, stream string, expected ExpectedVersion, evs ...NewEvent) (AppendResult, error) {
	return s.Append(ctx, StreamWrite{Stream: stream, Expected: expected, Events: evs})
}

// ReadWholeStream reads every event of a stream.
func ReadWholeStream(ctx context.Context, s Store, stream string) ([]Envelope, error) {
	var all []Envelope
	var from int64
	for {
		page, err := s.ReadStream(ctx, stream, from, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		from = page[len(page)-1].Version + 1
	}
}
