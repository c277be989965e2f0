package aggregates

import (
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// Rounds by height (events.RoundRuleHeight).
//
// A share counts in the round of the height it was mined on (its previous
// height + 1), whatever the order and the delay in which the backend
// validated it. A pool block's round is closed when the block matures, in
// the same append as its credits, so every share validated until then
// counts in it:
//
//   - PROP: every accepted share not yet counted in a round whose mined
//     height is at or below the block's height. Those mined at or below the
//     previous pool block's height were stored after that round had been
//     credited: they are late, and a LateSharesCounted event names them.
//   - PPLNS: the last N accepted shares by mined height (then by position)
//     whose mined height is at or below the block's height.
//   - SOLO: the finder alone (PROP when the finder is not a known miner).
//
// The winning share of a block is mined on the block's own height, so it
// always counts in its own block's round once it is stored before the
// block matures (100 blocks later on BiblePay).

// Maturing is what crediting a pool block needs beyond the block itself:
// built from the ledger by Ledger.MaturingOf.
type Maturing struct {
	// Round is the round closed now (rule height); nil for a block whose
	// round was closed at its discovery (rule position).
	Round *events.RoundClosed
	// Late lists the round's late shares (nil when none).
	Late *events.LateSharesCounted
	// Finder is the block's finder when the coinbase names a known miner
	// (Shares and Difficulty unused); zero otherwise.
	Finder events.ShareTally
}

// MaturingOf builds what DecideMature needs to credit the pool block hash
// under the network's scheme, from the ledger as folded so far. It refuses
// (ErrConflict) while a lower pool block on the chain is still pending: rounds
// by height are credited in height order, so that each knows which shares
// its predecessor counted.
func (l *Ledger) MaturingOf(network, hash, scheme string, at time.Time) (Maturing, error) {
	n := l.Network(network)
	b, ok := n.Blocks[hash]
	if !ok || !b.Discovered {
		return Maturing{}, fmt.Errorf("%w: no pool block %s", ErrInvalid, hash)
	}
	var m Maturing
	if f, ok := n.Miners[b.Finder]; ok && b.Finder != uuid.Nil && f.Address != "" {
		m.Finder = events.ShareTally{MinerID: b.Finder, Address: f.Address}
	}
	if b.Round != nil { // closed at discovery (rule position)
		return m, nil
	}
	blocks := n.chainPoolBlocks()
	var prev int64
	for _, pb := range blocks {
		if pb.Height >= b.Height {
			break
		}
		if pb.Pending() {
			return Maturing{}, fmt.Errorf("%w: pool block %s at height %d is still pending below %s at %d",
				ErrConflict, pb.Hash, pb.Height, b.Hash, b.Height)
		}
		prev = pb.Height
	}
	r := events.RoundClosed{
		Network: network, RoundID: RoundID(network, hash), BlockHash: hash, Height: b.Height,
		Scheme: scheme, ToPosition: l.Position, Rule: events.RoundRuleHeight, FromHeight: prev, At: at,
	}
	if scheme == events.SchemeSOLO && m.Finder.MinerID == uuid.Nil {
		scheme = events.SchemePROP
		r.Scheme = scheme
	}
	var tallies []events.ShareTally
	add := func(s ShareEntry) {
		tallies = append(tallies, events.ShareTally{MinerID: s.MinerID, Address: s.Address, Shares: 1, Difficulty: s.Difficulty})
	}
	var late []events.LateShare
	switch scheme {
	case events.SchemePROP:
		for _, s := range n.Open {
			if s.MinedHeight > b.Height {
				continue
			}
			add(s)
			if s.MinedHeight <= prev {
				late = append(late, events.LateShare{SolutionID: s.SolutionID, MinerID: s.MinerID, MinedHeight: s.MinedHeight,
					Difficulty: s.Difficulty, MissedBlock: missedBlock(blocks, s.MinedHeight)})
			}
		}
		for _, c := range n.Carry { // rounds by position of blocks orphaned before maturity
			tallies = append(tallies, c.Shares...)
			r.CarriedOver = append(r.CarriedOver, c.BlockHash)
		}
	case events.SchemePPLNS:
		for _, s := range pplnsWindow(n.Window, b.Height, n.pplnsWindow()) {
			add(s)
		}
	case events.SchemeSOLO:
		tallies = []events.ShareTally{{MinerID: m.Finder.MinerID, Address: m.Finder.Address, Shares: 1, Difficulty: 1}}
	default:
		return Maturing{}, fmt.Errorf("%w: scheme %q", ErrInvalid, scheme)
	}
	merged, err := MergeTallies(tallies)
	if err != nil {
		return Maturing{}, err
	}
	r.Shares = merged
	if r.TotalShares, r.TotalDifficulty, err = RoundTotals(merged); err != nil {
		return Maturing{}, err
	}
	if carry := n.Balances[events.CarryAccountID(network)]; carry > 0 && (r.TotalDifficulty > 0 || m.Finder.MinerID != uuid.Nil) {
		r.CarriedInSat = carry
	}
	m.Round = &r
	if len(late) > 0 {
		m.Late = &events.LateSharesCounted{Network: network, BlockHash: hash, Height: b.Height, Shares: late, At: at}
	}
	return m, nil
}

// countedOut drops from the open shares those a round by height counted:
// stored at or before position, mined at or below height.
func countedOut(open []ShareEntry, position uint64, height int64) []ShareEntry {
	kept := make([]ShareEntry, 0, len(open))
	for _, s := range open {
		if s.Position <= position && s.MinedHeight <= height {
			continue
		}
		kept = append(kept, s)
	}
	return kept
}

// pplnsWindow is the last n shares by mined height, then position, among
// those mined at or below height.
func pplnsWindow(window []ShareEntry, height int64, n int) []ShareEntry {
	w := make([]ShareEntry, 0, len(window))
	for _, s := range window {
		if s.MinedHeight <= height {
			w = append(w, s)
		}
	}
	sort.SliceStable(w, func(i, j int) bool {
		if w[i].MinedHeight != w[j].MinedHeight {
			return w[i].MinedHeight < w[j].MinedHeight
		}
		return w[i].Position < w[j].Position
	})
	if len(w) > n {
		w = w[len(w)-n:]
	}
	return w
}

// chainPoolBlocks lists the network's pool blocks that are not orphaned, by
// height.
func (n *NetworkLedger) chainPoolBlocks() []*PoolBlock {
	out := make([]*PoolBlock, 0, len(n.Blocks))
	for _, b := range n.Blocks {
		if b.Discovered && !b.Orphaned {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Height < out[j].Height })
	return out
}

// missedBlock is the pool block whose round a share mined at height belongs
// to: the lowest one at or above it ("" when none).
func missedBlock(blocks []*PoolBlock, height int64) string {
	i := sort.Search(len(blocks), func(i int) bool { return blocks[i].Height >= height })
	if i == len(blocks) {
		return ""
	}
	return blocks[i].Hash
}
