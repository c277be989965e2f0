package appendplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

func ev() events.NewEvent {
	return events.NewEvent{ID: uuid.New(), Type: "T", SchemaVersion: 1, Data: json.RawMessage(`{"a": 1}`)}
}

func TestValidate_Refuses(t *testing.T) {
	dup := ev()
	noType := ev()
	noType.Type = ""
	badJSON := ev()
	badJSON.Data = json.RawMessage(`{"a":`)
	noData := ev()
	noData.Data = nil
	noID := ev()
	noID.ID = uuid.Nil
	tests := map[string][]events.StreamWrite{
		"empty stream":       {{Stream: "", Expected: events.Any, Events: []events.NewEvent{ev()}}},
		"NUL in stream":      {{Stream: "a\x00b", Expected: events.Any, Events: []events.NewEvent{ev()}}},
		"bad UTF-8 stream":   {{Stream: "a\xffb", Expected: events.Any, Events: []events.NewEvent{ev()}}},
		"stream twice":       {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{ev()}}, {Stream: "s", Expected: events.Any, Events: []events.NewEvent{ev()}}},
		"id twice":           {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{dup}}, {Stream: "t", Expected: events.Any, Events: []events.NewEvent{dup}}},
		"no type":            {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{noType}}},
		"invalid JSON":       {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{badJSON}}},
		"no data":            {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{noData}}},
		"nil id":             {{Stream: "s", Expected: events.Any, Events: []events.NewEvent{noID}}},
		"bad expected value": {{Stream: "s", Expected: events.ExpectedVersion(-3), Events: []events.NewEvent{ev()}}},
	}
	for name, writes := range tests {
		_, err := Validate(writes)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

func TestDuplicate(t *testing.T) {
	a, b := ev(), ev()
	w, err := Validate([]events.StreamWrite{{Stream: "s", Expected: events.NoStream, Events: []events.NewEvent{a, b}}})
	if err != nil {
		t.Fatal(err)
	}
	envA := events.Envelope{ID: a.ID, Stream: "s", Position: 7}
	envB := events.Envelope{ID: b.ID, Stream: "s", Position: 8}

	if _, dup, err := Duplicate(w, nil); dup || err != nil {
		t.Fatalf("nothing stored: dup %v err %v", dup, err)
	}
	res, dup, err := Duplicate(w, map[uuid.UUID]events.Envelope{b.ID: envB, a.ID: envA})
	if !dup || err != nil || !res.Duplicate || len(res.Events) != 2 || res.Events[0].Position != 7 || res.Events[1].Position != 8 {
		t.Fatalf("all stored: %+v dup %v err %v", res, dup, err)
	}
	if _, _, err := Duplicate(w, map[uuid.UUID]events.Envelope{a.ID: envA}); !errors.Is(err, events.ErrDuplicateMismatch) {
		t.Fatalf("half stored: %v", err)
	}
	envB.Stream = "elsewhere"
	if _, _, err := Duplicate(w, map[uuid.UUID]events.Envelope{a.ID: envA, b.ID: envB}); !errors.Is(err, events.ErrDuplicateMismatch) {
		t.Fatalf("stored in another stream: %v", err)
	}
}

func TestBuild_ContinuesChainAndVersions(t *testing.T) {
	a, b, c := ev(), ev(), ev()
	w, err := Validate([]events.StreamWrite{
		{Stream: "old", Expected: events.Exact(4), Events: []events.NewEvent{a, b}},
		{Stream: "new", Expected: events.NoStream, Events: []events.NewEvent{c}},
	})
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]int64{"old": 4}
	if err := CheckVersions(w, current); err != nil {
		t.Fatal(err)
	}
	headHash := bytes.Repeat([]byte{9}, 32)
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	envs := Build(w, current, 41, headHash, now)
	wantPos, wantVer, wantStream := []uint64{42, 43, 44}, []int64{5, 6, 0}, []string{"old", "old", "new"}
	for i, e := range envs {
		if e.Position != wantPos[i] || e.Version != wantVer[i] || e.Stream != wantStream[i] {
			t.Fatalf("event %d: %d/%d/%s", i, e.Position, e.Version, e.Stream)
		}
		if !e.RecordedAt.Equal(events.Timestamp(now)) || e.RecordedAt.Location() != time.UTC {
			t.Fatalf("event %d: RecordedAt %v", i, e.RecordedAt)
		}
		prev := headHash
		if i > 0 {
			prev = envs[i-1].Hash
		}
		if !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.Hash, events.ChainHash(prev, e)) {
			t.Fatalf("event %d: chain broken", i)
		}
	}
	if first := Build(w, current, 0, nil, now); first[0].PrevHash != nil {
		t.Fatalf("first event of the log has PrevHash %x", first[0].PrevHash)
	}
}

func TestCheckVersions(t *testing.T) {
	current := map[string]int64{"at0": 0, "at3": 3}
	tests := []struct {
		stream   string
		expected events.ExpectedVersion
		ok       bool
	}{
		{"missing", events.Any, true},
		{"missing", events.NoStream, true},
		{"missing", events.Exact(0), false},
		{"at0", events.NoStream, false},
		{"at0", events.Exact(0), true},
		{"at3", events.Exact(2), false},
		{"at3", events.Exact(3), true},
		{"at3", events.Any, true},
	}
	for _, tt := range tests {
		w := Write{Writes: []events.StreamWrite{{Stream: tt.stream, Expected: tt.expected}}}
		err := CheckVersions(w, current)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, events.ErrWrongExpectedVersion)) {
			t.Errorf("%s %s: err %v", tt.stream, tt.expected, err)
		}
	}
}

func TestUnmarshalMetadata_MatchesEncodingJSON(t *testing.T) {
	metas := []events.Metadata{
		{},
		{CommandID: "c"},
		{CorrelationID: "r", CausationID: "z"},
		{CommandID: "a<b>&\"q\"\\", CorrelationID: "é ☃", CausationID: "tab\there"},
	}
	for _, m := range metas {
		got, err := UnmarshalMetadata(MarshalMetadata(m))
		if err != nil || got != m {
			t.Errorf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	for _, raw := range []string{`{}`, `{"command_id":"x"}`, `{"command_id":"x","other":"y"}`, `{ "command_id" : "x" }`,
		`{"command_id":1}`, `{"command_id":"x",}`, `{"command_id":"x"`, `null`, `{"causation_id":"a","causation_id":"b"}`} {
		fast, ok := parseCompactMetadata([]byte(raw))
		var slow events.Metadata
		slowErr := json.Unmarshal([]byte(raw), &slow)
		if ok && (slowErr != nil || fast != slow) {
			t.Errorf("%s: fast path %+v, encoding/json %+v (%v)", raw, fast, slow, slowErr)
		}
	}
}

func FuzzUnmarshalMetadata(f *testing.F) {
	f.Add([]byte(`{"command_id":"x","correlation_id":"y"}`), "a", "b")
	f.Fuzz(func(t *testing.T, raw []byte, a, b string) {
		m := events.Metadata{CommandID: a, CausationID: b}
		if got, err := UnmarshalMetadata(MarshalMetadata(m)); err != nil || got != m {
			// json.Marshal replaces invalid UTF-8, so compare with its own round trip.
			var want events.Metadata
			_ = json.Unmarshal(MarshalMetadata(m), &want)
			if got != want {
				t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
			}
		}
		if fast, ok := parseCompactMetadata(raw); ok {
			var slow events.Metadata
			if err := json.Unmarshal(raw, &slow); err != nil || slow != fast {
				t.Fatalf("%q: fast path %+v, encoding/json %+v (%v)", raw, fast, slow, err)
			}
		}
	})
}
