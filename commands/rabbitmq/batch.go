package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
)

// Group-commit publishing. Under load the broker's confirm of each command
// is the publisher's main cost, so the Publisher gathers the commands that
// arrive while earlier publishes are in flight into one broker message, a
// batch, published persistent and mandatory like a single command; every
// Publish of the batch returns nil only once that one message is confirmed
// and not returned. The Consumer unpacks a batch and handles every command
// with its own id, as if it had come alone.
//
// The batch envelope is a JSON object
//
//	{"commands":[{"id":"<uuid>","name":"SubmitSolution","body":{...}}, ...]}
//
// with ContentType BatchContentType and the number of commands in the
// HeaderBatch header. A command whose body is not JSON (or has white space
// around it) carries it as "body_b64" (base64) instead of "body". A batch holds commands of one name
// only and is published with that name as routing key, so bindings that
// split commands by name over several queues still work.
//
// A batch of one command is published as a plain message: an idle pool's
// traffic is what it was before batching. A consumer from before batching
// cannot read batches: upgrade the backends before the frontends (or keep
// BatchSize 1 until they are).
const (
	// BatchContentType marks a broker message carrying several commands.
	BatchContentType = "application/vnd.purepool.command-batch+json"
	// BatchType is the AMQP type property of a batch.
	BatchType = "purepool.batch"
	// HeaderBatch is the number of commands in a batch.
	HeaderBatch = "x-purepool-batch"
	// HeaderBatchID is put on a command dead-lettered out of a batch: the
	// batch's message id.
	HeaderBatchID = "x-purepool-batch-id"
)

// Defaults of Config.BatchSize and Config.BatchDelay, measured with
// BenchmarkPublishBatch (see bench_test.go): no delay, since a batch forms
// by itself from the publishes that arrive while the previous ones await
// their confirms, and waiting longer only adds latency.
const (
	DefaultBatchSize  = 64
	DefaultBatchDelay = 0
)

// maxBatchBytes caps a batch's body, far below the broker's message size
// limit; a single command bigger than that still goes, alone.
const maxBatchBytes = 1 << 20

func (c Config) batchSize() int {
	if c.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return c.BatchSize
}

func (c Config) batchDelay() time.Duration {
	if c.BatchDelay == 0 {
		return DefaultBatchDelay
	}
	return max(c.BatchDelay, 0)
}

// encodeEntry writes one command of a batch envelope. The body is copied
// verbatim when it is JSON, so the consumer hands the handler the very bytes
// the publisher was given.
func encodeEntry(m commands.Message) []byte {
	name, _ := json.Marshal(m.Name) // a string never fails
	var buf bytes.Buffer
	buf.Grow(len(m.Body) + len(name) + 64)
	buf.WriteString(`{"id":"`)
	buf.WriteString(m.ID.String())
	buf.WriteString(`","name":`)
	buf.Write(name)
	if len(m.Body) > 0 {
		// The decoder gives back a JSON value without the white space
		// around it: a body with some travels in base64, unchanged.
		if json.Valid(m.Body) && len(bytes.TrimSpace(m.Body)) == len(m.Body) {
			buf.WriteString(`,"body":`)
			buf.Write(m.Body)
		} else {
			raw, _ := json.Marshal([]byte(m.Body)) // base64
			buf.WriteString(`,"body_b64":`)
			buf.Write(raw)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// encodeBatch joins encoded entries into an envelope.
func encodeBatch(entries [][]byte) []byte {
	n := len(`{"commands":[]}`) + len(entries)
	for _, e := range entries {
		n += len(e)
	}
	out := make([]byte, 0, n)
	out = append(out, `{"commands":[`...)
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, "]}"...)
}

// batchEntry is one command of a received batch.
type batchEntry struct {
	RawID string          `json:"id"`
	Name  string          `json:"name"`
	Body  json.RawMessage `json:"body"`
	B64   []byte          `json:"body_b64"`

	id    uuid.UUID
	idErr error // the id is not a UUID: this command alone is dead-lettered
}

func (e *batchEntry) body() []byte {
	if e.B64 != nil {
		return e.B64
	}
	return e.Body
}

// errBadBatch marks an envelope that cannot be read at all; the whole
// message is dead-lettered (there is no command to single out).
var errBadBatch = errors.New("undecodable command batch")

// decodeBatch reads an envelope. A command with a bad id does not fail the
// batch: its entry carries idErr.
func decodeBatch(body []byte) ([]batchEntry, error) {
	var env struct {
		Commands []batchEntry `json:"commands"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadBatch, err)
	}
	if len(env.Commands) == 0 {
		return nil, fmt.Errorf("%w: no commands", errBadBatch)
	}
	for i := range env.Commands {
		e := &env.Commands[i]
		id, err := uuid.Parse(e.RawID)
		if err != nil {
			e.idErr = fmt.Errorf("command %d of the batch: id %q is not a UUID", i, e.RawID)
			continue
		}
		e.id = id
	}
	return env.Commands, nil
}

// settledMemo remembers, for a while, the commands of batches the consumer
// requeued that were already handled or dead-lettered: when the batch comes
// back they are not handled again. It saves work and duplicate dead
// letters only; correctness rests on idempotent handlers (another consumer,
// or this one after a restart, handles them again as duplicates).
type settledMemo struct {
	mu   sync.Mutex
	ids  map[uuid.UUID]struct{}
	ring []uuid.UUID // insertion order, for eviction
	next int
}

const settledMemoSize = 1 << 16

func newSettledMemo() *settledMemo {
	return &settledMemo{ids: map[uuid.UUID]struct{}{}, ring: make([]uuid.UUID, settledMemoSize)}
}

func (m *settledMemo) add(ids []uuid.UUID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if _, ok := m.ids[id]; ok {
			continue
		}
		if old := m.ring[m.next]; old != uuid.Nil {
			delete(m.ids, old)
		}
		m.ring[m.next] = id
		m.next = (m.next + 1) % len(m.ring)
		m.ids[id] = struct{}{}
	}
}

func (m *settledMemo) has(id uuid.UUID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ids[id]
	return ok
}
