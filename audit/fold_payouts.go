package audit

// The fold's payout checks: plans, signatures, transactions claimed twice,
// and which payout an event returning amounts is about.

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// claimTx notes that payout id names transaction txid (sent or signed in
// it). Two payouts naming one transaction is payout_txid_reused, unless
// the later claim is corrected by a PayoutCorrected (decided in finish).
func (a *auditor) claimTx(pos uint64, network, txid string, id uuid.UUID) {
	if txid == "" {
		return
	}
	if other, ok := a.txids[txid]; ok && other != id {
		a.reused = append(a.reused, txReuse{pos: pos, network: network, txid: txid, first: other, second: id})
		return
	}
	a.txids[txid] = id
}

// txReuse is a second payout naming a transaction already claimed.
type txReuse struct {
	pos           uint64
	network, txid string
	first, second uuid.UUID
}

// finishReuses reports each transaction claimed by two payouts: a finding
// when the second claim was corrected (PayoutCorrected), a violation
// otherwise.
func (a *auditor) finishReuses() {
	for _, r := range a.reused {
		if at, ok := a.corrected[r.second]; ok {
			a.rep.addFinding(Finding{Kind: KindPayoutCorrected, Position: at, Event: events.TypePayoutCorrected, Network: r.network, Subject: r.second.String(),
				AmountSat: a.payout(r.network, r.second).TotalSat,
				Detail:    fmt.Sprintf("recorded at position %d in transaction %s, which is payout %s's; corrected, its amounts returned", r.pos, r.txid, r.first),
				Runbook:   runbookCorrected})
			continue
		}
		a.violation(KindPayoutTxIDReused, r.pos, r.network, r.txid, "transaction already recorded for payout %s, now for %s", r.first, r.second)
	}
}

// checkSigned checks a signed payout transaction's record: the payout's
// state allows it (planned; the attempt after the last dead one) and the
// sends are the payout's items less the fee by aggregates.SplitFee — or,
// for a payout adopted from the wallet, what the wallet sent, adding up
// with the fee to the payout's total.
func (a *auditor) checkSigned(pos uint64, p aggregates.Payout, e events.PayoutSigned) {
	if p.Adopted {
		var sum int64
		for _, s := range e.Sends {
			sum += s.AmountSat
		}
		if p.Status != aggregates.PayoutPlanned || sum+e.FeeSat != p.TotalSat {
			a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "adopted payout signed while %q, sends %s + fee %s BBP ≠ total %s",
				p.Status, FormatBBP(sum), FormatBBP(e.FeeSat), FormatBBP(p.TotalSat))
		}
		return
	}
	check := e
	check.Attempt = 0
	evs, err := aggregates.DecidePayoutSigned(p, check)
	switch {
	case err != nil:
		a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "%v", err)
	case len(evs) == 0:
		a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "transaction %s signed twice", e.TxID)
	case evs[0].(events.PayoutSigned).Attempt != e.Attempt:
		a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "signed as attempt %d, it is attempt %d", e.Attempt, evs[0].(events.PayoutSigned).Attempt)
	}
}

func (a *auditor) checkPlanned(pos uint64, e events.PayoutPlanned) {
	if p := a.payout(e.Network, e.PayoutID); p.Status != aggregates.PayoutNone {
		a.violation(KindPayoutState, pos, e.Network, e.PayoutID.String(), "payout planned again (it is %s)", p.Status)
	}
	var sum int64
	for _, it := range e.Items {
		sum += it.AmountSat
		if it.AmountSat <= 0 {
			a.violation(KindPayoutItems, pos, e.Network, e.PayoutID.String(), "item for %s of %s BBP", it.Address, FormatBBP(it.AmountSat))
		}
		if n, ok := a.ledger.Networks[e.Network]; ok {
			if m, ok := n.Miners[it.MinerID]; ok && m.Address != "" && m.Address != it.Address {
				a.violation(KindPayoutItems, pos, e.Network, e.PayoutID.String(), "pays miner %s's balance to %s, not to its address %s", it.MinerID, it.Address, m.Address)
			}
		}
	}
	if sum != e.TotalSat {
		a.violation(KindPayoutItems, pos, e.Network, e.PayoutID.String(), "items add up to %s BBP, the total says %s", FormatBBP(sum), FormatBBP(e.TotalSat))
	}
}

// payoutOf names the payout an event returning a payout's amounts is about.
func payoutOf(e events.Event) (network string, id uuid.UUID) {
	switch e := e.(type) {
	case events.PayoutFailed:
		return e.Network, e.PayoutID
	case events.PayoutConflicted:
		return e.Network, e.PayoutID
	case events.PayoutCorrected:
		return e.Network, e.PayoutID
	}
	return "", uuid.Nil
}
