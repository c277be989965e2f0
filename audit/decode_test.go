package audit

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
)

// The fast decoder gives what events.Decode gives, for every catalogue type
// and for malformed input.
func TestDecodeMatchesEventsDecode(t *testing.T) {
	for _, typ := range events.Types() {
		if _, ok := fastDecoders[typ]; !ok {
			t.Errorf("catalogue type %s has no fast decoder", typ)
		}
	}
	h := ledgergen.Generate(ledgergen.Config{Seed: 3, ChainBlocks: 120, SharesPerBlock: 4})
	seen := map[string]bool{}
	for _, env := range h.Envelopes {
		seen[env.Type] = true
		want, werr := events.Decode(env)
		got, gerr := decode(env)
		if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s at %d: decode %#v (%v), events.Decode %#v (%v)", env.Type, env.Position, got, gerr, want, werr)
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d types exercised", len(seen))
	}
	base := events.Envelope{Type: events.TypeMinerCredited, SchemaVersion: events.SchemaVersion, Position: 7}
	for _, data := range []string{
		`{"Amount_Sat": 5, "amount_sat": 6, "ADDRESS": "x"}`,         // names match case-insensitively, the last wins
		"{\"amount_sat\": 5, \"address\": \"\xff\"}",                 // invalid UTF-8 is replaced, unknown names ignored
		`{"amount_sat": null, "height": 3}`,                          // null leaves a value alone
		`{"amount_sat": "5"}`, `{"amount_sat": 1.5}`, `[1]`, `{`, ``, // errors
		`{"miner_id": "not-a-uuid"}`, `{"at": "yesterday"}`,
	} {
		env := base
		env.Data = []byte(data)
		want, werr := events.Decode(env)
		got, gerr := decode(env)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: decode %#v (%v), events.Decode %#v (%v)", data, got, gerr, want, werr)
		}
	}
	for _, env := range []events.Envelope{{Type: "Nope", SchemaVersion: 1, Data: []byte(`{}`)}, {Type: events.TypeMinerCredited, SchemaVersion: 2, Data: []byte(`{}`)}} {
		_, werr := events.Decode(env)
		_, gerr := decode(env)
		if werr == nil || gerr == nil || werr.Error() != gerr.Error() {
			t.Errorf("%s v%d: %v vs %v", env.Type, env.SchemaVersion, gerr, werr)
		}
	}
}

func TestInItsStreamMatchesStreamFor(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 4, ChainBlocks: 40})
	for _, env := range h.Envelopes {
		e, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		want := aggregates.StreamFor(e)
		for _, s := range []string{want, env.Stream, want + "x", strings.ToUpper(want), want[:len(want)-1], "x" + want} {
			if got := inItsStream(e, s); got != (s == want) {
				t.Fatalf("%s in %q: %v, StreamFor says %q", env.Type, s, got, want)
			}
		}
	}
}

func TestChainHashMatchesEvents(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 5, ChainBlocks: 30})
	var c chainHasher
	metas := []events.Metadata{{}, {CommandID: "c"}, {CommandID: "c", CorrelationID: "r\"x", CausationID: "ü<>&"}}
	for i, env := range h.Envelopes {
		env.Metadata = metas[i%len(metas)]
		if i%7 == 0 {
			env.PrevHash = nil
		}
		if got, want := c.sum(env.PrevHash, &env), events.ChainHash(env.PrevHash, env); !bytes.Equal(got, want) {
			t.Fatalf("position %d: %x, events.ChainHash %x", env.Position, got, want)
		}
	}
}
