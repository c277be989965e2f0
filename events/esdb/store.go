package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/internal/appendplan"
)

// pageSize is how many events one $all read asks for while skipping system
// events client-side (the v4 client offers no server-side filter on reads).
const pageSize = 512

// Store is an events.Store on an EventStoreDB server.
type Store struct {
	cfg *esdbclient.Configuration
	log *slog.Logger

	mu     sync.Mutex
	client *esdbclient.Client
	closed bool
}

var (
	_ events.Store       = (*Store)(nil)
	_ events.ChainKeeper = (*Store)(nil)
)

// KeepsChain is false: EventStoreDB assigns positions itself, after the
// adapter has handed it the events, so no ChainHash can be computed at
// append (see the package documentation). The auditor reports that
// tampering with this store is not detectable from the log alone.
func (*Store) KeepsChain() bool { return false }

// StoreName is "EventStoreDB".
func (*Store) StoreName() string { return "EventStoreDB" }

// Open connects to the server named by an esdb:// or esdb+discover://
// connection string. It does not dial: the client connects on first use.
// logger receives the client library's messages (nil: slog.Default()).
func Open(url string, logger *slog.Logger) (*Store, error) {
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("events/esdb: connection string: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	cfg.Logger = func(level esdbclient.LogLevel, format string, args ...any) {
		l := slog.LevelDebug
		switch level {
		case esdbclient.LogWarn:
			l = slog.LevelWarn
		case esdbclient.LogError:
			l = slog.LevelError
		}
		logger.Log(context.Background(), l, "esdb client: "+fmt.Sprintf(format, args...))
	}
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("events/esdb: %w", err)
	}
	return &Store{cfg: cfg, log: logger, client: c}, nil
}

// Close releases the client. Subscriptions end with an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.client.Close()
}

// errStoreClosed is returned by calls made after Close.
var errStoreClosed = errors.New("events/esdb: store is closed")

// do runs op with the current client. The v4 client closes itself for good
// when a (re)discovery fails — after about one second of an unreachable
// server with the default maxDiscoverAttempts=10 and discoveryInterval=100 —
// and answers every later call with ErrorCodeConnectionClosed. That error
// comes before any request is sent, so do replaces the dead client (unless
// the Store was closed) and runs op once more.
func (s *Store) do(op func(c *esdbclient.Client) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStoreClosed
	}
	c := s.client
	s.mu.Unlock()
	err := op(c)
	if !hasCode(err, esdbclient.ErrorCodeConnectionClosed) {
		return err
	}
	c, rerr := s.renew(c)
	if rerr != nil {
		return rerr
	}
	return op(c)
}

// renew replaces old by a new client, unless another call did already.
// The dead client is not Closed: its connection goroutine has already
// exited, and Close would only close the channel an in-flight call of the
// library may still send to.
func (s *Store) renew(old *esdbclient.Client) (*esdbclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStoreClosed
	}
	if s.client != old {
		return s.client, nil
	}
	c, err := esdbclient.NewClient(s.cfg)
	if err != nil {
		return nil, fmt.Errorf("events/esdb: reconnect: %w", err)
	}
	s.log.Warn("events/esdb: client closed itself after a failed discovery; reconnecting")
	s.client = c
	return c, nil
}

func hasCode(err error, code esdbclient.ErrorCode) bool {
	var e *esdbclient.Error
	return errors.As(err, &e) && e.IsErrorCode(code)
}

// storedMetadata is the custom metadata stored with each event.
type storedMetadata struct {
	events.Metadata
	SchemaVersion int `json:"schema_version"`
	// EventStoreDB's $by_correlation_id projection and its UI read these.
	ESCorrelationID string `json:"$correlationId,omitempty"`
	ESCausationID   string `json:"$causationId,omitempty"`
}

func toEventData(e events.NewEvent) (esdbclient.EventData, error) {
	meta, err := json.Marshal(storedMetadata{
		Metadata:        e.Metadata,
		SchemaVersion:   e.SchemaVersion,
		ESCorrelationID: e.Metadata.CorrelationID,
		ESCausationID:   e.Metadata.CausationID,
	})
	if err != nil {
		return esdbclient.EventData{}, fmt.Errorf("events/esdb: metadata of %s: %w", e.ID, err)
	}
	return esdbclient.EventData{
		EventID:     e.ID,
		EventType:   e.Type,
		ContentType: esdbclient.ContentTypeJson,
		Data:        e.Data,
		Metadata:    meta,
	}, nil
}

func toEnvelope(r *esdbclient.RecordedEvent) (events.Envelope, error) {
	var m storedMetadata
	if len(r.UserMetadata) > 0 {
		if err := json.Unmarshal(r.UserMetadata, &m); err != nil {
			return events.Envelope{}, fmt.Errorf("events/esdb: %s@%d (%s): metadata is not ours: %w",
				r.StreamID, r.EventNumber, r.EventID, err)
		}
	}
	pos := r.Position.Commit
	if pos == math.MaxUint64 {
		pos = 0 // the server did not report where the event committed
	}
	var data json.RawMessage
	if len(r.Data) > 0 {
		data = json.RawMessage(r.Data)
	}
	return events.Envelope{
		ID:            r.EventID,
		Stream:        r.StreamID,
		Version:       int64(r.EventNumber),
		Position:      pos,
		Type:          r.EventType,
		SchemaVersion: m.SchemaVersion,
		RecordedAt:    events.Timestamp(r.CreatedDate),
		Data:          data,
		Metadata:      m.Metadata,
	}, nil
}

// isSystem reports whether an event is EventStoreDB's own ($-prefixed type
// or stream): statistics, stream metadata, links, projections' output.
func isSystem(r *esdbclient.RecordedEvent) bool {
	return strings.HasPrefix(r.EventType, "$") || strings.HasPrefix(r.StreamID, "$")
}

func expectedRevision(v events.ExpectedVersion) esdbclient.ExpectedRevision {
	switch v {
	case events.Any:
		return esdbclient.Any{}
	case events.NoStream:
		return esdbclient.NoStream{}
	default:
		return esdbclient.Revision(uint64(v))
	}
}

// Append writes one stream. A write naming more than one stream returns
// events.ErrNotAtomic (see the package documentation).
func (s *Store) Append(ctx context.Context, writes ...events.StreamWrite) (events.AppendResult, error) {
	if len(writes) == 0 {
		return events.AppendResult{}, nil
	}
	if len(writes) > 1 {
		return events.AppendResult{}, fmt.Errorf("events/esdb: append to %d streams: %w", len(writes), events.ErrNotAtomic)
	}
	if _, err := appendplan.Validate(writes); err != nil {
		return events.AppendResult{}, err
	}
	w := writes[0]
	if strings.HasPrefix(w.Stream, "$") {
		return events.AppendResult{}, fmt.Errorf("%w: stream %q: $-prefixed streams belong to EventStoreDB", appendplan.ErrInvalid, w.Stream)
	}
	data := make([]esdbclient.EventData, 0, len(w.Events))
	for _, e := range w.Events {
		if strings.HasPrefix(e.Type, "$") {
			return events.AppendResult{}, fmt.Errorf("%w: event %s: $-prefixed types are EventStoreDB's system events", appendplan.ErrInvalid, e.ID)
		}
		d, err := toEventData(e)
		if err != nil {
			return events.AppendResult{}, err
		}
		data = append(data, d)
	}

	last, err := s.lastRevision(ctx, w.Stream)
	if err != nil {
		return events.AppendResult{}, err
	}
	if len(w.Events) == 0 {
		return events.AppendResult{}, checkOnly(w, last)
	}

	var res *esdbclient.WriteResult
	err = s.do(func(c *esdbclient.Client) (err error) {
		res, err = c.AppendToStream(ctx, w.Stream, esdbclient.AppendToStreamOptions{ExpectedRevision: expectedRevision(w.Expected)}, data...)
		return err
	})
	if hasCode(err, esdbclient.ErrorCodeWrongExpectedVersion) {
		return events.AppendResult{}, s.classifyConflict(ctx, w, err)
	}
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("events/esdb: append to %s: %w", w.Stream, err)
	}

	n := uint64(len(w.Events))
	if res.NextExpectedVersion+1 < n {
		return events.AppendResult{}, fmt.Errorf("events/esdb: append to %s: server answered revision %d for %d events", w.Stream, res.NextExpectedVersion, n)
	}
	first := res.NextExpectedVersion + 1 - n
	stored, err := s.ReadStream(ctx, w.Stream, int64(first), len(w.Events))
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("events/esdb: read back append to %s: %w", w.Stream, err)
	}
	if len(stored) != len(w.Events) {
		return events.AppendResult{}, fmt.Errorf("events/esdb: read back append to %s: %d of %d events", w.Stream, len(stored), len(w.Events))
	}
	for i, e := range w.Events {
		if stored[i].ID != e.ID {
			return events.AppendResult{}, fmt.Errorf("events/esdb: read back append to %s: revision %d holds %s, not %s",
				w.Stream, stored[i].Version, stored[i].ID, e.ID)
		}
	}
	return events.AppendResult{Events: stored, Duplicate: int64(first) <= last}, nil
}

// checkOnly answers an append without events: only the expectation is checked.
func checkOnly(w events.StreamWrite, last int64) error {
	ok := w.Expected == events.Any || int64(w.Expected) == last
	if ok {
		return nil
	}
	have := "no stream"
	if last >= 0 {
		have = fmt.Sprintf("version %d", last)
	}
	return fmt.Errorf("%w: stream %q: expected %s, have %s", events.ErrWrongExpectedVersion, w.Stream, w.Expected, have)
}

// classifyConflict turns the server's wrong-expected-version answer into
// ErrDuplicateMismatch when the write's ids partly overlap stored events,
// and into ErrWrongExpectedVersion otherwise.
func (s *Store) classifyConflict(ctx context.Context, w events.StreamWrite, serverErr error) error {
	mismatch := fmt.Errorf("events/esdb: append to %s: %w: %w", w.Stream, events.ErrDuplicateMismatch, serverErr)
	if w.Expected == events.Any {
		// With Any the server refuses a write only when some but not all
		// of its ids are stored ("corrupted idempotency").
		return mismatch
	}
	stored, err := s.ReadStream(ctx, w.Stream, int64(w.Expected)+1, len(w.Events))
	if err != nil {
		return fmt.Errorf("events/esdb: append to %s: %w (and reading the conflict failed: %v)", w.Stream, serverErr, err)
	}
	ours := make(map[uuid.UUID]bool, len(w.Events))
	for _, e := range w.Events {
		ours[e.ID] = true
	}
	for _, e := range stored {
		if ours[e.ID] {
			return mismatch
		}
	}
	return fmt.Errorf("events/esdb: append to %s (expected %s): %w: %w", w.Stream, w.Expected, events.ErrWrongExpectedVersion, serverErr)
}

// lastRevision is the stream's last version, -1 when it has no events.
func (s *Store) lastRevision(ctx context.Context, stream string) (int64, error) {
	last := int64(-1)
	err := s.do(func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF), hasCode(err, esdbclient.ErrorCodeResourceNotFound):
			return nil
		case err != nil:
			return err
		}
		last = int64(ev.OriginalEvent().EventNumber)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("events/esdb: last version of %s: %w", stream, err)
	}
	return last, nil
}

// ReadStream returns up to max events of stream with Version >= from. A
// stream that does not exist reads as empty.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, nil
	}
	if from < 0 {
		from = 0
	}
	var out []events.Envelope
	err := s.do(func(c *esdbclient.Client) error {
		out = out[:0]
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(uint64(from))}, uint64(max))
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			switch {
			case errors.Is(err, io.EOF), hasCode(err, esdbclient.ErrorCodeResourceNotFound):
				return nil
			case err != nil:
				return err
			}
			env, err := toEnvelope(ev.OriginalEvent())
			if err != nil {
				return err
			}
			out = append(out, env)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("events/esdb: read %s from %d: %w", stream, from, err)
	}
	return out, nil
}

// allPosition is where a read or subscription of $all resumes after p.
func allPosition(p uint64) esdbclient.AllPosition {
	if p == 0 {
		return esdbclient.Start{}
	}
	return esdbclient.Position{Commit: p, Prepare: p}
}

// ReadAll returns up to max non-system events with Position > after. A
// read of $all from a position includes the event at it, so that one is
// dropped here; system events are skipped client-side, page by page.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []events.Envelope
	cursor := after
	for len(out) < max {
		var page []*esdbclient.RecordedEvent
		err := s.do(func(c *esdbclient.Client) error {
			page = page[:0]
			rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: allPosition(cursor)}, pageSize)
			if err != nil {
				return err
			}
			defer rs.Close()
			for {
				ev, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				page = append(page, ev.OriginalEvent())
			}
		})
		if err != nil {
			return nil, fmt.Errorf("events/esdb: read $all after %d: %w", cursor, err)
		}
		advanced := false
		for _, r := range page {
			if r.Position.Commit <= cursor {
				continue
			}
			cursor = r.Position.Commit
			advanced = true
			if isSystem(r) {
				continue
			}
			env, err := toEnvelope(r)
			if err != nil {
				return nil, err
			}
			out = append(out, env)
			if len(out) == max {
				break
			}
		}
		if !advanced || len(page) < pageSize {
			break
		}
	}
	return out, nil
}

// Head is the position of the newest non-system event (0 when there is
// none). It reads $all backwards past any system events written since.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	var from esdbclient.AllPosition = esdbclient.End{}
	for {
		var head, lowest uint64
		n := 0
		err := s.do(func(c *esdbclient.Client) error {
			head, lowest, n = 0, 0, 0
			rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, pageSize)
			if err != nil {
				return err
			}
			defer rs.Close()
			for {
				ev, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				r := ev.OriginalEvent()
				n++
				lowest = r.Position.Commit
				if !isSystem(r) {
					head = r.Position.Commit
					return nil
				}
			}
		})
		if err != nil {
			return 0, fmt.Errorf("events/esdb: head: %w", err)
		}
		if head != 0 || n < pageSize {
			return head, nil
		}
		// A backwards read from a position returns the events before it.
		from = esdbclient.Position{Commit: lowest, Prepare: lowest}
	}
}
