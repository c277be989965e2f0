package audit_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
)

// A history of the release before the rounds by height (rounds by
// position, no PoolPolicySet) still replays and audits clean, judged by
// the rule that made it; its empty rounds, whose whole reward that release
// gave to the fee account, are findings (audit.KindOldEmptyRound), not
// violations.
func TestOldRuleHistories(t *testing.T) {
	for _, cfg := range []ledgergen.Config{
		{Seed: 1, OldRule: true},
		{Seed: 2, OldRule: true, Miners: 3, FeeBps: 1, PoolBlockEvery: 2},
		{Seed: 4, OldRule: true, Events: 6000},
	} {
		h := ledgergen.Generate(cfg)
		rep := mustRun(t, h, audit.Options{PageSize: 500})
		if !rep.OK() {
			t.Fatalf("seed %d: %d violations, first: %v", cfg.Seed, len(rep.Violations), rep.Violations[0])
		}
		n := rep.Networks[0]
		if n.RoundsByHeight != 0 || n.RoundsByPosition != n.BlocksDiscovered || n.FeeBps != -1 || n.BlocksMatured == 0 ||
			n.CreditedSat+n.FeeSat != n.RewardSat || n.CarrySat != 0 {
			t.Fatalf("seed %d: totals %+v", cfg.Seed, n)
		}
	}
	h := ledgergen.Generate(ledgergen.Config{Seed: 11, OldRule: true, Inject: ledgergen.EmptyRoundToFee})
	if !h.Injected {
		t.Fatal("no empty round in the old-rule history")
	}
	rep := mustRun(t, h, audit.Options{})
	if !rep.OK() || len(rep.Findings) != 1+rep.CountFindings(audit.KindPayoutCorrected) || rep.CountFindings(audit.KindOldEmptyRound) != 1 || rep.Networks[0].EmptyKeptByPool != 1 {
		t.Fatalf("violations %v, findings %v, totals %+v", rep.Violations, rep.Findings, rep.Networks[0])
	}
}

// edit rewrites the data of the event at pos (1-based) and re-chains the
// log after it, as an attacker who rewrites the whole suffix would (or a
// buggy release): only the ledger checks can tell.
func edit(t *testing.T, envs []events.Envelope, pos uint64, f func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(envs[pos-1].Data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	envs[pos-1].Data = data
	for i := int(pos - 1); i < len(envs); i++ {
		if i > 0 {
			envs[i].PrevHash = envs[i-1].Hash
		}
		envs[i].Hash = events.ChainHash(envs[i].PrevHash, envs[i])
	}
}

func decoded(t *testing.T, env events.Envelope) events.Event {
	t.Helper()
	e, err := events.Decode(env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// find is the position of the first event of typ after position from
// that satisfies ok.
func find(t *testing.T, envs []events.Envelope, from uint64, typ string, ok func(events.Event) bool) uint64 {
	t.Helper()
	for _, env := range envs[from:] {
		if env.Type == typ && (ok == nil || ok(decoded(t, env))) {
			return env.Position
		}
	}
	t.Fatalf("no %s after position %d", typ, from)
	return 0
}

// Fairness violations made by editing a history's events, each caught by
// its kind (others may follow from it, as a round left unjudged leaves its
// shares to the next).
func TestFairnessEdits(t *testing.T) {
	height := ledgergen.Generate(ledgergen.Config{Seed: 31, ChainBlocks: 150, Maturity: 6})
	old := ledgergen.Generate(ledgergen.Config{Seed: 31, ChainBlocks: 80, OldRule: true})
	cases := []struct {
		name      string
		h         *ledgergen.History
		edit      func(t *testing.T, envs []events.Envelope)
		kind      audit.Kind
		mayFollow []audit.Kind
	}{
		{"round by height decided at its own position", height, func(t *testing.T, envs []events.Envelope) {
			p := find(t, envs, 0, events.TypeRoundClosed, nil)
			edit(t, envs, p, func(m map[string]any) { m["to_position"] = float64(p) })
		}, audit.KindFairRoundChanged, []audit.Kind{audit.KindRoundMembership, audit.KindFairDoubleCount}},
		{"a late share left out of the list", height, func(t *testing.T, envs []events.Envelope) {
			p := find(t, envs, 0, events.TypeLateSharesCounted, nil)
			edit(t, envs, p, func(m map[string]any) { m["shares"] = m["shares"].([]any)[1:] })
		}, audit.KindRoundMembership, nil},
		{"a round with another FromHeight", height, func(t *testing.T, envs []events.Envelope) {
			p := find(t, envs, uint64(len(envs)/2), events.TypeRoundClosed, nil)
			edit(t, envs, p, func(m map[string]any) { m["from_height"] = float64(1) })
		}, audit.KindRoundMembership, nil},
		{"the policy says 2 %, blocks are credited at 1 %", height, func(t *testing.T, envs []events.Envelope) {
			p := find(t, envs, 0, events.TypePoolPolicySet, nil)
			edit(t, envs, p, func(m map[string]any) { m["fee_bps"] = float64(200) })
		}, audit.KindFairFee, nil},
		{"a round by height closed with the block's discovery", height, func(t *testing.T, envs []events.Envelope) {
			// The confirmation right after the discovery becomes the
			// round (the same round as the block's real one, a second time).
			p := find(t, envs, 0, events.TypeRoundClosed, nil)
			rc := decoded(t, envs[p-1]).(events.RoundClosed)
			c := find(t, envs, 0, events.TypeBlockConfirmed, func(e events.Event) bool { return e.(events.BlockConfirmed).Hash == rc.BlockHash })
			rc.ToPosition = c - 1
			data, _ := json.Marshal(rc)
			envs[c-1].Type, envs[c-1].Data = events.TypeRoundClosed, data
			edit(t, envs, c, func(map[string]any) {})
		}, audit.KindFairRoundChanged, []audit.Kind{audit.KindRoundMembership, audit.KindFairDoubleCount, audit.KindFairWinningShare, audit.KindCarryAccount, audit.KindSplitMismatch}},
		{"a fee not FeeOf the reward (no policy recorded)", old, func(t *testing.T, envs []events.Envelope) {
			p := find(t, envs, 0, events.TypeFeeCredited, nil)
			fee := decoded(t, envs[p-1]).(events.FeeCredited)
			c := find(t, envs, 0, events.TypeMinerCredited, func(e events.Event) bool { return e.(events.MinerCredited).BlockHash == fee.BlockHash })
			edit(t, envs, c, func(m map[string]any) { m["amount_sat"] = m["amount_sat"].(float64) - 1 })
			edit(t, envs, p, func(m map[string]any) { m["amount_sat"] = m["amount_sat"].(float64) + 1 })
		}, audit.KindFairFee, []audit.Kind{audit.KindSplitMismatch, audit.KindNegativeBalance}}, // the miner was paid what it had
		{"old rule: the winning share counted in the previous block's round", old, func(t *testing.T, envs []events.Envelope) {
			// The example: the winning share of one pool block
			// (stored before the previous one's round closed) counted there.
			r1 := find(t, envs, 0, events.TypeRoundClosed, nil)
			r2 := find(t, envs, r1, events.TypeRoundClosed, nil)
			next := decoded(t, envs[r2-1]).(events.RoundClosed)
			s := find(t, envs, r1-20, events.TypeSolutionAccepted, nil)
			if s >= r1 {
				t.Fatal("no share before the first round")
			}
			edit(t, envs, s, func(m map[string]any) {
				m["block_hash"] = next.BlockHash
				m["prev_height"] = float64(next.Height - 1)
			})
		}, audit.KindFairWinningShare, nil},
		{"old rule: overlapping rounds", old, func(t *testing.T, envs []events.Envelope) {
			r1 := find(t, envs, 0, events.TypeRoundClosed, nil)
			r2 := find(t, envs, r1, events.TypeRoundClosed, nil)
			first := decoded(t, envs[r1-1]).(events.RoundClosed)
			edit(t, envs, r2, func(m map[string]any) { m["from_position"] = float64(first.FromPosition) })
		}, audit.KindFairDoubleCount, []audit.Kind{audit.KindRoundMembership}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			envs := slices.Clone(c.h.Envelopes)
			c.edit(t, envs)
			rep := mustRun(t, sliceReader(envs), audit.Options{})
			got := kinds(rep)
			if got[c.kind] == 0 {
				t.Fatalf("%s not reported: %v", c.kind, rep.Violations)
			}
			for k := range got {
				if k != c.kind && !slices.Contains(c.mayFollow, k) {
					t.Errorf("unexpected %s: %v", k, rep.Violations)
				}
			}
		})
	}
}
