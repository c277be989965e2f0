package commands

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestEncodeDecode_EveryCommand(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	id := uuid.New()
	all := []Command{
		IssueWork{ID: id, Network: "main", MinerID: uuid.New(), Address: "B1", Worker: "w", WorkID: uuid.New(), Target: "00ff", ThreadID: 2, IssuedAt: at},
		SubmitSolution{ID: id, Network: "test", Solution: "a,b", ReceivedAt: at},
		DisableMiner{ID: id, Network: "main", Address: "B1", Reason: "r", At: at},
		EnableMiner{ID: id, Network: "main", Address: "B1", At: at},
		PausePayouts{ID: id, Network: "main", Reason: "r", At: at},
		ResumePayouts{ID: id, Network: "main", At: at},
		TriggerPayout{ID: id, Network: "main", At: at},
		ReconcilePayout{ID: id, Network: "main", PayoutID: uuid.New(), TxID: "tx", At: at},
	}
	for _, c := range all {
		m, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != id || m.Name != c.CommandName() {
			t.Fatalf("Encode(%T) = id %s name %s", c, m.ID, m.Name)
		}
		got, err := Decode(m)
		if err != nil {
			t.Fatalf("Decode(%s): %v", m.Name, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("Decode(%s) = %#v, want %#v", m.Name, got, c)
		}
	}
}

func TestDecode_BadMessagesArePermanent(t *testing.T) {
	id := uuid.New()
	good, _ := Encode(EnableMiner{ID: id, Network: "main"})
	tests := map[string]Message{
		"unknown name":   {ID: id, Name: "Nope", Body: good.Body},
		"broken body":    {ID: id, Name: NameEnableMiner, Body: []byte("{")},
		"id mismatch":    {ID: uuid.New(), Name: NameEnableMiner, Body: good.Body},
		"wrong field ty": {ID: id, Name: NameIssueWork, Body: []byte(`{"thread_id":"x"}`)},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(m)
			if err == nil || !IsPermanent(err) {
				t.Fatalf("Decode = %v, want a permanent error", err)
			}
		})
	}
	if IsPermanent(errors.New("x")) {
		t.Error("plain errors are not permanent")
	}
	if !errors.Is(Permanent(ErrUnknownCommand), ErrUnknownCommand) {
		t.Error("Permanent must wrap")
	}
}
