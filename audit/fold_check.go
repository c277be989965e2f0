package audit

// The fold's per-event invariant checks, run against the ledger's state
// before each event.

import (
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// check runs the per-event invariants against the state before e.
func (a *auditor) check(pos uint64, e events.Event) {
	switch e := e.(type) {
	case events.WorkIssued:
		a.works[e.WorkID] = workRef{network: e.Network, miner: e.MinerID}
	case events.SolutionAccepted:
		w, ok := a.works[e.WorkID]
		switch {
		case !ok:
			a.violation(KindSolutionUnknownWork, pos, e.Network, e.SolutionID.String(), "accepted solution names work %s, never issued before it", e.WorkID)
		case w.network != e.Network || w.miner != e.MinerID:
			a.violation(KindSolutionWorkMismatch, pos, e.Network, e.SolutionID.String(),
				"work %s was issued to miner %s on %s, the solution is miner %s's on %s", e.WorkID, w.miner, w.network, e.MinerID, e.Network)
		}
		k := bibleKey{e.Network, e.BibleHash}
		if prev, dup := a.bible[k]; dup {
			a.violation(KindDuplicateBibleHash, pos, e.Network, e.BibleHash, "bible hash accepted for solution %s and again for %s", prev, e.SolutionID)
		} else {
			a.bible[k] = e.SolutionID
		}
		a.shareAccepted(pos, e)
	case events.BlockDiscovered:
		a.blocks[blockKey{e.Network, e.Hash}] = &blockNotes{discoveredAt: pos, discoveredReward: e.RewardSat, rule: e.RoundRule,
			last: events.TypeBlockDiscovered, policyBps: -1}
		if p := a.fair(e.Network).policy; p != nil { // the fee in force when the block was found
			a.blocks[blockKey{e.Network, e.Hash}].policyBps = p.FeeBps
		}
		if e.RoundRule != events.RoundRulePosition && e.RoundRule != events.RoundRuleHeight {
			a.violation(KindRoundMembership, pos, e.Network, e.Hash, "unknown round rule %q", e.RoundRule)
		}
	case events.RoundClosed:
		shares, diff, err := aggregates.RoundTotals(e.Shares)
		if err != nil || shares != e.TotalShares || diff != e.TotalDifficulty {
			a.violation(KindRoundTotals, pos, e.Network, e.BlockHash, "tallies sum to %d shares / %d difficulty, the round says %d / %d",
				shares, diff, e.TotalShares, e.TotalDifficulty)
		}
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeRoundClosed)
		a.roundClosed(pos, e)
	case events.LateSharesCounted:
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeLateSharesCounted)
		a.lateCounted(pos, e)
	case events.RoundEmpty:
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeRoundEmpty)
		a.roundEmpty(pos, e)
	case events.PoolPolicySet:
		a.policySet(pos, e)
	case events.BlockConfirmed:
		a.blockEvent(pos, e.Network, e.Hash, events.TypeBlockConfirmed)
	case events.BlockMatured:
		a.blockEvent(pos, e.Network, e.Hash, events.TypeBlockMatured)
		if n := a.notes(e.Network, e.Hash); n != nil {
			n.maturedAt = pos
		}
	case events.BlockOrphaned:
		a.blockEvent(pos, e.Network, e.Hash, events.TypeBlockOrphaned)
		if n := a.notes(e.Network, e.Hash); n != nil && n.orphanedAt == 0 {
			n.orphanedAt = pos
		}
	case events.MinerCredited:
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeMinerCredited)
		a.checkCreditTime(pos, e.Network, e.BlockHash)
		switch e.MinerID {
		case events.CarryAccountID(e.Network):
			a.violation(KindCarryAccount, pos, e.Network, e.BlockHash, "a miner's credit to the carry account")
		case events.FeeAccountID(e.Network):
			a.violation(KindFairFee, pos, e.Network, e.BlockHash, "a miner's credit to the pool-fee account")
		}
	case events.FeeCredited:
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeFeeCredited)
		a.checkCreditTime(pos, e.Network, e.BlockHash)
		if n := a.notes(e.Network, e.BlockHash); n != nil {
			n.feeAt = pos
			n.feeAfterHeight = a.fair(e.Network).byHeight
			if p := a.fair(e.Network).policy; p != nil && n.policyBps < 0 { // found before any policy: the one at crediting
				n.policyBps = p.FeeBps
			}
		}
	case events.CreditReversed:
		a.blockEvent(pos, e.Network, e.BlockHash, events.TypeCreditReversed)
		a.explains = a.reversalExplains(pos, e)
		if a.explains != nil {
			a.excess = e.AmountSat - a.explains.AmountSat
		}
	case events.PayoutPlanned:
		a.checkPlanned(pos, e)
		for _, it := range e.Items {
			if it.MinerID == events.CarryAccountID(e.Network) {
				a.violation(KindCarryAccount, pos, e.Network, e.PayoutID.String(), "the payout pays out the carry account (%s BBP), which is owed to the miners of the next round",
					FormatBBP(it.AmountSat))
			}
		}
	case events.PayoutSent:
		p := a.payout(e.Network, e.PayoutID)
		if e.TxID == "" {
			a.violation(KindPayoutNoTxID, pos, e.Network, e.PayoutID.String(), "payout recorded as sent without a transaction id")
		} else if _, err := aggregates.DecidePayoutSent(p, e.TxID, e.FeeSat, e.Reconciled, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		}
		if p.Signed != nil && e.TxID == p.Signed.TxID && e.FeeSat != p.Signed.FeeSat {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "sent with a fee of %s BBP, signed with %s", FormatBBP(e.FeeSat), FormatBBP(p.Signed.FeeSat))
		}
		a.claimTx(pos, e.Network, e.TxID, e.PayoutID)
	case events.PayoutSigned:
		p := a.payout(e.Network, e.PayoutID)
		a.checkSigned(pos, p, e)
		a.claimTx(pos, e.Network, e.TxID, e.PayoutID)
	case events.PayoutTxDead:
		p := a.payout(e.Network, e.PayoutID)
		if evs, err := aggregates.DecidePayoutTxDead(p, e.TxID, e.SpentInput, e.Reason, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		} else if len(evs) == 0 {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "transaction %s recorded dead twice", e.TxID)
		}
	case events.PayoutCorrected:
		p := a.payout(e.Network, e.PayoutID)
		if evs, err := aggregates.DecidePayoutCorrected(p, e.TxID, e.Reason, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		} else if len(evs) == 0 {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "payout corrected twice: its amounts would return twice")
		} else {
			a.corrected[e.PayoutID] = pos
		}
	case events.PayoutFailed:
		p := a.payout(e.Network, e.PayoutID)
		if _, err := aggregates.DecidePayoutFailed(p, e.Reason, e.Reconciled, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		} else if p.Status == aggregates.PayoutFailed {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "payout failed twice: its amounts would return twice")
		}
	case events.PayoutConflicted:
		p := a.payout(e.Network, e.PayoutID)
		if _, err := aggregates.DecidePayoutConflicted(p, e.TxID, e.Conflicts, e.Reason, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		} else if p.Status == aggregates.PayoutConflicted {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "payout conflicted twice: its amounts would return twice")
		}
	case events.PayoutHalted:
		p := a.payout(e.Network, e.PayoutID)
		if _, err := aggregates.DecidePayoutHalted(p, e.Reason, e.At); err != nil {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		}
	case events.PayoutConfirmed:
		p := a.payout(e.Network, e.PayoutID)
		if _, err := aggregates.DecidePayoutConfirmed(p, e.Confirmations, e.At); err != nil && p.Status != aggregates.PayoutConfirmed {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
		} else if p.TxID != e.TxID {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "confirmed transaction %s is not the sent one %s", e.TxID, p.TxID)
		}
	}
}

func (a *auditor) checkCreditTime(pos uint64, network, hash string) {
	n, ok := a.ledger.Networks[network]
	if !ok {
		return
	}
	if b, ok := n.Blocks[hash]; ok && b.Orphaned {
		a.violation(KindCreditAfterOrphan, pos, network, hash, "credit written after the block was orphaned")
	}
}

// roundEmpty checks a RoundEmpty where it is written: right after its
// block's BlockMatured, once.
func (a *auditor) roundEmpty(pos uint64, e events.RoundEmpty) {
	notes := a.notes(e.Network, e.BlockHash)
	b := a.ledger.Network(e.Network).Block(e.BlockHash)
	switch {
	case notes == nil || !b.Discovered:
		a.violation(KindFairEmptyRound, pos, e.Network, e.BlockHash, "RoundEmpty of a block never discovered")
	case b.Empty != nil:
		a.violation(KindFairEmptyRound, pos, e.Network, e.BlockHash, "a second RoundEmpty for block %d", b.Height)
	case notes.prev != events.TypeBlockMatured:
		a.violation(KindFairEmptyRound, pos, e.Network, e.BlockHash, "RoundEmpty not written right after its block's BlockMatured (it follows %s)", notes.prev)
	case e.AmountSat < 0:
		a.violation(KindFairEmptyRound, pos, e.Network, e.BlockHash, "RoundEmpty of %d sat", e.AmountSat)
	}
}
