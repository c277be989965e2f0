package commands

import (
	"testing"

	"github.com/google/uuid"
)

// FuzzDecode feeds arbitrary broker messages to the decoder: anything it
// cannot decode is a permanent error (dead-lettered), never a panic.
func FuzzDecode(f *testing.F) {
	id := uuid.MustParse("0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1")
	good, _ := Encode(SubmitSolution{ID: id, Network: "main", Solution: "x"})
	f.Add(good.Name, []byte(good.Body))
	f.Add(NameIssueWork, []byte(`{"id":"0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1","thread_id":1e99}`))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		c, err := Decode(Message{ID: id, Name: name, Body: body})
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		if c.CommandName() != name || c.CommandID() != id {
			t.Fatalf("decoded %s %s from %q", c.CommandName(), c.CommandID(), name)
		}
	})
}
