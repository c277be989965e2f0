package rabbitmq

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
)

// TestBatchEnvelopeRoundTrip: every command comes out of an envelope with
// its id, name and the very bytes of its body.
func TestBatchEnvelopeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msgs []commands.Message
	}{
		{"one", []commands.Message{{ID: uuid.New(), Name: commands.NameIssueWork, Body: []byte(`{"a":1}`)}}},
		{"json with spaces kept", []commands.Message{{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte("{ \"a\" : [1, 2] }\n")}}},
		{"not json", []commands.Message{{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte("\x00\xffnot json")}}},
		{"empty body", []commands.Message{{ID: uuid.New(), Name: commands.NameSubmitSolution}}},
		{"odd name", []commands.Message{{ID: uuid.New(), Name: "a\"b\\c\u2028", Body: []byte(`"s"`)}}},
		{"several", []commands.Message{
			{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{"n":1}`)},
			{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{"n":2}`)},
			{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{"n":3}`)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries [][]byte
			for _, m := range tt.msgs {
				entries = append(entries, encodeEntry(m))
			}
			got, err := decodeBatch(encodeBatch(entries))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.msgs) {
				t.Fatalf("%d commands, want %d", len(got), len(tt.msgs))
			}
			for i, want := range tt.msgs {
				g := got[i]
				if g.idErr != nil || g.id != want.ID || g.Name != want.Name || !bytes.Equal(g.body(), want.Body) {
					t.Errorf("command %d: %s %q %q (%v), want %s %q %q", i, g.id, g.Name, g.body(), g.idErr, want.ID, want.Name, want.Body)
				}
			}
		})
	}
}

func TestGroupForBatches(t *testing.T) {
	m := func(name string, size int) commands.Message {
		return commands.Message{ID: uuid.New(), Name: name, Body: make([]byte, size)}
	}
	a1, b1, a2, a3, big := m("A", 10), m("B", 10), m("A", 10), m("A", 10), m("A", maxBatchBytes)
	tests := []struct {
		name string
		msgs []commands.Message
		size int
		want [][]commands.Message
	}{
		{"by name", []commands.Message{a1, b1, a2}, 64, [][]commands.Message{{a1, a2}, {b1}}},
		{"by size", []commands.Message{a1, a2, a3}, 2, [][]commands.Message{{a1, a2}, {a3}}},
		{"size 1", []commands.Message{a1, a2}, 1, [][]commands.Message{{a1}, {a2}}},
		{"by bytes", []commands.Message{a1, big, a2}, 64, [][]commands.Message{{a1}, {big}, {a2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := groupForBatches(tt.msgs, tt.size)
			if len(got) != len(tt.want) {
				t.Fatalf("%d groups, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if len(got[i]) != len(tt.want[i]) {
					t.Fatalf("group %d has %d, want %d", i, len(got[i]), len(tt.want[i]))
				}
				for j := range got[i] {
					if got[i][j].ID != tt.want[i][j].ID {
						t.Errorf("group %d[%d] differs", i, j)
					}
				}
			}
		})
	}
}

// FuzzDecodeBatch feeds arbitrary envelopes to the consumer's decoder: it
// returns commands or errBadBatch (the message is dead-lettered), never
// panics.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([][]byte{encodeEntry(commands.Message{ID: uuid.New(), Name: "X", Body: []byte(`{}`)})}))
	f.Add([]byte(`{"commands":[{"id":"x","name":1}]}`))
	f.Add([]byte(`{"commands":[]}`))
	f.Add([]byte(`{"commands":[{"body_b64":"!!"}]}`))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, err := decodeBatch(body)
		if err != nil {
			if !errors.Is(err, errBadBatch) {
				t.Fatalf("error %v is not errBadBatch", err)
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("no error and no commands")
		}
		for _, e := range entries {
			parsed, perr := uuid.Parse(e.RawID)
			if (e.idErr == nil) != (perr == nil) || e.idErr == nil && parsed != e.id {
				t.Fatalf("entry id %q: parsed %s, error %v", e.RawID, e.id, e.idErr)
			}
			_ = e.body()
		}
	})
}
