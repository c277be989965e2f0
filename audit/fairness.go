package audit

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// Fairness (issue 12): the audit re-derives every round from the accepted
// shares, by the rule its block was discovered under, on its own state —
// not through aggregates.Ledger.MaturingOf or CloseRound, so that a bug
// there is caught rather than repeated.
//
//   - Rule by height (events.RoundRuleHeight), closed at maturity with
//     RoundClosed.ToPosition T and the block's height H. PROP: every accepted
//     share stored at or before T, not counted by an earlier round, mined
//     (PrevHeight+1) at or below H; those mined at or below FromHeight (the
//     previous pool block on the chain) are late and exactly the ones
//     LateSharesCounted lists. PPLNS: the last N (PoolPolicySet.PPLNSWindow)
//     shares stored at or before T and mined at or below H, by (mined height,
//     position). SOLO: the finder alone.
//   - Rule by position (releases before), closed at discovery: PROP counts
//     the shares stored in (FromPosition, ToPosition] plus the rounds it
//     carries over; PPLNS the shares in (FromPosition, ToPosition].
//
// Every share keeps which PROP round counted it, so a share counted twice
// is named, whatever the rules of the two rounds.

// fshare is one accepted share as the fairness checks see it.
type fshare struct {
	pos   uint64
	mined int64 // PrevHeight + 1
	diff  int64
	key   uint64 // hashKey of the block hash the share solved
	miner uuid.UUID
	id    uuid.UUID
	by    int32 // 1 + index in fairNet.rounds of the PROP round that counted it; 0: none
}

func (s *fshare) before(o *fshare) bool {
	if s.mined != o.mined {
		return s.mined < o.mined
	}
	return s.pos < o.pos
}

// fairNet is a network's fairness state.
type fairNet struct {
	shares   []fshare         // every accepted share, by position
	byKey    map[uint64]int32 // hashKey(block hash) → index in shares
	open     []int32          // indices of shares no PROP round counted, by position
	rounds   []string         // block hash of each PROP round that counted shares
	policy   *events.PoolPolicySet
	oldTo    uint64 // highest ToPosition of a PROP round by position
	byHeight bool   // a round by height was closed
	pplnsLow int    // shares below this index can be in no PPLNS window any more
	// late is the late list a round by height derived, until its
	// LateSharesCounted (or its BlockMatured) is met.
	late map[string][]events.LateShare
	// onChain lists the discovered pool blocks not orphaned, by height;
	// pending those of them not matured yet.
	onChain []poolRef
	pending map[string]int64
}

type poolRef struct {
	height int64
	hash   string
}

// poolBlockEvent keeps onChain and pending.
func (a *auditor) poolBlockEvent(e events.Event) {
	switch e := e.(type) {
	case events.BlockDiscovered:
		f := a.fair(e.Network)
		if b := a.ledger.Network(e.Network).Block(e.Hash); b.Discovered {
			return // discovered twice: the first counts
		}
		i := sort.Search(len(f.onChain), func(i int) bool { return f.onChain[i].height > e.Height })
		f.onChain = slices.Insert(f.onChain, i, poolRef{e.Height, e.Hash})
		f.pending[e.Hash] = e.Height
	case events.BlockMatured:
		delete(a.fair(e.Network).pending, e.Hash)
	case events.BlockOrphaned:
		f := a.fair(e.Network)
		delete(f.pending, e.Hash)
		f.onChain = slices.DeleteFunc(f.onChain, func(r poolRef) bool { return r.hash == e.Hash })
	}
}

func hashKey(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

func (a *auditor) fair(network string) *fairNet {
	f, ok := a.fairNets[network]
	if !ok {
		f = &fairNet{byKey: map[uint64]int32{}, late: map[string][]events.LateShare{}, pending: map[string]int64{}}
		a.fairNets[network] = f
	}
	return f
}

// shareAt is the index of the share stored at pos (-1: none).
func (f *fairNet) shareAt(pos uint64) int {
	i := sort.Search(len(f.shares), func(i int) bool { return f.shares[i].pos >= pos })
	if i < len(f.shares) && f.shares[i].pos == pos {
		return i
	}
	return -1
}

// winning is the index of the share that solved block hash (-1: none stored).
func (f *fairNet) winning(hash string) int {
	if i, ok := f.byKey[hashKey(hash)]; ok {
		return int(i)
	}
	return -1
}

func (f *fairNet) roundName(by int32) string {
	if by <= 0 || int(by) > len(f.rounds) {
		return "?"
	}
	return f.rounds[by-1]
}

// shareAccepted records an accepted share; a winning share stored after its
// block's round was decided is reported.
func (a *auditor) shareAccepted(pos uint64, e events.SolutionAccepted) {
	f := a.fair(e.Network)
	key := hashKey(e.BlockHash)
	f.byKey[key] = int32(len(f.shares))
	f.open = append(f.open, int32(len(f.shares)))
	f.shares = append(f.shares, fshare{pos: pos, mined: e.PrevHeight + 1, diff: e.Difficulty, key: key, miner: e.MinerID, id: e.SolutionID})
	n, ok := a.ledger.Networks[e.Network]
	if !ok {
		return
	}
	if b, ok := n.Blocks[e.BlockHash]; ok && b.Discovered && b.Round != nil && b.Round.Scheme != events.SchemeSOLO {
		a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash,
			"the winning share %s of block %d was stored after its round was decided at position %d: it counts in a later round",
			e.SolutionID, b.Height, b.Round.ToPosition)
	}
}

// policySet records the crediting policy in force from pos on.
func (a *auditor) policySet(pos uint64, e events.PoolPolicySet) {
	p := e
	a.fair(e.Network).policy = &p
	switch {
	case e.FeeBps < 0 || e.FeeBps > aggregates.MaxFeeBps:
		a.violation(KindFairFee, pos, e.Network, "policy", "a fee of %d basis points", e.FeeBps)
	case e.Scheme != events.SchemePROP && e.Scheme != events.SchemePPLNS && e.Scheme != events.SchemeSOLO:
		a.violation(KindRoundMembership, pos, e.Network, "policy", "unknown scheme %q", e.Scheme)
	case e.PPLNSWindow < 0:
		a.violation(KindRoundMembership, pos, e.Network, "policy", "PPLNS window of %d shares", e.PPLNSWindow)
	}
	a.total(e.Network).FeeBps = e.FeeBps
}

// blockEvent checks the order of a block stream's events and remembers the
// last one: a round by position is written with its block's discovery; a
// round by height only in the maturity append (RoundClosed,
// LateSharesCounted, BlockMatured).
func (a *auditor) blockEvent(pos uint64, network, hash, typ string) {
	notes := a.notes(network, hash)
	if notes == nil {
		return
	}
	prev := notes.last
	notes.prev, notes.last = prev, typ
	if prev == events.TypeRoundClosed && notes.rule == events.RoundRuleHeight && typ != events.TypeLateSharesCounted && typ != events.TypeBlockMatured {
		a.violation(KindFairRoundChanged, notes.roundAt, network, hash,
			"the round by height was not closed in its block's maturity append: %s follows it", typ)
	}
	if prev == events.TypeLateSharesCounted && typ != events.TypeBlockMatured {
		a.violation(KindFairRoundChanged, pos, network, hash, "%s follows the late shares, not BlockMatured", typ)
	}
	if late, ok := a.fair(network).late[hash]; ok && typ != events.TypeLateSharesCounted {
		delete(a.fair(network).late, hash)
		if len(late) > 0 {
			a.violation(KindRoundMembership, pos, network, hash, "the round counts %d late share(s) (first %s, mined on height %d) but no LateSharesCounted names them",
				len(late), late[0].SolutionID, late[0].MinedHeight)
		}
	}
	if typ == events.TypeBlockMatured && notes.rule == events.RoundRuleHeight && prev != events.TypeRoundClosed && prev != events.TypeLateSharesCounted {
		a.violation(KindFairRoundChanged, pos, network, hash, "the block matured without its round by height closed in the same append (the previous event of its stream is %s)", prev)
	}
}

// roundClosed checks a RoundClosed against the state before it and
// re-derives its membership.
func (a *auditor) roundClosed(pos uint64, e events.RoundClosed) {
	f := a.fair(e.Network)
	n := a.ledger.Network(e.Network)
	b := n.Block(e.BlockHash)
	notes := a.notes(e.Network, e.BlockHash)
	t := a.total(e.Network)
	switch {
	case !b.Discovered || notes == nil:
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "round of a block never discovered")
		return
	case b.Round != nil:
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "a second RoundClosed for block %d (the first at position %d decided at %d): the round changed",
			b.Height, notes.roundAt, b.Round.ToPosition)
		return
	case b.Matured || len(b.Credits) > 0 || b.Fee != nil:
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "RoundClosed after block %d matured or was credited", b.Height)
		return
	case e.Rule != b.RoundRule:
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "a round by rule %q for block %d discovered under rule %q", e.Rule, b.Height, b.RoundRule)
		return
	case e.Height != b.Height:
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "round of height %d for block %d", e.Height, b.Height)
		return
	}
	notes.roundAt = pos
	finderKnown := false
	if m, ok := n.Miners[b.Finder]; ok && b.Finder != uuid.Nil && m.Address != "" {
		finderKnown = true
	}
	notes.finderKnown = finderKnown
	if e.Rule == events.RoundRuleHeight {
		t.RoundsByHeight++
		a.roundByHeight(pos, e, f, n, b, finderKnown)
		f.byHeight = true
		return
	}
	t.RoundsByPosition++
	a.roundByPosition(pos, e, f, n, b)
}

// roundByPosition judges a round of the release before the rounds by
// height by the rule that made it.
func (a *auditor) roundByPosition(pos uint64, e events.RoundClosed, f *fairNet, n *aggregates.NetworkLedger, b aggregates.PoolBlock) {
	notes := a.notes(e.Network, e.BlockHash)
	if notes.prev != events.TypeBlockDiscovered {
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "a round by position not written with its block's discovery (it follows %s)", notes.prev)
	}
	if e.CarriedInSat != 0 || e.FromHeight != 0 {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "a round by position with fields of the rule by height (carried in %d sat, from height %d)", e.CarriedInSat, e.FromHeight)
	}
	if e.ToPosition >= pos || e.FromPosition > e.ToPosition {
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "a round by position over (%d, %d], decided at position %d", e.FromPosition, e.ToPosition, pos)
		return
	}
	lo := sort.Search(len(f.shares), func(i int) bool { return f.shares[i].pos > e.FromPosition })
	hi := sort.Search(len(f.shares), func(i int) bool { return f.shares[i].pos > e.ToPosition })
	var tallies []events.ShareTally
	switch e.Scheme {
	case events.SchemePROP:
		if e.FromPosition < f.oldTo {
			a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "the round counts positions (%d, %d], the previous round by position counted up to %d: positions (%d, %d] twice",
				e.FromPosition, e.ToPosition, f.oldTo, e.FromPosition, min(f.oldTo, e.ToPosition))
		}
		f.oldTo = max(f.oldTo, e.ToPosition)
		f.rounds = append(f.rounds, e.BlockHash)
		by := int32(len(f.rounds))
		reported := false
		for i := lo; i < hi; i++ {
			s := &f.shares[i]
			tallies = append(tallies, events.ShareTally{MinerID: s.miner, Shares: 1, Difficulty: s.diff})
			if s.by != 0 && !reported && f.roundName(s.by) != e.BlockHash {
				a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "share %s (position %d) was counted by the round of block %s and again by this one",
					s.id, s.pos, f.roundName(s.by))
				reported = true
			}
			if s.by == 0 {
				s.by = by
			}
		}
		f.dropCounted()
		tallies = append(tallies, a.carriedOver(pos, e, n)...)
	case events.SchemePPLNS:
		for i := lo; i < hi; i++ {
			s := &f.shares[i]
			tallies = append(tallies, events.ShareTally{MinerID: s.miner, Shares: 1, Difficulty: s.diff})
		}
	case events.SchemeSOLO:
		tallies = []events.ShareTally{{MinerID: b.Finder, Shares: 1, Difficulty: 1}}
	default:
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "unknown scheme %q", e.Scheme)
		return
	}
	a.compareTallies(pos, e, f, tallies, -1)
	if e.Scheme == events.SchemeSOLO {
		return
	}
	w := f.winning(e.BlockHash)
	if w < 0 {
		return
	}
	s := f.shares[w]
	switch {
	case s.mined != b.Height:
		a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s was mined on height %d, its block is at %d", s.id, s.mined, b.Height)
	case s.pos > e.ToPosition:
		a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d) was stored after its round was decided at %d",
			s.id, s.pos, e.ToPosition)
	case s.pos <= e.FromPosition:
		where := "an earlier round"
		if s.by != 0 && e.Scheme == events.SchemePROP {
			where = "the round of block " + f.roundName(s.by)
		}
		a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d) is outside its round (%d, %d]: it was counted in %s",
			s.id, s.pos, e.FromPosition, e.ToPosition, where)
	}
}

// checkCarryOvers: a round by position must carry over every round of a
// block orphaned before maturity not carried yet.
// carriedOver checks a PROP round's carried-over rounds (of blocks
// orphaned before maturity, rule by position) and returns their tallies.
func (a *auditor) carriedOver(pos uint64, e events.RoundClosed, n *aggregates.NetworkLedger) []events.ShareTally {
	var tallies []events.ShareTally
	carried := map[string]bool{}
	for _, h := range e.CarriedOver {
		c, ok := n.Blocks[h]
		switch {
		case carried[h]:
			a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "the round carries over block %s's round twice", h)
			continue
		case !ok || c.Round == nil || !c.Orphaned || c.Matured:
			a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round carries over block %s, not a round orphaned before maturity", h)
			continue
		}
		carried[h] = true
		tallies = append(tallies, c.Round.Shares...)
	}
	a.checkCarryOvers(pos, e, n, carried)
	return tallies
}

func (a *auditor) checkCarryOvers(pos uint64, e events.RoundClosed, n *aggregates.NetworkLedger, carried map[string]bool) {
	for _, c := range n.Carry {
		if !carried[c.BlockHash] {
			a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round leaves out the round of orphaned block %s (%d shares)", c.BlockHash, c.TotalShares)
		}
	}
}

// dropCounted keeps in open only the shares no PROP round counted.
func (f *fairNet) dropCounted() {
	kept := f.open[:0]
	for _, i := range f.open {
		if f.shares[i].by == 0 {
			kept = append(kept, i)
		}
	}
	f.open = kept
}

// roundByHeight re-derives a round by height (see the comment at the top).
func (a *auditor) roundByHeight(pos uint64, e events.RoundClosed, f *fairNet, n *aggregates.NetworkLedger, b aggregates.PoolBlock, finderKnown bool) {
	if e.ToPosition >= pos {
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "the round's membership is dated position %d, not before the round itself (%d)", e.ToPosition, pos)
		return
	}
	// The scheme in force.
	scheme := events.SchemePROP
	window := aggregates.DefaultPPLNSWindow
	if f.policy != nil {
		scheme = f.policy.Scheme
		if f.policy.PPLNSWindow > 0 {
			window = f.policy.PPLNSWindow
		}
	} else {
		scheme = e.Scheme // no policy recorded: the round's own
	}
	if scheme == events.SchemeSOLO && !finderKnown {
		scheme = events.SchemePROP
	}
	if e.Scheme != scheme {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "round by scheme %s, the policy in force is %s", e.Scheme, scheme)
		return
	}
	// The previous pool block on the chain; every lower one must be
	// credited already (rounds by height are credited in height order).
	var from int64
	if i := sort.Search(len(f.onChain), func(i int) bool { return f.onChain[i].height >= b.Height }); i > 0 {
		from = f.onChain[i-1].height
	}
	var below []string
	for hash, h := range f.pending {
		if h < b.Height {
			below = append(below, fmt.Sprintf("%s at height %d", hash, h))
		}
	}
	if len(below) > 0 {
		sort.Strings(below)
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round of block %d was closed while lower pool blocks were still pending: %s",
			b.Height, strings.Join(below, ", "))
	}
	if e.FromHeight != from {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round starts above height %d, the previous pool block on the chain is at %d", e.FromHeight, from)
	}
	var tallies []events.ShareTally
	var members []int
	var late []events.LateShare
	switch scheme {
	case events.SchemePROP:
		for _, i := range f.open {
			s := &f.shares[i]
			if s.pos > e.ToPosition {
				break
			}
			if s.mined > b.Height {
				continue
			}
			members = append(members, int(i))
			tallies = append(tallies, events.ShareTally{MinerID: s.miner, Shares: 1, Difficulty: s.diff})
			if s.mined <= from {
				late = append(late, events.LateShare{SolutionID: s.id, MinerID: s.miner, MinedHeight: s.mined, Difficulty: s.diff})
			}
		}
		tallies = append(tallies, a.carriedOver(pos, e, n)...)
	case events.SchemePPLNS:
		var cand []int
		for i := f.pplnsLow; i < len(f.shares); i++ {
			s := &f.shares[i]
			if s.pos > e.ToPosition {
				break
			}
			if s.mined <= b.Height {
				cand = append(cand, i)
			}
		}
		sort.SliceStable(cand, func(x, y int) bool { return f.shares[cand[x]].before(&f.shares[cand[y]]) })
		if len(cand) > window {
			cand = cand[len(cand)-window:]
			// A share before the window's first can be in no later window:
			// those after it stay eligible and there are enough of them.
			first := &f.shares[cand[0]]
			for f.pplnsLow < len(f.shares) && f.shares[f.pplnsLow].before(first) {
				f.pplnsLow++
			}
		}
		for _, i := range cand {
			s := &f.shares[i]
			members = append(members, i)
			tallies = append(tallies, events.ShareTally{MinerID: s.miner, Shares: 1, Difficulty: s.diff})
		}
	case events.SchemeSOLO:
		tallies = []events.ShareTally{{MinerID: b.Finder, Shares: 1, Difficulty: 1}}
	default:
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "unknown scheme %q", e.Scheme)
		return
	}
	w := f.winning(e.BlockHash)
	if scheme != events.SchemeSOLO && w >= 0 {
		s := f.shares[w]
		member := false
		for _, i := range members {
			if i == w {
				member = true
				break
			}
		}
		switch {
		case s.mined != b.Height:
			a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s was mined on height %d, its block is at %d", s.id, s.mined, b.Height)
		case s.pos > e.ToPosition:
			a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d) was stored after its round was decided at %d",
				s.id, s.pos, e.ToPosition)
		case s.by != 0:
			a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d) was counted in the round of block %s, not its own",
				s.id, s.pos, f.roundName(s.by))
		case !member:
			a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d) is not in its round", s.id, s.pos)
		}
	}
	if scheme == events.SchemePROP {
		f.rounds = append(f.rounds, e.BlockHash)
		by := int32(len(f.rounds))
		a.compareTallies(pos, e, f, tallies, w)
		for _, i := range members {
			f.shares[i].by = by
		}
		f.dropCounted()
		f.late[e.BlockHash] = late
	} else {
		a.compareTallies(pos, e, f, tallies, w)
	}
	// The carry account: a round with shares, or an empty one with a known
	// finder, takes all of it.
	carry := a.account(e.Network, events.CarryAccountID(e.Network)).BalanceSat
	_, diff, _ := aggregates.RoundTotals(tallies)
	want := int64(0)
	if carry > 0 && (diff > 0 || finderKnown) {
		want = carry
	}
	if e.CarriedInSat != want {
		a.violation(KindCarryAccount, pos, e.Network, e.BlockHash, "the round takes %s BBP from the carry account, which holds %s BBP: it should take %s",
			FormatBBP(e.CarriedInSat), FormatBBP(carry), FormatBBP(want))
	}
}

// lateCounted compares a LateSharesCounted with the late shares the round
// by height derived.
func (a *auditor) lateCounted(pos uint64, e events.LateSharesCounted) {
	f := a.fair(e.Network)
	notes := a.notes(e.Network, e.BlockHash)
	a.total(e.Network).LateShares += int64(len(e.Shares))
	want, ok := f.late[e.BlockHash]
	if notes == nil || notes.prev != events.TypeRoundClosed || !ok {
		a.violation(KindFairRoundChanged, pos, e.Network, e.BlockHash, "late shares not written right after the block's round by height")
		return
	}
	delete(f.late, e.BlockHash)
	derived := map[uuid.UUID]events.LateShare{}
	for _, s := range want {
		derived[s.SolutionID] = s
	}
	var diffs []string
	listed := map[uuid.UUID]bool{}
	for _, s := range e.Shares {
		d, ok := derived[s.SolutionID]
		switch {
		case listed[s.SolutionID]:
			a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "late share %s listed twice", s.SolutionID)
		case ok && (d.MinerID != s.MinerID || d.MinedHeight != s.MinedHeight || d.Difficulty != s.Difficulty):
			diffs = append(diffs, fmt.Sprintf("%s: listed miner %s height %d difficulty %d, stored %s %d %d", s.SolutionID,
				s.MinerID, s.MinedHeight, s.Difficulty, d.MinerID, d.MinedHeight, d.Difficulty))
		case !ok:
			if by := f.countedBy(s.SolutionID); by != "" && by != e.BlockHash {
				a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "late share %s was counted already, by the round of block %s", s.SolutionID, by)
			} else {
				diffs = append(diffs, fmt.Sprintf("%s is listed, not late", s.SolutionID))
			}
		}
		listed[s.SolutionID] = true
	}
	for _, s := range want {
		if !listed[s.SolutionID] {
			diffs = append(diffs, fmt.Sprintf("%s (mined on height %d) is late, not listed", s.SolutionID, s.MinedHeight))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the late shares differ from the re-derivation: %s", strings.Join(diffs, "; "))
	}
}

// countedBy names the block whose PROP round counted solution id ("" when
// none or unknown).
func (f *fairNet) countedBy(id uuid.UUID) string {
	for i := len(f.shares) - 1; i >= 0; i-- {
		if f.shares[i].id == id {
			if f.shares[i].by == 0 {
				return ""
			}
			return f.roundName(f.shares[i].by)
		}
	}
	return ""
}

// compareTallies compares a round's tallies with the derived ones. What
// differs is explained, when it can be, as the winning share left out or a
// share an earlier round counted; the rest is a membership difference.
func (a *auditor) compareTallies(pos uint64, e events.RoundClosed, f *fairNet, derived []events.ShareTally, win int) {
	want, err := aggregates.MergeTallies(derived)
	if err != nil {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the derived round cannot be summed: %v", err)
		return
	}
	got, err := aggregates.MergeTallies(e.Shares)
	if err != nil {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round's tallies: %v", err)
		return
	}
	type delta struct{ shares, diff int64 }
	deltas := map[uuid.UUID]delta{}
	for _, t := range got {
		d := deltas[t.MinerID]
		deltas[t.MinerID] = delta{d.shares + t.Shares, d.diff + t.Difficulty}
	}
	for _, t := range want {
		d := deltas[t.MinerID]
		deltas[t.MinerID] = delta{d.shares - t.Shares, d.diff - t.Difficulty}
	}
	ids := make([]uuid.UUID, 0, len(deltas))
	for id, d := range deltas {
		if d != (delta{}) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	var diffs []string
	for _, id := range ids {
		d := deltas[id]
		if win >= 0 {
			if s := f.shares[win]; s.miner == id && d.shares == -1 && d.diff == -s.diff {
				a.violation(KindFairWinningShare, pos, e.Network, e.BlockHash, "the winning share %s (position %d, difficulty %d) is left out of its round",
					s.id, s.pos, s.diff)
				continue
			}
		}
		if d.shares == 1 && d.diff > 0 && e.Scheme == events.SchemePROP {
			if s := f.countedShare(id, d.diff, e.ToPosition, e.BlockHash); s != nil {
				a.violation(KindFairDoubleCount, pos, e.Network, e.BlockHash, "the round counts share %s (position %d, difficulty %d) that the round of block %s counted",
					s.id, s.pos, s.diff, f.roundName(s.by))
				continue
			}
		}
		diffs = append(diffs, fmt.Sprintf("miner %s: %+d shares, %+d difficulty", id, d.shares, d.diff))
	}
	if len(diffs) > 0 {
		a.violation(KindRoundMembership, pos, e.Network, e.BlockHash, "the round's tallies differ from the re-derivation (recorded − derived): %s", strings.Join(diffs, "; "))
	}
}

// countedShare finds a share of miner with difficulty diff, stored at or
// before pos, that another round counted (the latest such).
func (f *fairNet) countedShare(miner uuid.UUID, diff int64, pos uint64, block string) *fshare {
	for i := len(f.shares) - 1; i >= 0; i-- {
		s := &f.shares[i]
		if s.pos <= pos && s.by != 0 && s.miner == miner && s.diff == diff && f.roundName(s.by) != block {
			return s
		}
	}
	return nil
}
