package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
)

// PayoutLookup returns the items of a payout planned before the events being
// folded (the incremental writer reads them from the payout_items table).
// A PayoutFailed, PayoutConflicted or PayoutCorrected names only its
// payout; its items say whose balances get the amounts back.
type PayoutLookup func(ctx context.Context, network string, payoutID uuid.UUID) ([]events.PayoutItem, error)

// ErrUnknownPayout is returned when a PayoutFailed names a payout whose
// PayoutPlanned was never seen.
var ErrUnknownPayout = errors.New("projections: payout failed before it was planned")

// Changes is a fold of events into per-row changes of every read-model
// table. Folding is pure: no I/O apart from the PayoutLookup, no clock.
// Folded from an empty read model it is the final rows (a rebuild); folded
// from a checkpoint it is the change to merge into the stored rows.
type Changes struct {
	sets   map[string]*rowSet
	items  map[uuid.UUID][]events.PayoutItem
	lookup PayoutLookup
	// Last is the position of the last folded event (the new checkpoint).
	Last uint64
	// Events counts the folded events (those without a view included).
	Events int
}

// NewChanges starts an empty fold. lookup may be nil when the fold starts
// from an empty read model.
func NewChanges(lookup PayoutLookup) *Changes {
	c := &Changes{sets: map[string]*rowSet{}, items: map[uuid.UUID][]events.PayoutItem{}, lookup: lookup}
	for _, t := range tables {
		c.sets[t.name] = newRowSet(t)
	}
	return c
}

// Rows is the number of changed rows across all tables.
func (c *Changes) Rows() int {
	n := 0
	for _, s := range c.sets {
		n += s.len()
	}
	return n
}

// Fold folds events in position order. Events of types this build does not
// know are skipped (a newer backend may write them); a known event that does
// not decode is an error, and nothing of the call should be written.
func (c *Changes) Fold(ctx context.Context, envs []events.Envelope) error {
	for i := range envs {
		ev, err := decode(&envs[i])
		if err != nil {
			return err
		}
		if err := c.FoldDecoded(ctx, &envs[i], ev); err != nil {
			return err
		}
	}
	return nil
}

// decode is events.Decode that maps a type unknown to this build to nil.
func decode(env *events.Envelope) (events.Event, error) {
	if env.Type == events.TypeBibleHashReserved {
		// Written with every accepted share and shown nowhere: skipping
		// its decoding saves a good part of a rebuild's CPU.
		return nil, nil
	}
	if env.SchemaVersion == events.SchemaVersion {
		// The three types of nearly every event are decoded with the
		// json v2 decoder (about 3x faster); anything it refuses goes
		// through events.Decode, which has the last word.
		var ev events.Event
		var err error
		switch env.Type {
		case events.TypeWorkIssued:
			var e events.WorkIssued
			if err = jsonv2.Unmarshal(env.Data, &e); err == nil {
				ev = e
			}
		case events.TypeSolutionAccepted:
			var e events.SolutionAccepted
			if err = jsonv2.Unmarshal(env.Data, &e); err == nil {
				ev = e
			}
		case events.TypeSolutionRejected:
			var e events.SolutionRejected
			if err = jsonv2.Unmarshal(env.Data, &e); err == nil {
				ev = e
			}
		}
		if ev != nil && err == nil {
			return ev, nil
		}
	}
	ev, err := events.Decode(*env)
	if errors.Is(err, events.ErrUnknownType) {
		return nil, nil
	}
	return ev, err
}

// FoldDecoded folds one event already decoded by events.Decode (nil for a
// type this build does not know). Rebuilds decode in parallel and fold here.
func (c *Changes) FoldDecoded(ctx context.Context, env *events.Envelope, ev events.Event) error {
	if env.Position <= c.Last && c.Last != 0 {
		return fmt.Errorf("projections: event at position %d after %d: not in position order", env.Position, c.Last)
	}
	if ev != nil {
		if err := c.apply(ctx, env, ev); err != nil {
			return fmt.Errorf("projections: %s at position %d: %w", env.Type, env.Position, err)
		}
	}
	c.Events++
	c.Last = env.Position
	return nil
}

// Hour is the UTC hour of t as Unix seconds / 3600, the key of the
// per-hour tables.
func Hour(t time.Time) int64 { return t.Unix() / 3600 }

// HourTime is the start of an hour of the per-hour tables.
func HourTime(hour int64) time.Time { return time.Unix(hour*3600, 0).UTC() }

// chainDifficulty is the network difficulty of a ChainBlockRecorded's block
// (expected hashes, like a share's difficulty) from its header's nBits when
// the event carries them: "bits" as getblock reports them ("1e0ffff0") or
// as a number. 0 when absent or unusable.
func chainDifficulty(data []byte) int64 {
	var v struct {
		Bits json.RawMessage `json:"bits"`
	}
	if !bytes.Contains(data, []byte(`"bits"`)) || json.Unmarshal(data, &v) != nil || len(v.Bits) == 0 {
		return 0
	}
	var bits uint64
	var err error
	if s := string(v.Bits); strings.HasPrefix(s, `"`) {
		bits, err = strconv.ParseUint(strings.Trim(s, `"`), 16, 32)
	} else {
		bits, err = strconv.ParseUint(s, 10, 32)
	}
	if err != nil || bits == 0 {
		return 0
	}
	t := biblepay.CompactToTarget(uint32(bits))
	if t.Sign() <= 0 || t.BitLen() > 256 {
		return 0
	}
	d, err := biblepay.Difficulty(biblepay.FormatHash(t))
	if err != nil {
		return 0
	}
	return d
}

// Day is the UTC calendar day of t, the key of the per-day tables.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func at(t time.Time, env *events.Envelope) time.Time {
	if t.IsZero() {
		t = env.RecordedAt
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (c *Changes) apply(ctx context.Context, env *events.Envelope, ev events.Event) error {
	miners, workers, mdays, pdays := c.sets[TMiners], c.sets[TWorkers], c.sets[TMinerDays], c.sets[TPoolDays]
	pool := c.sets[TPool]
	blocks, rounds, ledger := c.sets[TBlocks], c.sets[TRoundMiners], c.sets[TLedger]
	payouts, items := c.sets[TPayouts], c.sets[TPayoutItems]
	txs, sends := c.sets[TPayoutTxs], c.sets[TPayoutSends]

	touchPool := func(network string, t time.Time) row {
		r := pool.get(network)
		pool.put(r, "last_event_at", t)
		return r
	}
	entry := func(network string, account uuid.UUID, kind string, amount int64, block string, height int64, payout uuid.UUID, note string, t time.Time) {
		r := ledger.get(env.ID, account)
		ledger.put(r, "network", network)
		ledger.put(r, "position", int64(env.Position))
		ledger.put(r, "kind", kind)
		ledger.put(r, "amount_sat", amount)
		ledger.put(r, "block_hash", block)
		ledger.put(r, "height", height)
		ledger.put(r, "payout_id", payout)
		ledger.put(r, "note", note)
		ledger.put(r, "at", t)
	}

	switch e := ev.(type) {
	case events.MinerRegistered:
		t := at(e.At, env)
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "address", e.Address)
		miners.put(r, "registered_at", t)
		touchPool(e.Network, t)

	case events.WorkerRegistered:
		t := at(e.At, env)
		w := workers.get(e.Network, e.MinerID, e.Worker)
		workers.put(w, "first_seen", t)
		workers.put(w, "last_seen", t)

	case events.MinerDisabled:
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "state", "disabled")
		miners.put(r, "state_reason", e.Reason)
		miners.put(r, "directory_pos", int64(env.Position))

	case events.MinerEnabled:
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "state", "enabled")
		miners.put(r, "state_reason", "")
		miners.put(r, "directory_pos", int64(env.Position))

	case events.MinerTargetChanged:
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "target", e.Target)
		miners.put(r, "directory_pos", int64(env.Position))

	case events.WorkIssued:
		t := at(e.At, env)
		// Not the target: a work only echoes what the frontend read, which
		// may predate the miner's last MinerTargetChanged (the projector
		// would then hand the old target out again). Only the backend's
		// decision sets it; until then the frontend uses the default.
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "address", e.Address)
		w := workers.get(e.Network, e.MinerID, e.Worker)
		workers.put(w, "first_seen", t)
		workers.put(w, "last_seen", t)

	case events.SolutionAccepted:
		t := at(e.At, env)
		day := Day(t)
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "address", e.Address)
		miners.put(r, "shares", int64(1))
		miners.put(r, "difficulty", e.Difficulty)
		miners.put(r, "last_share_at", t)
		w := workers.get(e.Network, e.MinerID, e.Worker)
		workers.put(w, "first_seen", t)
		workers.put(w, "last_seen", t)
		workers.put(w, "last_share_at", t)
		workers.put(w, "shares", int64(1))
		workers.put(w, "difficulty", e.Difficulty)
		workers.put(w, "hashrate_hps", e.HashrateHPS)
		d := mdays.get(e.Network, e.MinerID, day)
		mdays.put(d, "shares", int64(1))
		mdays.put(d, "difficulty", e.Difficulty)
		p := pdays.get(e.Network, day)
		pdays.put(p, "shares", int64(1))
		pdays.put(p, "difficulty", e.Difficulty)
		pr := touchPool(e.Network, t)
		pool.put(pr, "shares", int64(1))
		pool.put(pr, "difficulty", e.Difficulty)
		hour := Hour(t)
		ph := c.sets[TPoolHours].get(e.Network, hour)
		c.sets[TPoolHours].put(ph, "shares", int64(1))
		c.sets[TPoolHours].put(ph, "difficulty", e.Difficulty)
		mh := c.sets[TMinerHours].get(e.Network, e.MinerID, hour)
		c.sets[TMinerHours].put(mh, "shares", int64(1))
		c.sets[TMinerHours].put(mh, "difficulty", e.Difficulty)
		mined := e.PrevHeight + 1
		pt := c.sets[TPoolHeights].get(e.Network, mined)
		c.sets[TPoolHeights].put(pt, "shares", int64(1))
		c.sets[TPoolHeights].put(pt, "difficulty", e.Difficulty)
		mt := c.sets[TMinerHeights].get(e.Network, e.MinerID, mined)
		c.sets[TMinerHeights].put(mt, "shares", int64(1))
		c.sets[TMinerHeights].put(mt, "difficulty", e.Difficulty)

	case events.SolutionRejected:
		t := at(e.At, env)
		day := Day(t)
		r := miners.get(e.Network, e.MinerID)
		if e.Address != "" {
			miners.put(r, "address", e.Address)
		}
		miners.put(r, "rejected", int64(1))
		w := workers.get(e.Network, e.MinerID, e.Worker)
		workers.put(w, "first_seen", t)
		workers.put(w, "last_seen", t)
		workers.put(w, "rejected", int64(1))
		d := mdays.get(e.Network, e.MinerID, day)
		mdays.put(d, "rejected", int64(1))
		p := pdays.get(e.Network, day)
		pdays.put(p, "rejected", int64(1))
		rj := c.sets[TRejections].get(e.Network, e.MinerID, day, e.Worker, e.Reason)
		c.sets[TRejections].put(rj, "count", int64(1))
		c.sets[TRejections].put(rj, "last_at", t)
		c.sets[TRejections].put(rj, "last_detail", e.Detail)
		pool.put(touchPool(e.Network, t), "rejected", int64(1))
		ph := c.sets[TPoolHours].get(e.Network, Hour(t))
		c.sets[TPoolHours].put(ph, "rejected", int64(1))
		mh := c.sets[TMinerHours].get(e.Network, e.MinerID, Hour(t))
		c.sets[TMinerHours].put(mh, "rejected", int64(1))
		pc := c.sets[TPoolCounters].get(e.Network, "rejected", e.Reason)
		c.sets[TPoolCounters].put(pc, "total", int64(1))

	case events.BibleHashReserved:
		// Nothing to show: the reservation exists for uniqueness only.

	case events.ChainBlockRecorded:
		r := c.sets[TChain].get(e.Network, e.Height)
		c.sets[TChain].put(r, "hash", e.Hash)
		c.sets[TChain].put(r, "block_time", e.Time.UTC().Truncate(time.Microsecond))
		c.sets[TChain].put(r, "difficulty", chainDifficulty(env.Data))

	case events.BlockDiscovered:
		t := at(e.At, env)
		b := blocks.get(e.Network, e.Hash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "finder_miner_id", e.FinderMinerID)
		blocks.put(b, "recipient", e.Recipient)
		blocks.put(b, "reward_sat", e.RewardSat)
		blocks.put(b, "status", "pending")
		blocks.put(b, "block_time", e.BlockTime.UTC().Truncate(time.Microsecond))
		blocks.put(b, "discovered_at", t)
		blocks.put(b, "round_rule", e.RoundRule)
		p := pdays.get(e.Network, Day(t))
		pdays.put(p, "blocks_found", int64(1))
		pdays.put(p, "reward_sat", e.RewardSat)
		pr := touchPool(e.Network, t)
		pool.put(pr, "blocks_found", int64(1))
		pool.put(pr, "reward_sat", e.RewardSat)
		pool.put(pr, "last_block_at", t)

	case events.RoundClosed:
		// Rule position: written with BlockDiscovered. Rule height: written
		// with BlockMatured and the credits (in that append, before them),
		// so a pending block of that rule has no round yet ("round open").
		// Nothing here depends on which of the block's events came first.
		t := at(e.At, env)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "scheme", e.Scheme)
		blocks.put(b, "round_rule", e.Rule)
		blocks.put(b, "round_closed_at", t)
		blocks.put(b, "round_from_height", e.FromHeight)
		blocks.put(b, "carried_in_sat", e.CarriedInSat)
		if e.CarriedInSat != 0 {
			carry := events.CarryAccountID(e.Network)
			pool.put(touchPool(e.Network, t), "carried_sat", -e.CarriedInSat)
			entry(e.Network, carry, "carry_out", -e.CarriedInSat, e.BlockHash, e.Height, uuid.Nil,
				fmt.Sprintf("block %d: its round (%d shares) takes %s BBP carried from earlier rounds without shares", e.Height, e.TotalShares, FormatBBP(e.CarriedInSat)), t)
		}
		blocks.put(b, "round_shares", e.TotalShares)
		blocks.put(b, "round_difficulty", e.TotalDifficulty)
		blocks.put(b, "round_miners", int64(len(e.Shares)))
		for _, s := range e.Shares {
			r := rounds.get(e.Network, e.BlockHash, s.MinerID)
			rounds.put(r, "address", s.Address)
			rounds.put(r, "height", e.Height)
			rounds.put(r, "round_id", e.RoundID)
			rounds.put(r, "shares", s.Shares)
			rounds.put(r, "difficulty", s.Difficulty)
			rounds.put(r, "round_shares", e.TotalShares)
			rounds.put(r, "round_difficulty", e.TotalDifficulty)
		}

	case events.LateSharesCounted:
		// Shares stored after the round of their height had been credited:
		// they count in this block's round (already in its RoundClosed).
		t := at(e.At, env)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "late_shares", int64(len(e.Shares)))
		missed := map[string]int64{}
		for _, sh := range e.Shares {
			if sh.MissedBlock != "" && sh.MissedBlock != e.BlockHash {
				missed[sh.MissedBlock]++
			}
		}
		for hash, n := range missed {
			blocks.put(blocks.get(e.Network, hash), "late_counted_later", n)
		}
		pool.put(touchPool(e.Network, t), "late_shares", int64(len(e.Shares)))

	case events.RoundEmpty:
		// A matured block's round had no share. The fee is still exactly
		// its bps (FeeCredited); the miners' part went to the finder (a
		// MinerCredited follows) or into the carry account, which is owed
		// to the next round with shares: never to the fee account, never a
		// miner's balance.
		t := at(e.At, env)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "empty_outcome", e.Outcome)
		blocks.put(b, "empty_sat", e.AmountSat)
		pr := touchPool(e.Network, t)
		pool.put(pr, "empty_rounds", int64(1))
		switch e.Outcome {
		case events.EmptyRoundToFinder:
			pool.put(pr, "empty_finder_sat", e.AmountSat)
		case events.EmptyRoundCarried:
			pool.put(pr, "carried_sat", e.AmountSat)
			entry(e.Network, events.CarryAccountID(e.Network), "carry_in", e.AmountSat, e.BlockHash, e.Height, uuid.Nil,
				fmt.Sprintf("block %d: its round had no share and no known finder; %s BBP wait for the next round with shares", e.Height, FormatBBP(e.AmountSat)), t)
		}

	case events.PoolPolicySet:
		t := at(e.At, env)
		pr := touchPool(e.Network, t)
		pool.put(pr, "policy_scheme", e.Scheme)
		pool.put(pr, "fee_bps", e.FeeBps)
		pool.put(pr, "pplns_window", int64(e.PPLNSWindow))
		pool.put(pr, "policy_at", t)

	case events.BlockConfirmed:
		b := blocks.get(e.Network, e.Hash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "confirmations", e.Confirmations)

	case events.BlockMatured:
		t := at(e.At, env)
		b := blocks.get(e.Network, e.Hash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "reward_sat", e.RewardSat)
		blocks.put(b, "confirmations", e.Confirmations)
		blocks.put(b, "status", "matured")
		blocks.put(b, "matured_at", t)
		pool.put(touchPool(e.Network, t), "blocks_matured", int64(1))

	case events.BlockOrphaned:
		t := at(e.At, env)
		b := blocks.get(e.Network, e.Hash)
		blocks.put(b, "height", e.Height)
		blocks.put(b, "status", "orphaned")
		blocks.put(b, "orphaned_at", t)
		blocks.put(b, "replaced_by", e.ReplacedBy)
		pool.put(touchPool(e.Network, t), "blocks_orphaned", int64(1))

	case events.MinerCredited:
		t := at(e.At, env)
		r := miners.get(e.Network, e.MinerID)
		miners.put(r, "address", e.Address)
		miners.put(r, "credited_sat", e.AmountSat)
		miners.put(r, "balance_sat", e.AmountSat)
		d := mdays.get(e.Network, e.MinerID, Day(t))
		mdays.put(d, "credited_sat", e.AmountSat)
		rm := rounds.get(e.Network, e.BlockHash, e.MinerID)
		rounds.put(rm, "address", e.Address)
		rounds.put(rm, "height", e.Height)
		rounds.put(rm, "round_id", e.RoundID)
		rounds.put(rm, "shares", e.MinerShares)
		rounds.put(rm, "difficulty", e.MinerDifficulty)
		rounds.put(rm, "round_shares", e.RoundShares)
		rounds.put(rm, "round_difficulty", e.RoundDifficulty)
		rounds.put(rm, "reward_sat", e.RewardSat)
		rounds.put(rm, "fee_sat", e.FeeSat)
		rounds.put(rm, "amount_sat", e.AmountSat)
		rounds.put(rm, "credited_at", t)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "credited_sat", e.AmountSat)
		pool.put(touchPool(e.Network, t), "credited_sat", e.AmountSat)
		note := fmt.Sprintf("block %d: %d of %d shares, %s of the round's work; reward %s BBP, pool fee %s BBP",
			e.Height, e.MinerShares, e.RoundShares, SharePercent(e.MinerDifficulty, e.RoundDifficulty, e.MinerShares, e.RoundShares),
			FormatBBP(e.RewardSat), FormatBBP(e.FeeSat))
		if e.RoundShares == 0 && e.RoundDifficulty == 0 {
			// RoundEmpty, outcome finder: the whole miners' part.
			note = fmt.Sprintf("block %d: you found it and its round had no share, so the miners' part is yours; reward %s BBP, pool fee %s BBP",
				e.Height, FormatBBP(e.RewardSat), FormatBBP(e.FeeSat))
		}
		entry(e.Network, e.MinerID, "credit", e.AmountSat, e.BlockHash, e.Height, uuid.Nil, note, t)

	case events.FeeCredited:
		t := at(e.At, env)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "fee_sat", e.AmountSat)
		blocks.put(b, "fee_bps", e.FeeBps)
		blocks.put(b, "fee_set", "yes")
		pool.put(touchPool(e.Network, t), "fee_sat", e.AmountSat)
		entry(e.Network, e.AccountID, "fee", e.AmountSat, e.BlockHash, e.Height, uuid.Nil,
			fmt.Sprintf("pool fee of block %d (%d bps)", e.Height, e.FeeBps), t)

	case events.CreditReversed:
		t := at(e.At, env)
		b := blocks.get(e.Network, e.BlockHash)
		blocks.put(b, "reversed_sat", e.AmountSat)
		pr := touchPool(e.Network, t)
		kind := "reversal"
		if e.AccountID == events.CarryAccountID(e.Network) {
			// The carry account is never a miner.
			pool.put(pr, "carried_sat", -e.AmountSat)
			entry(e.Network, e.AccountID, "carry_reversal", -e.AmountSat, e.BlockHash, 0, uuid.Nil,
				fmt.Sprintf("block %s left the chain: %s", short(e.BlockHash), e.Reason), t)
			break
		}
		if e.Fee {
			kind = "fee_reversal"
			pool.put(pr, "fee_reversed_sat", e.AmountSat)
		} else {
			pool.put(pr, "reversed_sat", e.AmountSat)
			r := miners.get(e.Network, e.AccountID)
			miners.put(r, "address", e.Address)
			miners.put(r, "reversed_sat", e.AmountSat)
			miners.put(r, "balance_sat", -e.AmountSat)
			rm := rounds.get(e.Network, e.BlockHash, e.AccountID)
			rounds.put(rm, "reversed_sat", e.AmountSat)
		}
		entry(e.Network, e.AccountID, kind, -e.AmountSat, e.BlockHash, 0, uuid.Nil,
			fmt.Sprintf("block %s left the chain: %s", short(e.BlockHash), e.Reason), t)

	case events.PayoutPlanned:
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "planned")
		payouts.put(p, "total_sat", e.TotalSat)
		payouts.put(p, "items", int64(len(e.Items)))
		payouts.put(p, "planned_at", t)
		payouts.put(p, "changed_at", t)
		payouts.put(p, "pool_id", e.PoolID)
		if e.Anchor != nil {
			payouts.put(p, "anchor_size", int64(e.Anchor.Size))
			payouts.put(p, "anchor_root", e.Anchor.Root)
			payouts.put(p, "anchor_hash", e.Anchor.Hash)
		}
		pr := touchPool(e.Network, t)
		pool.put(pr, "paid_sat", e.TotalSat)
		pool.put(pr, "payouts", int64(1))
		c.items[e.PayoutID] = e.Items
		for _, it := range e.Items {
			pi := items.get(e.PayoutID, it.MinerID)
			items.put(pi, "network", e.Network)
			items.put(pi, "address", it.Address)
			items.put(pi, "amount_sat", it.AmountSat)
			r := miners.get(e.Network, it.MinerID)
			miners.put(r, "address", it.Address)
			miners.put(r, "paid_sat", it.AmountSat)
			miners.put(r, "balance_sat", -it.AmountSat)
			entry(e.Network, it.MinerID, "payout", -it.AmountSat, "", 0, e.PayoutID,
				fmt.Sprintf("payout %s of %s BBP to %s", short(e.PayoutID.String()), FormatBBP(it.AmountSat), it.Address), t)
		}

	case events.PayoutSigned:
		// Signed and recorded before it is broadcast: not settled, no
		// balance changes. The payout's transaction and fee are this
		// one's until it is sent, or recorded dead.
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "signed")
		payouts.put(p, "tx_set", "yes")
		payouts.put(p, "txid", e.TxID)
		payouts.put(p, "fee_sat", e.FeeSat)
		payouts.put(p, "attempts", int64(e.Attempt))
		payouts.put(p, "changed_at", t)
		tx := txs.get(e.PayoutID, e.TxID)
		txs.put(tx, "network", e.Network)
		txs.put(tx, "attempt", int64(e.Attempt))
		txs.put(tx, "fee_sat", e.FeeSat)
		txs.put(tx, "inputs", int64(len(e.Inputs)))
		txs.put(tx, "signed_at", t)
		for _, it := range e.Sends {
			s := sends.get(e.PayoutID, e.TxID, it.MinerID)
			sends.put(s, "network", e.Network)
			sends.put(s, "address", it.Address)
			sends.put(s, "amount_sat", it.AmountSat)
		}
		touchPool(e.Network, t)

	case events.PayoutTxDead:
		// That transaction can never confirm: the payout is planned
		// again (a new PayoutSigned follows). No balance changes.
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "planned")
		payouts.put(p, "tx_set", "yes")
		payouts.put(p, "txid", "")
		payouts.put(p, "fee_sat", int64(0))
		payouts.put(p, "changed_at", t)
		tx := txs.get(e.PayoutID, e.TxID)
		txs.put(tx, "network", e.Network)
		txs.put(tx, "dead_at", t)
		txs.put(tx, "spent_input", e.SpentInput)
		txs.put(tx, "dead_reason", e.Reason)
		touchPool(e.Network, t)

	case events.PayoutSent:
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "sent")
		payouts.put(p, "tx_set", "yes")
		payouts.put(p, "txid", e.TxID)
		payouts.put(p, "fee_sat", e.FeeSat)
		payouts.put(p, "sent_at", t)
		payouts.put(p, "changed_at", t)
		touchPool(e.Network, t)

	case events.PayoutConfirmed:
		// Its txid is the sent one's (DecidePayoutConfirmed): the
		// transaction columns stay as PayoutSent set them.
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "confirmed")
		payouts.put(p, "confirmations", e.Confirmations)
		payouts.put(p, "confirmed_at", t)
		payouts.put(p, "changed_at", t)

	case events.PayoutHalted:
		t := at(e.At, env)
		p := payouts.get(e.Network, e.PayoutID)
		payouts.put(p, "status", "halted")
		payouts.put(p, "reason", e.Reason)
		payouts.put(p, "halted_at", t)
		payouts.put(p, "changed_at", t)

	case events.PoolInstalled:
		t := at(e.At, env)
		r := c.sets[TInstallation].get(e.PoolID)
		c.sets[TInstallation].put(r, "position", int64(env.Position))
		c.sets[TInstallation].put(r, "installed_at", t)

	case events.PayoutFailed, events.PayoutConflicted, events.PayoutCorrected:
		// Nothing was paid: the amounts return to the balances. A
		// conflicted or corrected payout keeps its txid (the transaction
		// it was recorded in); failed_at is when the amounts came back.
		network, id, status, reason, kind, why := returned(e)
		t := at(eventTime(e), env)
		its, ok := c.items[id]
		if !ok {
			if c.lookup == nil {
				return fmt.Errorf("%w: %s", ErrUnknownPayout, id)
			}
			var err error
			if its, err = c.lookup(ctx, network, id); err != nil {
				return err
			}
			if len(its) == 0 {
				return fmt.Errorf("%w: %s", ErrUnknownPayout, id)
			}
		}
		p := payouts.get(network, id)
		payouts.put(p, "status", status)
		payouts.put(p, "reason", reason)
		payouts.put(p, "failed_at", t)
		payouts.put(p, "changed_at", t)
		var total int64
		for _, it := range its {
			total += it.AmountSat
			r := miners.get(network, it.MinerID)
			miners.put(r, "paid_sat", -it.AmountSat)
			miners.put(r, "balance_sat", it.AmountSat)
			entry(network, it.MinerID, kind, it.AmountSat, "", 0, id,
				fmt.Sprintf("payout %s %s: %s BBP returned to the balance", short(id.String()), why, FormatBBP(it.AmountSat)), t)
		}
		pool.put(touchPool(network, t), "paid_sat", -total)

	case events.PayoutsPaused:
		pr := touchPool(e.Network, at(e.At, env))
		pool.put(pr, "payouts_state", "paused")
		pool.put(pr, "payouts_reason", e.Reason)

	case events.PayoutsResumed:
		pr := touchPool(e.Network, at(e.At, env))
		pool.put(pr, "payouts_state", "running")
		pool.put(pr, "payouts_reason", "")
	}
	return nil
}

// returned describes an event that returns a payout's amounts: its
// payout, the payout's new status and reason, the ledger entry's kind and
// why the money came back.
func returned(e events.Event) (network string, id uuid.UUID, status, reason, kind, why string) {
	switch e := e.(type) {
	case events.PayoutFailed:
		return e.Network, e.PayoutID, "failed", e.Reason, "payout_failed", "failed (" + e.Reason + ")"
	case events.PayoutConflicted:
		reason := fmt.Sprintf("transaction %s conflicted", e.TxID)
		if len(e.Conflicts) > 0 {
			reason += " by " + strings.Join(e.Conflicts, ", ")
		}
		if e.Reason != "" {
			reason += ": " + e.Reason
		}
		return e.Network, e.PayoutID, "conflicted", reason, "payout_conflicted", "conflicted (its transaction " + short(e.TxID) + " was double spent)"
	case events.PayoutCorrected:
		reason := fmt.Sprintf("recorded in transaction %s, which does not pay it", e.TxID)
		if e.Reason != "" {
			reason += ": " + e.Reason
		}
		why := "corrected (it was recorded as sent in transaction " + short(e.TxID) + ", which does not pay it"
		if e.Reason != "" {
			why += ": " + e.Reason
		}
		return e.Network, e.PayoutID, "corrected", reason, "payout_corrected", why + ")"
	}
	return "", uuid.Nil, "", "", "", ""
}

func eventTime(e events.Event) time.Time {
	switch e := e.(type) {
	case events.PayoutFailed:
		return e.At
	case events.PayoutConflicted:
		return e.At
	case events.PayoutCorrected:
		return e.At
	}
	return time.Time{}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
