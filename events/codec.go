package events

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/uuid"
)

// Event is a ledger event: a plain struct that names its stored type.
type Event interface {
	EventType() string
}

// SchemaVersion is the schema version of every event in the catalogue today.
const SchemaVersion = 1

// New encodes a ledger event for appending. The id must be deterministic for
// the decision that produced the event (for example derived from the command
// id), so that a retried write is recognised as the same write.
func New(id uuid.UUID, e Event, meta Metadata) (NewEvent, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return NewEvent{}, fmt.Errorf("events: encode %s: %w", e.EventType(), err)
	}
	return NewEvent{ID: id, Type: e.EventType(), SchemaVersion: SchemaVersion, Data: data, Metadata: meta}, nil
}

// ErrUnknownType is returned by Decode for a type outside the catalogue.
var ErrUnknownType = fmt.Errorf("events: unknown event type")

// Decode returns the catalogue struct (a value, not a pointer) stored in an
// envelope, for use in type switches.
func Decode(env Envelope) (Event, error) {
	mk, ok := decoders[env.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q at position %d", ErrUnknownType, env.Type, env.Position)
	}
	if env.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("events: %s at position %d has schema version %d, this build reads %d",
			env.Type, env.Position, env.SchemaVersion, SchemaVersion)
	}
	p := mk()
	if err := json.Unmarshal(env.Data, p); err != nil {
		return nil, fmt.Errorf("events: decode %s at position %d: %w", env.Type, env.Position, err)
	}
	return reflect.ValueOf(p).Elem().Interface().(Event), nil
}

// Types lists every event type of the catalogue.
func Types() []string {
	out := make([]string, 0, len(decoders))
	for t := range decoders {
		out = append(out, t)
	}
	return out
}
