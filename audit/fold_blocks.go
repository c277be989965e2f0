package audit

// The fold's checks of each pool block on the final state: its share-out
// recomputed, and where the reward of a round without shares went.

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

func (a *auditor) finishBlock(n *aggregates.NetworkLedger, b aggregates.PoolBlock, t *Totals) {
	notes := a.notes(n.Name, b.Hash)
	if notes == nil {
		notes = &blockNotes{}
	}
	hash := b.Hash
	if hash == "" { // credited or reversed, never discovered: the aggregate knows no hash
		for _, c := range b.Credits {
			hash = c.BlockHash
		}
		for _, r := range b.Reversals {
			hash = r.BlockHash
		}
		if b.Fee != nil {
			hash = b.Fee.BlockHash
		}
	}
	if b.Discovered {
		t.BlocksDiscovered++
	}
	if b.Orphaned {
		t.BlocksOrphaned++
	}
	credited := map[uuid.UUID]int64{}
	var sum int64
	for _, c := range b.Credits {
		credited[c.MinerID] += c.AmountSat
		sum += c.AmountSat
	}
	var feeSat int64
	if b.Fee != nil {
		feeSat = b.Fee.AmountSat
		credited[b.Fee.AccountID] += feeSat
	}
	// What the round took from the carry account, and what an empty round
	// put into it (a credit of the carry account by this block).
	var carriedIn, carriedOut int64
	if b.Round != nil && b.Round.Rule == events.RoundRuleHeight {
		carriedIn = b.Round.CarriedInSat
	}
	if b.Empty != nil && b.Empty.Outcome == events.EmptyRoundCarried {
		carriedOut = b.Empty.AmountSat
		credited[events.CarryAccountID(n.Name)] += carriedOut
	}
	hasCredits := len(b.Credits) > 0 || b.Fee != nil
	if b.Matured {
		t.BlocksMatured++
		t.RewardSat += b.RewardSat
		t.CreditedSat += sum
		t.FeeSat += feeSat
		t.CarriedInSat += carriedIn
		t.CarriedOutSat += carriedOut
		if b.Discovered && notes.discoveredReward != b.RewardSat {
			a.violation(KindRewardMismatch, notes.maturedAt, n.Name, hash, "matured with reward %s BBP, discovered with %s",
				FormatBBP(b.RewardSat), FormatBBP(notes.discoveredReward))
		}
		if sum+feeSat != b.RewardSat+carriedIn-carriedOut {
			a.violation(KindRewardSplit, notes.maturedAt, n.Name, hash, "credits %s + fee %s = %s BBP, reward %s + carried in %s − carried out %s = %s BBP (%+d sat)",
				FormatBBP(sum), FormatBBP(feeSat), FormatBBP(sum+feeSat), FormatBBP(b.RewardSat), FormatBBP(carriedIn), FormatBBP(carriedOut),
				FormatBBP(b.RewardSat+carriedIn-carriedOut), sum+feeSat-(b.RewardSat+carriedIn-carriedOut))
		}
		a.checkSplit(n.Name, hash, b, notes, t)
	} else if hasCredits {
		t.CreditedSat += sum
		t.FeeSat += feeSat
		what := "never matured"
		if !b.Discovered {
			what = "was never discovered"
		}
		a.violation(KindUnmaturedCredit, 0, n.Name, hash, "%s BBP credited for a block that %s", FormatBBP(sum+feeSat), what)
	}

	reversed := map[uuid.UUID]int64{}
	for _, r := range b.Reversals {
		reversed[r.AccountID] += r.AmountSat
	}
	offChain, why := false, ""
	if b.Orphaned {
		offChain, why = true, "orphaned"
	} else if cur, ok := n.Chain[b.Height]; ok && b.Discovered && cur != b.Hash {
		offChain, why = true, fmt.Sprintf("reorganised: height %d now holds %s", b.Height, cur)
		t.BlocksReorged++
	}
	accounts := make([]uuid.UUID, 0, len(credited)+len(reversed))
	for id := range credited {
		accounts = append(accounts, id)
	}
	for id := range reversed {
		if _, ok := credited[id]; !ok {
			accounts = append(accounts, id)
		}
	}
	sort.Slice(accounts, func(i, j int) bool { return bytes.Compare(accounts[i][:], accounts[j][:]) < 0 })
	// A block that left the chain takes back what its own reward credited
	// (aggregates.ReversedOnOrphan): what its round took from the carry
	// account stays with the miners.
	due := credited
	if offChain && b.Matured {
		if d, err := aggregates.ReversedOnOrphan(b); err == nil {
			due = d
		}
	}
	for _, id := range accounts {
		c, r := credited[id], reversed[id]
		name := accountName(a.account(n.Name, id))
		switch {
		case offChain && r > due[id] && r <= c:
			a.violation(KindBadReversal, 0, n.Name, hash, "%s BBP reversed from %s, the block's own reward credited it %s", FormatBBP(r), name, FormatBBP(due[id]))
		case offChain && r < due[id]:
			c = due[id]
			a.violation(KindUnreversedCredit, notes.orphanedAt, n.Name, hash, "block %s, yet %s BBP of %s's credit %s stands", why, FormatBBP(c-r), name, FormatBBP(c))
		case r > c:
			a.violation(KindBadReversal, 0, n.Name, hash, "%s BBP reversed from %s, only %s credited", FormatBBP(r), name, FormatBBP(c))
		case offChain && r < c && !b.Matured:
			a.violation(KindUnreversedCredit, notes.orphanedAt, n.Name, hash, "block %s, yet %s BBP of %s's credit %s stands", why, FormatBBP(c-r), name, FormatBBP(c))
		case !offChain && r > 0:
			a.violation(KindBadReversal, 0, n.Name, hash, "%s BBP reversed from %s, but the block is still on the chain", FormatBBP(r), name)
		}
	}
}

// checkSplit recomputes the block's share-out as the backend does
// (aggregates.DecideMature): the fee is exactly FeeOf(reward, bps) of the
// policy in force; the miners' part, reward − fee + what the round took from
// the carry account, is Distribute-d over the round, or, for a round without
// shares, goes whole to the finder or into the carry account (RoundEmpty).
func (a *auditor) checkSplit(network, hash string, b aggregates.PoolBlock, notes *blockNotes, t *Totals) {
	pos := notes.maturedAt
	if b.Round == nil || b.Fee == nil {
		detail := "no closed round"
		if b.Round != nil {
			detail = "no fee credit (fee rate unknown)"
		}
		a.violation(KindSplitMismatch, pos, network, hash, "the share-out cannot be recomputed: %s", detail)
		return
	}
	r, fee := b.Round, b.Fee
	feePos := notes.feeAt
	if feePos == 0 {
		feePos = pos
	}
	if fee.AccountID != events.FeeAccountID(network) {
		a.violation(KindFairFee, feePos, network, hash, "the fee is credited to account %s, not the pool-fee account", fee.AccountID)
	}
	if notes.policyBps >= 0 && fee.FeeBps != notes.policyBps {
		a.violation(KindFairFee, feePos, network, hash, "fee at %d basis points, the policy in force is %d", fee.FeeBps, notes.policyBps)
	}
	wantFee, err := aggregates.FeeOf(b.RewardSat, fee.FeeBps)
	if err != nil {
		a.violation(KindFairFee, feePos, network, hash, "%v", err)
		return
	}
	_, roundDiff, err := aggregates.RoundTotals(r.Shares)
	if err != nil {
		a.violation(KindSplitMismatch, pos, network, hash, "the round cannot be split: %v", err)
		return
	}
	var carriedIn int64
	if r.Rule == events.RoundRuleHeight {
		carriedIn = r.CarriedInSat
	}
	got := map[uuid.UUID]int64{}
	for _, c := range b.Credits {
		got[c.MinerID] += c.AmountSat
	}
	if roundDiff == 0 {
		t.EmptyRounds++
		if len(b.Credits) == 0 && b.Empty == nil && fee.AmountSat == b.RewardSat+carriedIn && fee.AmountSat > wantFee {
			t.EmptyKeptByPool++
			a.keptByPool(network, hash, b, notes, feePos, carriedIn, wantFee)
			return
		}
	}
	if fee.AmountSat != wantFee {
		a.violation(KindFairFee, feePos, network, hash, "fee %s BBP, %d bps of the reward %s BBP is %s", FormatBBP(fee.AmountSat), fee.FeeBps,
			FormatBBP(b.RewardSat), FormatBBP(wantFee))
	}
	rest := b.RewardSat - wantFee + carriedIn
	if roundDiff == 0 {
		a.checkEmpty(network, hash, b, notes, t, rest, carriedIn, got)
		return
	}
	if b.Empty != nil {
		a.violation(KindFairEmptyRound, pos, network, hash, "RoundEmpty (%s) for a round of %d shares", b.Empty.Outcome, r.TotalShares)
	}
	want, err := aggregates.Distribute(rest, r.Shares)
	if err != nil {
		a.violation(KindSplitMismatch, pos, network, hash, "the round cannot be split: %v", err)
		return
	}
	var diffs []string
	for _, c := range want {
		if got[c.MinerID] != c.AmountSat {
			diffs = append(diffs, fmt.Sprintf("%s: credited %s, split gives %s", c.Address, FormatBBP(got[c.MinerID]), FormatBBP(c.AmountSat)))
		}
		delete(got, c.MinerID)
	}
	for id, amt := range got {
		diffs = append(diffs, fmt.Sprintf("miner %s: credited %s, split gives nothing", id, FormatBBP(amt)))
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		a.violation(KindSplitMismatch, pos, network, hash, "credits differ from the round's split at %d bps: %s", fee.FeeBps, strings.Join(diffs, "; "))
	}
}

// keptByPool judges an empty round whose whole reward went to the pool-fee
// account: the finding KindOldEmptyRound for a block of the release before
// the rounds by height, credited as that release did it; anything else a
// violation.
func (a *auditor) keptByPool(network, hash string, b aggregates.PoolBlock, notes *blockNotes, feePos uint64, carriedIn, wantFee int64) {
	fee := b.Fee
	var not string
	switch {
	case notes.discoveredAt == 0 || notes.feeAt == 0:
		not = "its BlockDiscovered or its FeeCredited is missing"
	case b.RoundRule != events.RoundRulePosition:
		not = fmt.Sprintf("its round is by rule %q, not by position (release before the rounds by height)", b.RoundRule)
	case notes.policyBps >= 0:
		not = "a PoolPolicySet was recorded before it was credited (the release before the rounds by height recorded none)"
	case notes.feeAfterHeight:
		not = "it was credited after a round by height was closed (by this release)"
	case carriedIn != 0:
		not = "its round took from the carry account"
	}
	if not != "" {
		a.violation(KindFairEmptyRound, feePos, network, hash, "empty round: the pool kept the whole reward of block %d, %s BBP, as its fee (%d bps is %s BBP); not a known state: %s",
			b.Height, FormatBBP(fee.AmountSat), fee.FeeBps, FormatBBP(wantFee), not)
		return
	}
	a.rep.addFinding(Finding{Kind: KindOldEmptyRound, Position: feePos, Event: events.TypeFeeCredited, Network: network, Subject: hash,
		AmountSat: fee.AmountSat - wantFee, Runbook: runbookOldEmpty,
		Detail: fmt.Sprintf("empty round of block %d, found and credited by a release before the rounds by height (round by position, no PoolPolicySet): that release gave the whole reward, %s BBP, to the pool-fee account; %d bps is %s BBP, so the pool kept %s BBP of the miners' part",
			b.Height, FormatBBP(fee.AmountSat), fee.FeeBps, FormatBBP(wantFee), FormatBBP(fee.AmountSat-wantFee))})
}

// checkEmpty checks where the miners' part (rest) of a round without
// shares went: to the finder (RoundEmpty finder and one credit) or into the
// carry account (RoundEmpty carried), never to the fee account.
func (a *auditor) checkEmpty(network, hash string, b aggregates.PoolBlock, notes *blockNotes, t *Totals, rest, carriedIn int64, got map[uuid.UUID]int64) {
	pos := notes.maturedAt
	x := b.Empty
	if x == nil {
		if rest > 0 {
			a.violation(KindFairEmptyRound, pos, network, hash, "the round of block %d has no share and no RoundEmpty says where the miners' part of %s BBP went",
				b.Height, FormatBBP(rest))
		}
		return
	}
	if x.AmountSat != rest {
		a.violation(KindFairEmptyRound, pos, network, hash, "RoundEmpty of %s BBP, the miners' part is %s", FormatBBP(x.AmountSat), FormatBBP(rest))
	}
	switch x.Outcome {
	case events.EmptyRoundToFinder:
		t.EmptyToFinder++
		if x.FinderMinerID != b.Finder || x.FinderMinerID == uuid.Nil {
			a.violation(KindFairEmptyRound, pos, network, hash, "the miners' part went to %s, the block's finder is %s", x.FinderMinerID, b.Finder)
		}
		if len(got) != 1 || got[x.FinderMinerID] != x.AmountSat {
			a.violation(KindFairEmptyRound, pos, network, hash, "RoundEmpty gives %s BBP to the finder, the credits are %d totalling otherwise",
				FormatBBP(x.AmountSat), len(b.Credits))
		}
	case events.EmptyRoundCarried:
		t.EmptyCarried++
		if len(got) > 0 {
			a.violation(KindFairEmptyRound, pos, network, hash, "the miners' part was carried, yet %d miner credit(s) were written", len(b.Credits))
		}
		if notes.finderKnown {
			a.violation(KindFairEmptyRound, pos, network, hash, "the miners' part was carried although the finder %s was a known miner", b.Finder)
		}
		if carriedIn != 0 {
			a.violation(KindCarryAccount, pos, network, hash, "an empty round carried out what it took from the carry account (%s BBP)", FormatBBP(carriedIn))
		}
	default:
		a.violation(KindFairEmptyRound, pos, network, hash, "RoundEmpty with outcome %q", x.Outcome)
	}
}
