package eventstoretest

// The case of the tamper-evidence hash chain (or its absence, NoHashChain).

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/purepool/purepool/events"
)

func (h *harness) testHashChain(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	var appended []events.Envelope
	for i := range 4 {
		var writes []events.StreamWrite
		writes = append(writes, events.StreamWrite{Stream: streamName("chain"), Expected: events.Any, Events: newEvents(1+i, "Chained")})
		if i%2 == 1 && !h.cfg.notAtomic {
			writes = append(writes, events.StreamWrite{Stream: streamName("chain"), Expected: events.NoStream, Events: newEvents(2, "Chained")})
		}
		appended = append(appended, mustAppend(t, ctx, s, writes...).Events...)
	}
	stored := readAfter(t, ctx, s, base, 100)
	requireSame(t, "ReadAll vs Append results (hashes included)", stored, appended)
	// The store says by what it is whether it keeps the chain (the
	// auditor relies on that, never on the data), and says it truly.
	ck, ok := s.(events.ChainKeeper)
	if !ok {
		t.Fatalf("%T does not implement events.ChainKeeper", s)
	}
	if ck.KeepsChain() == h.cfg.noChain {
		t.Fatalf("%T (%s): KeepsChain() = %v, but the suite was told NoHashChain = %v", s, ck.StoreName(), ck.KeepsChain(), h.cfg.noChain)
	}
	if ck.StoreName() == "" {
		t.Fatalf("%T: empty StoreName", s)
	}
	if h.cfg.noChain {
		for _, e := range stored {
			if len(e.PrevHash) != 0 || len(e.Hash) != 0 {
				t.Fatalf("store declared NoHashChain but event %d has hashes", e.Position)
			}
		}
		return
	}
	for i, e := range stored {
		if len(e.Hash) != 32 {
			t.Fatalf("event %d: hash has %d bytes, want 32", e.Position, len(e.Hash))
		}
		if want := events.ChainHash(e.PrevHash, e); !bytes.Equal(e.Hash, want) {
			t.Fatalf("event %d: Hash %x != ChainHash %x", e.Position, e.Hash, want)
		}
		switch {
		case i > 0:
			if !bytes.Equal(e.PrevHash, stored[i-1].Hash) {
				t.Fatalf("event %d: PrevHash %x != previous event's Hash %x", e.Position, e.PrevHash, stored[i-1].Hash)
			}
		case e.Position == 1:
			if len(e.PrevHash) != 0 {
				t.Fatalf("first event of the log has PrevHash %x, want empty", e.PrevHash)
			}
		default:
			prev, err := s.ReadAll(ctx, e.Position-2, 1)
			if err == nil && len(prev) == 1 && prev[0].Position == e.Position-1 && !bytes.Equal(e.PrevHash, prev[0].Hash) {
				t.Fatalf("event %d: PrevHash does not link to event %d", e.Position, prev[0].Position)
			}
		}
	}
	// Any change to a hashed field changes the hash.
	e := stored[0]
	tampered := e
	tampered.Data = json.RawMessage(bytes.Replace(e.Data, []byte(`"z"`), []byte(`"y"`), 1))
	if bytes.Equal(events.ChainHash(e.PrevHash, tampered), e.Hash) {
		t.Fatal("ChainHash did not change with the data")
	}
}
