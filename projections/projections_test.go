package projections_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// target is one read-model database kind under test.
type target struct {
	name string
	open func(t testing.TB) *projections.DB
}

var targets = []target{
	{"sqlite", func(t testing.TB) *projections.DB {
		return openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "readmodel.db"))
	}},
	{"postgres", func(t testing.TB) *projections.DB { return openDB(t, testenv.NewPostgresDB(t)) }},
	{"mariadb", func(t testing.TB) *projections.DB { return openDB(t, "mysql://"+testenv.NewMySQLDB(t)) }},
}

func openDB(t testing.TB, url string) *projections.DB {
	t.Helper()
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second migrate must be a no-op: %v", err)
	}
	return db
}

// applyAll feeds the history in batches of n through ApplyBatch.
func applyAll(t testing.TB, db *projections.DB, envs []events.Envelope, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	var cp uint64
	for i := 0; i < len(envs); i += n {
		j := min(i+n, len(envs))
		next, err := db.ApplyBatch(ctx, cp, envs[i:j])
		if err != nil {
			t.Fatalf("apply batch %d..%d: %v", i, j, err)
		}
		cp = next
	}
	return cp
}

func smallHistory() *ledgergen.History {
	return ledgergen.Generate(ledgergen.Config{Seed: 7, Miners: 8, ChainBlocks: 170, SharesPerBlock: 8, PayoutEvery: 20, Maturity: 6})
}

// checkAgainst compares the read model with the generator's independent totals.
func checkAgainst(t *testing.T, db *projections.DB, h *ledgergen.History) {
	t.Helper()
	ctx := context.Background()
	r := projections.NewReader(db.SQL, db.Dialect)
	ex := h.Expected
	for id, m := range ex.Miners {
		got, err := r.Miner(ctx, h.Network, m.Address)
		if err != nil {
			t.Fatalf("miner %s: %v", m.Address, err)
		}
		if got.MinerID != id || got.BalanceSat != m.BalanceSat || got.CreditedSat != m.CreditedSat ||
			got.ReversedSat != m.ReversedSat || got.PaidSat != m.PaidSat || got.Shares != m.Shares ||
			got.Rejected != m.Rejected || got.Difficulty != m.Difficulty || got.Enabled == m.Disabled {
			t.Errorf("miner %s:\n got  %+v\n want %+v", m.Address, got, *m)
		}
		if got.BalanceSat != got.CreditedSat-got.ReversedSat-got.PaidSat {
			t.Errorf("miner %s: balance %d != credited %d - reversed %d - paid %d", m.Address, got.BalanceSat, got.CreditedSat, got.ReversedSat, got.PaidSat)
		}
	}
	for hash, b := range ex.Blocks {
		got, err := r.Block(ctx, h.Network, hash)
		if err != nil {
			t.Fatalf("block %s: %v", hash, err)
		}
		if got.Status != b.Status || got.Height != b.Height || got.RewardSat != b.RewardSat || got.FinderMinerID != b.Finder ||
			got.CreditedSat != b.CreditedSat || got.FeeSat != b.FeeSat || got.RoundShares != b.RoundShares {
			t.Errorf("block %s:\n got  %+v\n want %+v", hash, got, *b)
		}
		// credits + fee == reward + carried in − carried out (an empty round
		// without a known finder puts the miners' part into the carry account).
		var carriedOut int64
		if got.EmptyOutcome == events.EmptyRoundCarried {
			carriedOut = got.EmptySat
		}
		if b.Status == "matured" && got.CreditedSat+got.FeeSat != got.RewardSat+got.CarriedInSat-carriedOut {
			t.Errorf("block %s: credits %d + fee %d != reward %d + carried in %d - carried out %d",
				hash, got.CreditedSat, got.FeeSat, got.RewardSat, got.CarriedInSat, carriedOut)
		}
		if b.Status == "matured" && got.RoundOpen() {
			t.Errorf("block %s: matured with its round open: %+v", hash, got)
		}
	}
	for id, p := range ex.Payouts {
		got, err := r.Payout(ctx, h.Network, id)
		if err != nil {
			t.Fatalf("payout %s: %v", id, err)
		}
		if got.Status != p.Status || got.TxID != p.TxID || got.TotalSat != p.TotalSat || len(got.Items) != len(p.Items) {
			t.Errorf("payout %s: got %+v want %+v", id, got, *p)
		}
		checkPayoutAgainstFold(t, r, got, h)
	}
	if h.Ledger != nil && pool0(t, r, h).PoolID != h.Ledger.PoolID {
		t.Errorf("pool id %s, the backend's fold says %s", pool0(t, r, h).PoolID, h.Ledger.PoolID)
	}
	pool, err := r.Pool(ctx, h.Network)
	if err != nil {
		t.Fatal(err)
	}
	if pool.Shares != ex.Shares || pool.Rejected != ex.Rejected || pool.FeeSat != ex.FeeSat || pool.FeeReversedSat != ex.FeeReversedSat ||
		pool.CreditedSat != ex.CreditedSat || pool.ReversedSat != ex.ReversedSat || pool.PaidSat != ex.PaidSat ||
		pool.BlocksFound != ex.BlocksFound || pool.BlocksMatured != ex.Matured || pool.BlocksOrphaned != ex.Orphans ||
		pool.PayoutsPaused != ex.PayoutsPaused || pool.Height != ex.ChainHeight ||
		pool.CarriedSat != ex.CarrySat || pool.EmptyRounds != ex.EmptyRounds || pool.LateShares != ex.LateShares {
		t.Errorf("pool:\n got  %+v\n want %+v", pool, ex)
	}
	days, err := r.PoolDays(ctx, h.Network, time.Time{}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	gotDays := map[time.Time]int64{}
	for _, d := range days {
		gotDays[d.Day] = d.Shares
	}
	for d, n := range ex.SharesByDay {
		if gotDays[d] != n {
			t.Errorf("pool shares on %s: got %d want %d", d.Format(time.DateOnly), gotDays[d], n)
		}
	}
	// The carry account is no miner; its ledger entries sum to its balance.
	carry := events.CarryAccountID(h.Network)
	if _, ok := ex.Miners[carry]; ok {
		t.Errorf("the generator counts the carry account as a miner")
	}
	carried, err := r.Ledger(ctx, h.Network, carry, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var carrySum int64
	for _, e := range carried {
		carrySum += e.AmountSat
	}
	if carrySum != ex.CarrySat || pool.CarriedSat != carrySum {
		t.Errorf("carry account: ledger sums to %d, pool shows %d, want %d", carrySum, pool.CarriedSat, ex.CarrySat)
	}
	// Every ledger entry of a miner sums to its balance.
	for _, m := range ex.Miners {
		entries, err := r.Ledger(ctx, h.Network, m.ID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, e := range entries {
			sum += e.AmountSat
		}
		if sum != m.BalanceSat {
			t.Errorf("miner %s: ledger entries sum to %d, balance %d", m.Address, sum, m.BalanceSat)
		}
	}
}

func TestProjection_MatchesGeneratedHistory(t *testing.T) {
	h := smallHistory()
	if len(h.Expected.Payouts) < 3 || h.Expected.Orphans == 0 || h.Expected.Matured == 0 {
		t.Fatalf("generated history lacks variety: %d payouts, %d orphans, %d matured", len(h.Expected.Payouts), h.Expected.Orphans, h.Expected.Matured)
	}
	statuses := map[string]bool{}
	for _, p := range h.Expected.Payouts {
		statuses[p.Status] = true
	}
	for _, s := range []string{"confirmed", "failed", "conflicted", "corrected"} {
		if !statuses[s] {
			t.Fatalf("generated history has no %s payout: %v", s, statuses)
		}
	}
	if n := h.ByType(); n[events.TypePayoutSigned] == 0 || n[events.TypePayoutTxDead] == 0 || n[events.TypePoolInstalled] != 1 {
		t.Fatalf("generated history lacks signed payouts: %v", n)
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := tt.open(t)
			cp := applyAll(t, db, h.Envelopes, 97)
			if cp != uint64(len(h.Envelopes)) {
				t.Fatalf("checkpoint %d, want %d", cp, len(h.Envelopes))
			}
			checkAgainst(t, db, h)
		})
	}
}

// A batch seen twice, or overlapping batches, change nothing: the
// checkpoint guards them.
func TestProjection_ReplayIsIdempotent(t *testing.T) {
	h := smallHistory()
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := tt.open(t)
			ctx := context.Background()
			envs := h.Envelopes
			var cp uint64
			for i := 0; i < len(envs); i += 150 {
				j := min(i+150, len(envs))
				// Re-deliver the previous batch too (overlap) and then this one twice.
				from := max(0, i-150)
				next, err := db.ApplyBatch(ctx, cp, envs[from:j])
				if err != nil {
					t.Fatalf("apply: %v", err)
				}
				again, err := db.ApplyBatch(ctx, next, envs[from:j])
				if err != nil || again != next {
					t.Fatalf("replay: %d, %v (want %d)", again, err, next)
				}
				cp = next
			}
			checkAgainst(t, db, h)
			// A writer with a stale checkpoint is refused and writes nothing.
			if _, err := db.ApplyBatch(ctx, cp-10, envs[len(envs)-10:]); err == nil {
				t.Fatal("ApplyBatch with a stale expected checkpoint succeeded")
			}
			checkAgainst(t, db, h)
		})
	}
}

func TestFold_UnknownPayoutFailure(t *testing.T) {
	id := uuid.New()
	ev, err := events.New(uuid.New(), events.PayoutFailed{Network: "main", PayoutID: id, Reason: "x"}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	env := events.Envelope{ID: ev.ID, Position: 1, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data}
	ch := projections.NewChanges(nil)
	if err := ch.Fold(context.Background(), []events.Envelope{env}); err == nil {
		t.Fatal("folding a failure of an unknown payout succeeded")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// envelopes numbers events from position first on, one stream each.
func envelopes(t *testing.T, first uint64, evs ...events.Event) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	for i, e := range evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events.Envelope{ID: ne.ID, Position: first + uint64(i), Stream: "s", Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, Data: ne.Data, RecordedAt: time.Now().UTC()})
	}
	return out
}

// A payout that fails or is conflicted after it was sent is a change the
// live stream must see: PayoutsSince orders by the latest of its times,
// on every dialect (MariaDB's GREATEST and SQLite's MAX return NULL for
// any NULL argument).
func TestPayoutsSince_SeesReturnedPayouts(t *testing.T) {
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := tt.open(t)
			r := projections.NewReader(db.SQL, db.Dialect)
			t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			miner, id := uuid.New(), uuid.New()
			item := []events.PayoutItem{{MinerID: miner, Address: "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", AmountSat: 5}}
			cp := applyAll(t, db, envelopes(t, 1,
				events.PayoutPlanned{Network: "test", PayoutID: id, Items: item, TotalSat: 5, At: t0},
				events.PayoutSent{Network: "test", PayoutID: id, TxID: "tx", FeeSat: 1, At: t0.Add(time.Minute)},
			), 10)
			if ps, err := r.PayoutsSince(ctx, "test", t0.Add(time.Minute), 10); err != nil || len(ps) != 0 {
				t.Fatalf("nothing changed after the send: %v, %v", ps, err)
			}
			if _, err := db.ApplyBatch(ctx, cp, envelopes(t, cp+1,
				events.PayoutConflicted{Network: "test", PayoutID: id, TxID: "tx", Reason: "double spent", At: t0.Add(time.Hour)})); err != nil {
				t.Fatal(err)
			}
			ps, err := r.PayoutsSince(ctx, "test", t0.Add(time.Minute), 10)
			if err != nil || len(ps) != 1 || ps[0].Status != "conflicted" {
				t.Fatalf("the conflict is a change after the send: %+v, %v", ps, err)
			}
		})
	}
}

// A miner's target in the read model is the backend's decision, never the
// target a work request echoed: that one may predate the decision.
func TestFold_TargetOnlyFromTheBackendsDecision(t *testing.T) {
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.open(t)
			miner := uuid.New()
			addr := "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
			applyAll(t, db, envelopes(t, 1,
				events.MinerRegistered{Network: "test", MinerID: miner, Address: addr, At: time.Now().UTC()},
				events.MinerTargetChanged{Network: "test", MinerID: miner, Target: "0000ffff", Reason: "vardiff", At: time.Now().UTC()},
				events.WorkIssued{Network: "test", WorkID: uuid.New(), MinerID: miner, Address: addr, Worker: "w", Target: "00ffffff", At: time.Now().UTC()},
			), 10)
			m, err := projections.NewReader(db.SQL, db.Dialect).Miner(context.Background(), "test", addr)
			if err != nil || m.Target != "0000ffff" {
				t.Fatalf("miner %+v, %v: want the decided target", m, err)
			}
		})
	}
}

func pool0(t *testing.T, r *projections.Reader, h *ledgergen.History) projections.Pool {
	t.Helper()
	p, err := r.Pool(context.Background(), h.Network)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPayoutAgainstFold compares a payout of the read model with the
// backend's own fold of the history (aggregates.Payout): its transaction
// and fee, signed attempts, dead transactions, on-chain amounts, anchor
// and planning installation; and, for a payout whose amounts came back,
// its recipients' ledger entries saying why.
func checkPayoutAgainstFold(t *testing.T, r *projections.Reader, got projections.Payout, h *ledgergen.History) {
	t.Helper()
	if h.Ledger == nil {
		return
	}
	want, ok := h.Ledger.Network(h.Network).Payouts[got.PayoutID]
	if !ok {
		t.Errorf("payout %s: not in the backend's fold", got.PayoutID)
		return
	}
	if got.Status != want.Status || got.TxID != want.TxID || got.FeeSat != want.FeeSat || got.Attempts != int64(want.Attempts()) ||
		got.PoolID != want.PoolID || got.Settled() != want.Settled() {
		t.Errorf("payout %s: read model %s %q fee %d, %d attempts, pool %s; the fold %s %q fee %d, %d attempts, pool %s", got.PayoutID,
			got.Status, got.TxID, got.FeeSat, got.Attempts, got.PoolID, want.Status, want.TxID, want.FeeSat, want.Attempts(), want.PoolID)
	}
	if (got.Anchor == nil) != (want.Anchor == nil) || (got.Anchor != nil && (got.Anchor.Size != want.Anchor.Size || got.Anchor.Root != want.Anchor.Root || got.Anchor.Hash != want.Anchor.Hash)) {
		t.Errorf("payout %s: anchor %+v, the fold %+v", got.PayoutID, got.Anchor, want.Anchor)
	}
	var dead []string
	for _, tx := range got.DeadTransactions() {
		dead = append(dead, tx.TxID)
		if tx.SpentInput == "" || tx.DeadReason == "" || tx.Attempt == 0 {
			t.Errorf("payout %s: dead transaction %+v lacks its spent input, reason or attempt", got.PayoutID, tx)
		}
	}
	if strings.Join(dead, ",") != strings.Join(want.Dead, ",") || len(got.Transactions) != want.Attempts() {
		t.Errorf("payout %s: transactions %+v; the fold: dead %v, %d attempts", got.PayoutID, got.Transactions, want.Dead, want.Attempts())
	}
	sends := map[uuid.UUID]int64{}
	if want.Signed != nil && want.Signed.TxID == got.TxID {
		for _, s := range want.Signed.Sends {
			sends[s.MinerID] = s.AmountSat
		}
	}
	onChain := got.FeeSat
	for _, it := range got.Items {
		if it.SentSat != sends[it.MinerID] {
			t.Errorf("payout %s: %s gets %d on the chain, the signed transaction sends %d", got.PayoutID, it.Address, it.SentSat, sends[it.MinerID])
		}
		onChain += it.SentSat
	}
	if len(sends) > 0 && onChain != got.TotalSat {
		t.Errorf("payout %s: on-chain amounts + fee = %d, total %d", got.PayoutID, onChain, got.TotalSat)
	}
	if !got.Returned() {
		return
	}
	// Each recipient's ledger has the entry that gave the amount back.
	kind := "payout_" + got.Status
	for _, it := range want.Items {
		entries, err := r.Ledger(context.Background(), got.Network, it.MinerID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.PayoutID == got.PayoutID && e.Kind == kind && e.AmountSat == it.AmountSat &&
				(got.Status != "corrected" || (strings.Contains(e.Note, want.Reason) && strings.Contains(e.Note, "corrected"))) {
				found = true
			}
		}
		if !found {
			t.Errorf("payout %s (%s): %s has no %s entry of %d", got.PayoutID, got.Status, it.Address, kind, it.AmountSat)
		}
	}
}
