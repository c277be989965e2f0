// Package appendplan is the store-independent part of an append shared by the
// SQL event stores (events/postgres, events/sqlite): validating a write,
// recognising a retried write, checking expected versions and building the
// stored envelopes with their positions and hash chain. The adapters only
// read the current state and insert what Build returns, inside the one
// transaction that serialises appends.
package appendplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// ErrInvalid marks a write that can never succeed (a programming error).
var ErrInvalid = errors.New("events: invalid append")

// Write is a validated append.
type Write struct {
	Writes  []events.StreamWrite
	IDs     []uuid.UUID // every event id, in the order given
	Streams []string    // every stream, in the order given
	N       int         // number of events
}

// Validate checks what can be checked without the store: ValidateShape,
// then ValidateJSON.
func Validate(writes []events.StreamWrite) (Write, error) {
	w, err := ValidateShape(writes)
	if err != nil {
		return Write{}, err
	}
	if err := ValidateJSON(w); err != nil {
		return Write{}, err
	}
	return w, nil
}

// ValidateShape checks the shape of a write: non-empty and distinct stream
// names, valid expected versions, non-nil and distinct event ids and a type
// on every event. It leaves the data to ValidateJSON, so that a store can
// check the data while its first round trip is in flight.
func ValidateShape(writes []events.StreamWrite) (Write, error) {
	w := Write{Writes: writes}
	seenStream := make(map[string]bool, len(writes))
	seenID := map[uuid.UUID]bool{}
	for _, sw := range writes {
		if !validText(sw.Stream) {
			return Write{}, fmt.Errorf("%w: stream name %q is empty, not UTF-8 or holds NUL", ErrInvalid, sw.Stream)
		}
		if seenStream[sw.Stream] {
			return Write{}, fmt.Errorf("%w: stream %q named twice in one append", ErrInvalid, sw.Stream)
		}
		seenStream[sw.Stream] = true
		if sw.Expected < events.Any {
			return Write{}, fmt.Errorf("%w: stream %q: invalid expected version %d", ErrInvalid, sw.Stream, int64(sw.Expected))
		}
		w.Streams = append(w.Streams, sw.Stream)
		for _, e := range sw.Events {
			if e.ID == uuid.Nil {
				return Write{}, fmt.Errorf("%w: stream %q: event without id", ErrInvalid, sw.Stream)
			}
			if seenID[e.ID] {
				return Write{}, fmt.Errorf("%w: event id %s given twice", ErrInvalid, e.ID)
			}
			seenID[e.ID] = true
			if !validText(e.Type) {
				return Write{}, fmt.Errorf("%w: event %s: type %q is empty, not UTF-8 or holds NUL", ErrInvalid, e.ID, e.Type)
			}
			w.IDs = append(w.IDs, e.ID)
			w.N++
		}
	}
	return w, nil
}

// validText is what every store can keep in a text column (PostgreSQL
// refuses NUL and invalid UTF-8).
func validText(s string) bool {
	return s != "" && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// ValidateJSON checks that every event's data is valid JSON.
func ValidateJSON(w Write) error {
	for _, sw := range w.Writes {
		for _, e := range sw.Events {
			if !json.Valid(e.Data) {
				return fmt.Errorf("%w: event %s (%s): data is not valid JSON", ErrInvalid, e.ID, e.Type)
			}
		}
	}
	return nil
}

// Duplicate decides what the already stored events among the write's ids
// mean. With none stored the write is new (dup false). With all stored, each
// in the stream its write names, it is a retry: the result carries the stored
// envelopes in the order given. Anything else is ErrDuplicateMismatch.
func Duplicate(w Write, stored map[uuid.UUID]events.Envelope) (res events.AppendResult, dup bool, err error) {
	if len(stored) == 0 {
		return events.AppendResult{}, false, nil
	}
	if len(stored) != w.N {
		return events.AppendResult{}, false, fmt.Errorf("%w: %d of %d event ids already stored", events.ErrDuplicateMismatch, len(stored), w.N)
	}
	out := make([]events.Envelope, 0, w.N)
	for _, sw := range w.Writes {
		for _, e := range sw.Events {
			env := stored[e.ID]
			if env.Stream != sw.Stream {
				return events.AppendResult{}, false, fmt.Errorf("%w: event %s is stored in stream %q, not %q",
					events.ErrDuplicateMismatch, e.ID, env.Stream, sw.Stream)
			}
			out = append(out, env)
		}
	}
	return events.AppendResult{Events: out, Duplicate: true}, true, nil
}

// CheckVersions returns ErrWrongExpectedVersion (wrapped, naming the stream)
// unless every stream's expectation holds. current maps a stream to its last
// version; a stream absent from it has no events.
func CheckVersions(w Write, current map[string]int64) error {
	for _, sw := range w.Writes {
		v, exists := current[sw.Stream]
		ok := true
		switch {
		case sw.Expected == events.Any:
		case sw.Expected == events.NoStream:
			ok = !exists
		default:
			ok = exists && v == int64(sw.Expected)
		}
		if !ok {
			have := "no stream"
			if exists {
				have = fmt.Sprintf("version %d", v)
			}
			return fmt.Errorf("%w: stream %q: expected %s, have %s", events.ErrWrongExpectedVersion, sw.Stream, sw.Expected, have)
		}
	}
	return nil
}

// Build makes the envelopes to store: positions from head+1 in the order
// given, versions continuing each stream, one RecordedAt for the whole write,
// and the hash chain continuing from headHash.
func Build(w Write, current map[string]int64, head uint64, headHash []byte, now time.Time) []events.Envelope {
	out := make([]events.Envelope, 0, w.N)
	at := events.Timestamp(now)
	prev := headHash
	pos := head
	for _, sw := range w.Writes {
		next := int64(0)
		if v, ok := current[sw.Stream]; ok {
			next = v + 1
		}
		for _, e := range sw.Events {
			pos++
			env := events.Envelope{
				ID:            e.ID,
				Stream:        sw.Stream,
				Version:       next,
				Position:      pos,
				Type:          e.Type,
				SchemaVersion: e.SchemaVersion,
				RecordedAt:    at,
				Data:          append(json.RawMessage(nil), e.Data...),
				Metadata:      e.Metadata,
				PrevHash:      NilIfEmpty(prev),
			}
			env.Hash = events.ChainHash(env.PrevHash, env)
			prev = env.Hash
			next++
			out = append(out, env)
		}
	}
	return out
}

// MarshalMetadata is the stored form of metadata, the same bytes ChainHash hashes.
func MarshalMetadata(m events.Metadata) []byte {
	b, _ := json.Marshal(m) // a struct of strings always marshals
	return b
}

// UnmarshalMetadata reads stored metadata. Stored metadata is always the
// compact output of MarshalMetadata, which a small parser reads several
// times faster than encoding/json (it shows in a projector's catch-up); any
// other shape, or any escaped string, goes through encoding/json.
func UnmarshalMetadata(b []byte) (events.Metadata, error) {
	if m, ok := parseCompactMetadata(b); ok {
		return m, nil
	}
	var m events.Metadata
	err := json.Unmarshal(b, &m)
	return m, err
}

// parseCompactMetadata parses {"k":"v",…} with the three known keys and no
// escapes, spaces or other values; ok is false for anything else.
func parseCompactMetadata(b []byte) (m events.Metadata, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' || bytes.IndexByte(b, '\\') >= 0 {
		return m, false
	}
	rest := b[1 : len(b)-1]
	quoted := func() ([]byte, bool) {
		if len(rest) < 2 || rest[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		s := rest[1 : 1+end]
		rest = rest[2+end:]
		return s, true
	}
	for len(rest) > 0 {
		key, ok := quoted()
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return m, false
		}
		rest = rest[1:]
		val, ok := quoted()
		if !ok || !utf8.Valid(val) || hasControl(val) {
			return m, false // JSON forbids raw control characters in strings: let encoding/json refuse them
		}
		switch string(key) {
		case "command_id":
			m.CommandID = string(val)
		case "correlation_id":
			m.CorrelationID = string(val)
		case "causation_id":
			m.CausationID = string(val)
		default:
			return m, false
		}
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return m, false
			}
			rest = rest[1:]
		}
	}
	return m, true
}

// hasControl reports whether b holds a byte JSON allows in a string only escaped.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// NilIfEmpty makes an empty byte slice nil, so envelopes read back compare
// equal to the ones Append returned.
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
