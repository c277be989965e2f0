package aggregates

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// PoolBlock is the state of a block-{net}-{hash} stream: a block that pays
// the pool.
type PoolBlock struct {
	Network    string
	Hash       string
	Height     int64
	Discovered bool
	Finder     uuid.UUID
	RewardSat  int64
	BlockTime  time.Time
	// RoundRule is the rule the block's round is made by (events.RoundRule*).
	RoundRule     string
	Round         *events.RoundClosed
	Late          *events.LateSharesCounted
	Empty         *events.RoundEmpty
	Confirmations int64
	Matured       bool
	Credits       []events.MinerCredited
	Fee           *events.FeeCredited
	Orphaned      bool
	// OrphanedAfterMaturity: the block left the chain after it was credited.
	OrphanedAfterMaturity bool
	Reversals             []events.CreditReversed
	// FeeBps is the fee of the crediting policy in force when the block was
	// discovered (PoolPolicySet), which its crediting uses; FeeKnown is
	// false for a block found before any policy was recorded. The ledger
	// sets both when it folds BlockDiscovered.
	FeeBps   int64
	FeeKnown bool
}

// Pending reports a discovered block that is neither matured nor orphaned.
func (b PoolBlock) Pending() bool { return b.Discovered && !b.Matured && !b.Orphaned }

// Apply folds one event of the block's stream.
func (b PoolBlock) Apply(e events.Event) PoolBlock {
	switch e := e.(type) {
	case events.BlockDiscovered:
		b.Network, b.Hash, b.Height, b.Discovered = e.Network, e.Hash, e.Height, true
		b.Finder, b.RewardSat, b.BlockTime, b.RoundRule = e.FinderMinerID, e.RewardSat, e.BlockTime, e.RoundRule
	case events.RoundClosed:
		r := e
		b.Round = &r
	case events.LateSharesCounted:
		l := e
		b.Late = &l
	case events.RoundEmpty:
		x := e
		b.Empty = &x
	case events.BlockConfirmed:
		b.Confirmations = max(b.Confirmations, e.Confirmations)
	case events.BlockMatured:
		b.Matured, b.Confirmations, b.RewardSat = true, max(b.Confirmations, e.Confirmations), e.RewardSat
	case events.MinerCredited:
		b.Credits = append(b.Credits[:len(b.Credits):len(b.Credits)], e)
	case events.FeeCredited:
		f := e
		b.Fee = &f
	case events.BlockOrphaned:
		b.Orphaned, b.OrphanedAfterMaturity = true, e.AfterMaturity
	case events.CreditReversed:
		b.Reversals = append(b.Reversals[:len(b.Reversals):len(b.Reversals)], e)
	}
	return b
}

// DecideDiscover records a pool block. Under the rule by height (the rule
// of this release) its round is closed when it matures: r must be nil. Under
// the rule by position, r is the round it pays for and both events are
// written in one append with expected version NoStream. A block already
// discovered gives no event.
func DecideDiscover(b PoolBlock, d events.BlockDiscovered, r *events.RoundClosed) ([]events.Event, error) {
	if b.Discovered {
		return nil, nil
	}
	switch {
	case d.Hash == "" || d.Network == "":
		return nil, fmt.Errorf("%w: block without hash or network", ErrInvalid)
	case d.RewardSat < 0:
		return nil, fmt.Errorf("%w: negative reward %d", ErrInvalid, d.RewardSat)
	case d.RoundRule == events.RoundRuleHeight && r != nil:
		return nil, fmt.Errorf("%w: a round by height is closed at maturity, not at discovery", ErrInvalid)
	case d.RoundRule == events.RoundRuleHeight:
		return []events.Event{d}, nil
	case d.RoundRule != events.RoundRulePosition:
		return nil, fmt.Errorf("%w: round rule %q", ErrInvalid, d.RoundRule)
	case r == nil:
		return nil, fmt.Errorf("%w: a round by position is closed at discovery", ErrInvalid)
	case r.BlockHash != d.Hash || r.Network != d.Network || r.Height != d.Height:
		return nil, fmt.Errorf("%w: round %s/%d is not for block %s/%d", ErrInvalid, r.BlockHash, r.Height, d.Hash, d.Height)
	}
	if r.Scheme != events.SchemePROP && r.Scheme != events.SchemePPLNS && r.Scheme != events.SchemeSOLO {
		return nil, fmt.Errorf("%w: scheme %q", ErrInvalid, r.Scheme)
	}
	merged, err := MergeTallies(r.Shares)
	if err != nil {
		return nil, err
	}
	shares, diff, err := RoundTotals(merged)
	if err != nil {
		return nil, err
	}
	rc := *r
	rc.Shares, rc.TotalShares, rc.TotalDifficulty = merged, shares, diff
	return []events.Event{d, rc}, nil
}

// DecideConfirm records a confirmation count when it grew by at least step
// since the last record (or reached its first confirmation). It changes
// nothing for a matured or orphaned block.
func DecideConfirm(b PoolBlock, confirmations, step int64, at time.Time) ([]events.Event, error) {
	if !b.Pending() || confirmations <= b.Confirmations {
		return nil, nil
	}
	if b.Confirmations > 0 && confirmations-b.Confirmations < max(step, 1) {
		return nil, nil
	}
	return []events.Event{events.BlockConfirmed{Network: b.Network, Hash: b.Hash, Height: b.Height, Confirmations: confirmations, At: at}}, nil
}

// MaturityPolicy is a network's crediting configuration.
type MaturityPolicy struct {
	Maturity int64 // confirmations needed (101 on BiblePay)
	FeeBps   int64
}

// DecideMature credits a pool block that reached the maturity depth. Rule
// by height: first the RoundClosed of m.Round (and m.Late), decided now.
// Then BlockMatured; one MinerCredited per miner with a non-zero part; and a
// FeeCredited (even of 0) of exactly FeeOf(reward, FeeBps), such that
//
//	credits + fee == reward + carried in − carried out
//
// where a round takes the whole carry account (RoundClosed.CarriedInSat)
// and an empty round with no known finder puts its miners' part into it
// (RoundEmpty). An empty round never gives its reward to the fee account: a
// RoundEmpty says where it went (to the finder, credited, or carried).
func DecideMature(b PoolBlock, confirmations int64, p MaturityPolicy, m Maturing, at time.Time) ([]events.Event, error) {
	if !b.Pending() || confirmations < p.Maturity {
		return nil, nil
	}
	r := b.Round
	var out []events.Event
	switch {
	case r != nil && m.Round != nil:
		return nil, fmt.Errorf("%w: block %s has its round already", ErrConflict, b.Hash)
	case r == nil && m.Round == nil:
		return nil, fmt.Errorf("%w: block %s has no round", ErrConflict, b.Hash)
	case m.Round != nil:
		if b.RoundRule != events.RoundRuleHeight || m.Round.Rule != events.RoundRuleHeight || m.Round.BlockHash != b.Hash ||
			m.Round.Network != b.Network || m.Round.Height != b.Height || m.Round.CarriedInSat < 0 {
			return nil, fmt.Errorf("%w: round %s/%d (rule %q) for block %s/%d (rule %q)", ErrInvalid,
				m.Round.BlockHash, m.Round.Height, m.Round.Rule, b.Hash, b.Height, b.RoundRule)
		}
		r = m.Round
		out = append(out, *r)
		if m.Late != nil && len(m.Late.Shares) > 0 {
			out = append(out, *m.Late)
		}
	}
	fee, err := FeeOf(b.RewardSat, p.FeeBps)
	if err != nil {
		return nil, err
	}
	rest := b.RewardSat - fee + r.CarriedInSat
	if r.CarriedInSat > 0 && rest < r.CarriedInSat {
		return nil, fmt.Errorf("%w: carried amount", ErrOverflow)
	}
	out = append(out, events.BlockMatured{Network: b.Network, Hash: b.Hash, Height: b.Height, RewardSat: b.RewardSat, Confirmations: confirmations, At: at})
	credit := func(c Credit) {
		out = append(out, events.MinerCredited{
			Network: b.Network, MinerID: c.MinerID, Address: c.Address, BlockHash: b.Hash, Height: b.Height,
			RoundID: r.RoundID, RewardSat: b.RewardSat, FeeSat: fee, RoundShares: r.TotalShares,
			RoundDifficulty: r.TotalDifficulty, MinerShares: c.Shares, MinerDifficulty: c.Difficulty,
			AmountSat: c.AmountSat, At: at,
		})
	}
	credits, err := Distribute(rest, r.Shares)
	if err != nil {
		return nil, err
	}
	switch {
	case len(credits) > 0 || rest == 0:
		for _, c := range credits {
			credit(c)
		}
	case m.Finder.MinerID != uuid.Nil:
		out = append(out, events.RoundEmpty{Network: b.Network, BlockHash: b.Hash, Height: b.Height, Outcome: events.EmptyRoundToFinder,
			FinderMinerID: m.Finder.MinerID, Address: m.Finder.Address, AmountSat: rest, At: at})
		credit(Credit{MinerID: m.Finder.MinerID, Address: m.Finder.Address, AmountSat: rest})
	default:
		if r.CarriedInSat > 0 {
			return nil, fmt.Errorf("%w: an empty round without a finder cannot take the carry account", ErrInvalid)
		}
		out = append(out, events.RoundEmpty{Network: b.Network, BlockHash: b.Hash, Height: b.Height, Outcome: events.EmptyRoundCarried,
			FinderMinerID: b.Finder, AmountSat: rest, At: at})
	}
	out = append(out, events.FeeCredited{Network: b.Network, AccountID: events.FeeAccountID(b.Network), BlockHash: b.Hash, Height: b.Height, FeeBps: p.FeeBps, AmountSat: fee, At: at})
	return out, nil
}

// DecideOrphan records that the block left the best chain. Before maturity
// nothing was credited: a round by position is carried into the next one
// (the ledger does that when it folds BlockOrphaned), and the shares of a
// round by height, never counted, belong to the next pool block's heights.
// After maturity, what the block's own reward credited is reversed
// (ReversedOnOrphan): the fee, and the miners' credits or what its empty
// round put into the carry account. An orphaned block gives no further
// event.
func DecideOrphan(b PoolBlock, replacedBy string, at time.Time) ([]events.Event, error) {
	if !b.Discovered || b.Orphaned {
		return nil, nil
	}
	out := []events.Event{events.BlockOrphaned{Network: b.Network, Hash: b.Hash, Height: b.Height, ReplacedBy: replacedBy, AfterMaturity: b.Matured, At: at}}
	if !b.Matured {
		return out, nil
	}
	reason := fmt.Sprintf("block %s at height %d left the chain after maturity (replaced by %s)", b.Hash, b.Height, replacedBy)
	rev, err := ReversedOnOrphan(b)
	if err != nil {
		return nil, err
	}
	for _, c := range b.Credits {
		if amount := rev[c.MinerID]; amount > 0 {
			out = append(out, events.CreditReversed{Network: b.Network, AccountID: c.MinerID, Address: c.Address, BlockHash: b.Hash, AmountSat: amount, Reason: reason, At: at})
			delete(rev, c.MinerID) // one reversal per account
		}
	}
	carry := events.CarryAccountID(b.Network)
	if amount := rev[carry]; amount > 0 {
		out = append(out, events.CreditReversed{Network: b.Network, AccountID: carry, BlockHash: b.Hash, AmountSat: amount, Reason: reason, At: at})
	}
	if b.Fee != nil && b.Fee.AmountSat > 0 {
		out = append(out, events.CreditReversed{Network: b.Network, AccountID: b.Fee.AccountID, BlockHash: b.Hash, AmountSat: b.Fee.AmountSat, Fee: true, Reason: reason, At: at})
	}
	return out, nil
}

// ReversedOnOrphan is what a matured block that leaves the chain takes
// back, per account: its fee, and its own reward's miners' part (reward −
// fee) — from the miners it credited, or from the carry account when its
// empty round put it there. What its round took from the carry account
// came from blocks still on the chain: the miners keep it. Their part of
// the reversal is their credits' share of reward − fee (Distribute weighted
// by the credits), never more than a credit.
func ReversedOnOrphan(b PoolBlock) (map[uuid.UUID]int64, error) {
	out := map[uuid.UUID]int64{}
	if b.Fee != nil && b.Fee.AmountSat > 0 {
		out[b.Fee.AccountID] += b.Fee.AmountSat
	}
	var fee, credited, carriedIn int64
	if b.Fee != nil {
		fee = b.Fee.AmountSat
	}
	if b.Round != nil {
		carriedIn = b.Round.CarriedInSat
	}
	if b.Empty != nil && b.Empty.Outcome == events.EmptyRoundCarried {
		out[events.CarryAccountID(b.Network)] += b.Empty.AmountSat
		return out, nil
	}
	weights := make([]events.ShareTally, 0, len(b.Credits))
	for _, c := range b.Credits {
		credited += c.AmountSat
		weights = append(weights, events.ShareTally{MinerID: c.MinerID, Address: c.Address, Difficulty: c.AmountSat})
	}
	if carriedIn == 0 { // the usual case: every credit, exactly
		for _, c := range b.Credits {
			out[c.MinerID] += c.AmountSat
		}
		return out, nil
	}
	own := min(max(b.RewardSat-fee, 0), credited)
	parts, err := Distribute(own, weights)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		out[p.MinerID] += p.AmountSat
	}
	return out, nil
}
