package ledgergen_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
	eventsqlite "github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
)

func TestGenerate_ConsistentHistory(t *testing.T) {
	cfg := ledgergen.Config{Seed: 11, Miners: 6, ChainBlocks: 120, Maturity: 5, PayoutEvery: 15}
	h := ledgergen.Generate(cfg)
	again := ledgergen.Generate(cfg)
	if len(h.Envelopes) != len(again.Envelopes) || !bytes.Equal(h.Envelopes[len(h.Envelopes)-1].Hash, again.Envelopes[len(again.Envelopes)-1].Hash) {
		t.Fatal("the same config generated different histories")
	}
	if other := ledgergen.Generate(ledgergen.Config{Seed: 12, Miners: 6, ChainBlocks: 120, Maturity: 5, PayoutEvery: 15}); bytes.Equal(other.Envelopes[len(other.Envelopes)-1].Hash, h.Envelopes[len(h.Envelopes)-1].Hash) {
		t.Fatal("another seed generated the same history")
	}
	types := h.ByType()
	for _, typ := range events.Types() {
		if typ == events.TypeMinerEnabled || typ == events.TypeMinerDisabled || typ == events.TypePayoutsPaused || typ == events.TypePayoutsResumed || typ == events.TypeMinerTargetChanged {
			continue // admin events are rare by design
		}
		if typ == events.TypeLeaseTaken {
			continue // a job lock's, not the ledger's
		}
		if types[typ] == 0 {
			t.Errorf("no %s event in the history", typ)
		}
	}
	var prev []byte
	credits := map[string]int64{}
	fees := map[string]int64{}
	carried := map[string]int64{} // in − out of the carry account, per block
	fold := aggregates.NewLedger(aggregates.LedgerConfig{})
	for i, env := range h.Envelopes {
		if env.Position != uint64(i+1) || !bytes.Equal(env.PrevHash, prev) || !bytes.Equal(env.Hash, events.ChainHash(prev, env)) {
			t.Fatalf("event %d: position or hash chain broken", i)
		}
		prev = env.Hash
		ev, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		if want := aggregates.StreamFor(ev); env.Stream != want {
			t.Fatalf("%s at %d in stream %q, not %q", env.Type, env.Position, env.Stream, want)
		}
		if err := fold.Apply(env); err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case events.MinerCredited:
			credits[e.BlockHash] += e.AmountSat
		case events.FeeCredited:
			fees[e.BlockHash] += e.AmountSat
			if want, _ := aggregates.FeeOf(fold.Networks[h.Network].Block(e.BlockHash).RewardSat, e.FeeBps); e.AmountSat != want || e.FeeBps != cfg.Defaults().FeeBps {
				t.Errorf("block %s: fee %d at %d bps, want %d", e.BlockHash, e.AmountSat, e.FeeBps, want)
			}
		case events.RoundClosed:
			carried[e.BlockHash] += e.CarriedInSat
		case events.RoundEmpty:
			if e.Outcome == events.EmptyRoundCarried {
				carried[e.BlockHash] -= e.AmountSat
			}
		}
	}
	for hash, b := range h.Expected.Blocks {
		if _, matured := fees[hash]; matured && credits[hash]+fees[hash] != b.RewardSat+carried[hash] {
			t.Errorf("block %s: credits %d + fee %d != reward %d + carried %d", hash, credits[hash], fees[hash], b.RewardSat, carried[hash])
		}
	}
	// The generator's bookkeeping agrees with the backend's fold of the
	// stored envelopes (decoded, not the generator's values).
	n := fold.Networks[h.Network]
	if len(h.Expected.Miners) != len(h.Miners) {
		t.Errorf("%d miners registered of %d", len(h.Expected.Miners), len(h.Miners))
	}
	for _, m := range h.Expected.Miners {
		if m.BalanceSat != m.CreditedSat-m.ReversedSat-m.PaidSat {
			t.Errorf("miner %s: balance %d != %d - %d - %d", m.Address, m.BalanceSat, m.CreditedSat, m.ReversedSat, m.PaidSat)
		}
		if m.BalanceSat != n.Balances[m.ID] || m.BalanceSat < 0 {
			t.Errorf("miner %s: balance %d, the ledger's %d", m.Address, m.BalanceSat, n.Balances[m.ID])
		}
		if len(m.Workers) == 0 || n.Miners[m.ID].Accepted != m.Shares {
			t.Errorf("miner %s: workers %v, %d shares, the ledger's %d", m.Address, m.Workers, m.Shares, n.Miners[m.ID].Accepted)
		}
	}
	statuses := map[string]int{}
	for id, p := range h.Expected.Payouts {
		statuses[p.Status]++
		if got := n.Payouts[id]; got == nil || got.Status != p.Status || got.TxID != p.TxID || got.TotalSat != p.TotalSat {
			t.Errorf("payout %s: %+v, the ledger's %+v", id, *p, got)
		}
	}
	for _, s := range []string{"confirmed", "failed", "sent", "conflicted"} {
		if statuses[s] == 0 {
			t.Errorf("no %s payout: %v", s, statuses)
		}
	}
	if h.Expected.Orphans < 2 || h.Expected.ReversedSat == 0 || h.Expected.FeeReversedSat == 0 || !h.Injected {
		t.Errorf("orphans %d, reversed %d, fee reversed %d", h.Expected.Orphans, h.Expected.ReversedSat, h.Expected.FeeReversedSat)
	}
}

// A default history follows the rounds by height as the backend does: the
// policy is recorded before the first credit; every pool block is
// discovered under the rule by height and its round closed in its maturity
// append; every winning share is counted in its own block's round; some
// shares are late; some rounds are empty, with both outcomes, and the carry
// account is taken by a later round. An OldRule history is the release
// before: rounds by position closed at discovery, none of the new events.
func TestGenerate_RoundRules(t *testing.T) {
	cfg := ledgergen.Config{Seed: 11, Miners: 6, ChainBlocks: 200, Maturity: 5, PayoutEvery: 15}
	h := ledgergen.Generate(cfg)
	fold := aggregates.NewLedger(aggregates.LedgerConfig{})
	var policyAt, firstCredit uint64
	outcomes := map[string]int{}
	winners := map[string]events.SolutionAccepted{} // by the block hash it solves
	var carriedIn, late int64
	for _, env := range h.Envelopes {
		ev, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		n := fold.Network(h.Network)
		switch e := ev.(type) {
		case events.PoolPolicySet:
			if policyAt == 0 {
				policyAt = env.Position
			}
		case events.FeeCredited:
			if firstCredit == 0 {
				firstCredit = env.Position
			}
		case events.SolutionAccepted:
			winners[e.BlockHash] = e
		case events.BlockDiscovered:
			if e.RoundRule != events.RoundRuleHeight {
				t.Errorf("block %d discovered under rule %q", e.Height, e.RoundRule)
			}
		case events.RoundClosed:
			b := n.Block(e.BlockHash)
			if e.Rule != events.RoundRuleHeight || b.Confirmations == 0 || e.ToPosition >= env.Position {
				t.Errorf("round of block %d: rule %q, %d confirmations, to position %d at %d", e.Height, e.Rule, b.Confirmations, e.ToPosition, env.Position)
			}
			carriedIn += e.CarriedInSat
			if w, ok := winners[e.BlockHash]; ok {
				found := false
				for _, s := range e.Shares {
					found = found || (s.MinerID == w.MinerID && s.Difficulty >= w.Difficulty)
				}
				if !found || w.PrevHeight+1 != e.Height {
					t.Errorf("block %d: its winning share (miner %s) is not in its round %+v", e.Height, w.MinerID, e.Shares)
				}
			}
		case events.LateSharesCounted:
			late += int64(len(e.Shares))
		case events.RoundEmpty:
			outcomes[e.Outcome]++
		}
		if err := fold.Apply(env); err != nil {
			t.Fatal(err)
		}
	}
	if policyAt == 0 || firstCredit < policyAt {
		t.Errorf("policy at %d, first credit at %d", policyAt, firstCredit)
	}
	if outcomes[events.EmptyRoundToFinder] == 0 || outcomes[events.EmptyRoundCarried] == 0 || carriedIn == 0 || late == 0 {
		t.Errorf("empty rounds %v, carried in %d, late shares %d", outcomes, carriedIn, late)
	}
	if h.Expected.LateShares != late || h.Expected.EmptyRounds != int64(outcomes["finder"]+outcomes["carried"]) ||
		h.Expected.CarrySat != fold.Networks[h.Network].Balances[events.CarryAccountID(h.Network)] {
		t.Errorf("expected late %d empty %d carry %d", h.Expected.LateShares, h.Expected.EmptyRounds, h.Expected.CarrySat)
	}

	cfg.OldRule = true
	old := ledgergen.Generate(cfg)
	types := old.ByType()
	for _, typ := range []string{events.TypePoolPolicySet, events.TypeLateSharesCounted, events.TypeRoundEmpty} {
		if types[typ] != 0 {
			t.Errorf("an old-rule history has %d %s", types[typ], typ)
		}
	}
	if types[events.TypeRoundClosed] != types[events.TypeBlockDiscovered] {
		t.Errorf("old rule: %d rounds for %d blocks", types[events.TypeRoundClosed], types[events.TypeBlockDiscovered])
	}
	for _, env := range old.Envelopes {
		if env.Type == events.TypeBlockDiscovered {
			ev, _ := events.Decode(env)
			if ev.(events.BlockDiscovered).RoundRule != events.RoundRulePosition {
				t.Fatalf("old rule: block discovered under %q", ev.(events.BlockDiscovered).RoundRule)
			}
		}
	}
}

// The generator's own ledger is the one a fresh fold of the log gives.
func TestGenerate_LedgerIsTheFold(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 8, Events: 20000, Network: "test"})
	if len(h.Envelopes) < 20000 {
		t.Fatalf("%d events, asked for 20000", len(h.Envelopes))
	}
	fold := aggregates.NewLedger(aggregates.LedgerConfig{})
	for _, env := range h.Envelopes {
		if err := fold.Apply(env); err != nil {
			t.Fatal(err)
		}
	}
	got, want := h.Ledger.Networks["test"], fold.Networks["test"]
	if len(got.Balances) != len(want.Balances) || got.PayoutCount != want.PayoutCount || len(got.Blocks) != len(want.Blocks) {
		t.Fatalf("ledger: %d balances %d payouts %d blocks; fold: %d %d %d", len(got.Balances), got.PayoutCount, len(got.Blocks),
			len(want.Balances), want.PayoutCount, len(want.Blocks))
	}
	for id, b := range want.Balances {
		if got.Balances[id] != b || b < 0 {
			t.Fatalf("account %s: %d, fold %d", id, got.Balances[id], b)
		}
	}
}

// Every injection finds its opportunity in a default history.
func TestGenerate_Injections(t *testing.T) {
	for _, inj := range ledgergen.Injections {
		h := ledgergen.Generate(ledgergen.Config{Seed: 11, Inject: inj})
		if !h.Injected {
			t.Errorf("no opportunity to inject %s", inj)
		}
	}
	if h := ledgergen.Generate(ledgergen.Config{Seed: 11, OldRule: true, Inject: ledgergen.EmptyRoundToFee}); !h.Injected {
		t.Errorf("no opportunity to inject %s in an old-rule history", ledgergen.EmptyRoundToFee)
	}
}

// Appending Writes in order to an empty store reproduces the positions and
// streams, and so does AppendTo.
func TestWrites_ReproducePositions(t *testing.T) {
	ctx := context.Background()
	h := ledgergen.Generate(ledgergen.Config{Seed: 2, Miners: 3, ChainBlocks: 40})
	for name, load := range map[string]func(s events.Store) error{
		"Writes": func(s events.Store) error {
			for _, w := range h.Writes(100) {
				if _, err := s.Append(ctx, w...); err != nil {
					return err
				}
			}
			return nil
		},
		"AppendTo": func(s events.Store) error { return h.AppendTo(ctx, s, 100) },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := eventsqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := load(s); err != nil {
				t.Fatal(err)
			}
			got, err := s.ReadAll(ctx, 0, len(h.Envelopes)+10)
			if err != nil || len(got) != len(h.Envelopes) {
				t.Fatalf("read %d events (%v), want %d", len(got), err, len(h.Envelopes))
			}
			for i, e := range got {
				w := h.Envelopes[i]
				if e.ID != w.ID || e.Position != w.Position || e.Stream != w.Stream || e.Version != w.Version || e.Type != w.Type {
					t.Fatalf("event %d: stored %s/%d %s at %d, generated %s/%d %s at %d", i, e.Stream, e.Version, e.Type, e.Position, w.Stream, w.Version, w.Type, w.Position)
				}
			}
		})
	}
}
