package events

import (
	"testing"
)

// FuzzDecode feeds arbitrary stored bytes to the decoder: a corrupt or
// hostile row must give an error, never a panic.
func FuzzDecode(f *testing.F) {
	for _, e := range every() {
		ne, err := New([16]byte{1}, e, Metadata{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ne.Type, ne.SchemaVersion, []byte(ne.Data))
	}
	f.Add("PayoutPlanned", 1, []byte(`{"items":[{"amount_sat":1e400}]}`))
	f.Add("RoundClosed", 1, []byte(`{"shares":null}`))
	f.Fuzz(func(t *testing.T, typ string, schema int, data []byte) {
		ev, err := Decode(Envelope{Type: typ, SchemaVersion: schema, Data: data})
		if err == nil && ev.EventType() != typ {
			t.Fatalf("Decode(%q) returned a %s", typ, ev.EventType())
		}
	})
}
