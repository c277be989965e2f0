package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// ChainHash is the tamper-evidence hash of one stored event: SHA-256 over the
// previous event's hash and every field of the envelope that the store keeps.
// Stores compute it when they append (they are the only ones who know the
// position), and the auditor recomputes it from position 1 to detect an
// edited, deleted, inserted or reordered event.
//
// The layout is part of the stored contract: changing it invalidates every
// chain already written.
func ChainHash(prev []byte, e Envelope) []byte {
	h := sha256.New()
	var n [8]byte
	writeBytes := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	writeUint := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	writeBytes(prev)
	writeUint(e.Position)
	writeBytes([]byte(e.Stream))
	writeUint(uint64(e.Version))
	writeBytes(e.ID[:])
	writeBytes([]byte(e.Type))
	writeUint(uint64(e.SchemaVersion))
	writeUint(uint64(e.RecordedAt.UTC().UnixMicro()))
	writeBytes(e.Data)
	meta, _ := json.Marshal(e.Metadata) // a struct of strings always marshals
	writeBytes(meta)
	return h.Sum(nil)
}

// Timestamp is how stores stamp RecordedAt: UTC with microsecond precision,
// which PostgreSQL, MariaDB and SQLite all keep exactly, so the chain hash of a
// reread event equals the one computed at append.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
