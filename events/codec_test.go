package events

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// every returns one value of each catalogue event, with fields set.
func every() []Event {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := MinerID("main", "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH")
	id := uuid.MustParse("0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1")
	return []Event{
		MinerRegistered{Network: "main", MinerID: m, Address: "B91", At: at},
		WorkerRegistered{Network: "main", MinerID: m, Worker: "w1", At: at},
		MinerDisabled{Network: "main", MinerID: m, Reason: "abuse", At: at},
		MinerEnabled{Network: "main", MinerID: m, At: at},
		MinerTargetChanged{Network: "main", MinerID: m, Target: "00ff", Reason: "vardiff", At: at},
		WorkIssued{Network: "main", WorkID: id, MinerID: m, Worker: "w1", Target: "00ff", ThreadID: 3, At: at},
		SolutionAccepted{Network: "main", SolutionID: id, Difficulty: 15728880, Nonce: 14217, At: at},
		SolutionRejected{Network: "main", SolutionID: id, Reason: RejectHighHash, At: at},
		BibleHashReserved{Network: "main", BibleHash: "00", SolutionID: id},
		ChainBlockRecorded{Network: "main", Height: 7, Hash: "ab", Time: at, SeenAt: at.Add(time.Second)},
		BlockDiscovered{Network: "main", Height: 7, Hash: "ab", RewardSat: 1623585745354, RoundRule: RoundRuleHeight, At: at},
		RoundClosed{Network: "main", RoundID: id, Shares: []ShareTally{{MinerID: m, Shares: 2, Difficulty: 9}}, Rule: RoundRuleHeight, FromHeight: 3, CarriedInSat: 5, At: at},
		BlockConfirmed{Network: "main", Hash: "ab", Confirmations: 5, At: at},
		BlockMatured{Network: "main", Hash: "ab", RewardSat: 5, At: at},
		BlockOrphaned{Network: "main", Hash: "ab", AfterMaturity: true, At: at},
		MinerCredited{Network: "main", MinerID: m, AmountSat: 123, At: at},
		FeeCredited{Network: "main", AccountID: FeeAccountID("main"), FeeBps: 100, AmountSat: 1, At: at},
		CreditReversed{Network: "main", AccountID: m, AmountSat: 123, At: at},
		PayoutPlanned{Network: "main", PayoutID: id, Items: []PayoutItem{{MinerID: m, Address: "B91", AmountSat: 10}}, TotalSat: 10, At: at},
		PayoutSent{Network: "main", PayoutID: id, TxID: "tx", FeeSat: 226, At: at},
		PayoutConfirmed{Network: "main", PayoutID: id, TxID: "tx", Confirmations: 6, At: at},
		PayoutFailed{Network: "main", PayoutID: id, Reason: "insufficient funds", At: at},
		PayoutHalted{Network: "main", PayoutID: id, Reason: "timeout", At: at},
		PayoutConflicted{Network: "main", PayoutID: id, TxID: "tx", Conflicts: []string{"tx2"}, Reason: "inputs spent", At: at},
		PayoutSigned{Network: "main", PayoutID: id, TxID: "tx", Hex: "0100", Inputs: []OutPoint{{TxID: "in", Vout: 1}}, FeeSat: 226,
			Sends: []PayoutItem{{MinerID: id, Address: "B5a", AmountSat: 99_999_774}}, Attempt: 1, At: at},
		PayoutTxDead{Network: "main", PayoutID: id, TxID: "tx", SpentInput: "in:1", Reason: "spent by the chain", At: at},
		PayoutCorrected{Network: "main", PayoutID: id, TxID: "tx", Reason: "pays another payout", At: at},
		PoolInstalled{PoolID: id, At: at},
		LeaseTaken{Name: "chain-main", Owner: "host:1:ab", Until: at.Add(30 * time.Second), At: at},
		PayoutsPaused{Network: "main", Reason: "maintenance", At: at},
		PayoutsResumed{Network: "main", At: at},
		PoolPolicySet{Network: "main", FeeBps: 100, Scheme: SchemePPLNS, PPLNSWindow: 5000, At: at},
		LateSharesCounted{Network: "main", BlockHash: "b", Height: 12, Shares: []LateShare{{SolutionID: id, MinerID: id, MinedHeight: 9, Difficulty: 4, MissedBlock: "a"}}, At: at},
		RoundEmpty{Network: "main", BlockHash: "b", Height: 12, Outcome: EmptyRoundCarried, FinderMinerID: id, AmountSat: 99, At: at},
	}
}

func TestCatalogue_RoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range every() {
		ne, err := New(uuid.New(), e, Metadata{CommandID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if ne.Type != e.EventType() || ne.SchemaVersion != SchemaVersion {
			t.Fatalf("New(%T) = type %q schema %d", e, ne.Type, ne.SchemaVersion)
		}
		got, err := Decode(Envelope{Type: ne.Type, SchemaVersion: ne.SchemaVersion, Data: ne.Data})
		if err != nil {
			t.Fatalf("Decode %s: %v", ne.Type, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("Decode %s = %#v, want %#v", ne.Type, got, e)
		}
		seen[ne.Type] = true
	}
	for _, typ := range Types() {
		if !seen[typ] {
			t.Errorf("catalogue type %s has no round-trip case", typ)
		}
	}
}

func TestDecode_Errors(t *testing.T) {
	if _, err := Decode(Envelope{Type: "Nope", SchemaVersion: 1, Data: []byte("{}")}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := Decode(Envelope{Type: TypeMinerEnabled, SchemaVersion: 2, Data: []byte("{}")}); err == nil {
		t.Error("unknown schema version must fail")
	}
	if _, err := Decode(Envelope{Type: TypeMinerEnabled, SchemaVersion: 1, Data: []byte("{")}); err == nil {
		t.Error("broken JSON must fail")
	}
}

func TestChainHash_CoversEveryField(t *testing.T) {
	base := Envelope{
		ID: uuid.MustParse("0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1"), Stream: "miner-1", Version: 3, Position: 9,
		Type: TypeMinerEnabled, SchemaVersion: 1, RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Data: []byte(`{"a":1}`), Metadata: Metadata{CommandID: "c", CorrelationID: "k", CausationID: "z"},
	}
	prev := bytes.Repeat([]byte{7}, 32)
	h0 := ChainHash(prev, base)
	if !bytes.Equal(h0, ChainHash(prev, base)) {
		t.Fatal("ChainHash is not deterministic")
	}
	mutations := map[string]func(*Envelope){
		"id":       func(e *Envelope) { e.ID = uuid.New() },
		"stream":   func(e *Envelope) { e.Stream = "miner-2" },
		"version":  func(e *Envelope) { e.Version++ },
		"position": func(e *Envelope) { e.Position++ },
		"type":     func(e *Envelope) { e.Type = TypeMinerDisabled },
		"schema":   func(e *Envelope) { e.SchemaVersion++ },
		"time":     func(e *Envelope) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"data":     func(e *Envelope) { e.Data = []byte(`{"a":2}`) },
		"metadata": func(e *Envelope) { e.Metadata.CausationID = "y" },
	}
	for name, mutate := range mutations {
		e := base
		mutate(&e)
		if bytes.Equal(ChainHash(prev, e), h0) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if bytes.Equal(ChainHash(nil, base), h0) {
		t.Error("the previous hash is not covered")
	}
	// Field boundaries are length-prefixed: moving bytes between fields changes the hash.
	a, b := base, base
	a.Stream, a.Type = "ab", "c"
	b.Stream, b.Type = "a", "bc"
	if bytes.Equal(ChainHash(prev, a), ChainHash(prev, b)) {
		t.Error("fields are not delimited")
	}
	if got := Timestamp(base.RecordedAt.Add(999)); got.Nanosecond()%1000 != 0 || got.Location() != time.UTC {
		t.Errorf("Timestamp = %v", got)
	}
}

func TestIDsAreDeterministic(t *testing.T) {
	if MinerID("main", "B1") != MinerID("main", "B1") {
		t.Error("MinerID not deterministic")
	}
	if MinerID("main", "B1") == MinerID("test", "B1") || MinerID("main", "B1") == FeeAccountID("main") {
		t.Error("ids collide across networks or accounts")
	}
	if !strings.HasPrefix(StreamBlock("main", "ab"), "block-main-") {
		t.Error("block stream name")
	}
}

func TestExpectedVersion(t *testing.T) {
	if Exact(0).String() != "exact 0" || NoStream.String() != "no stream" || Any.String() != "any" {
		t.Error("ExpectedVersion.String")
	}
	defer func() {
		if recover() == nil {
			t.Error("Exact(-1) must panic: it is a programming error")
		}
	}()
	Exact(-1)
}
