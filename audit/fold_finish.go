package audit

// The fold's totals: the independent tally of every account, and the
// checks run on the final state (finish, per network).

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// tally keeps the independent account balances and the totals.
func (a *auditor) tally(pos uint64, e events.Event) {
	switch e := e.(type) {
	case events.SolutionAccepted:
		a.total(e.Network).AcceptedShares++
	case events.SolutionRejected:
		a.total(e.Network).RejectedShares++
	case events.MinerCredited:
		acc := a.account(e.Network, e.MinerID)
		if acc.Address == "" {
			acc.Address = e.Address
		}
		acc.CreditedSat += e.AmountSat
		a.moved(acc, pos, e.EventType())
	case events.FeeCredited:
		acc := a.account(e.Network, e.AccountID)
		acc.CreditedSat += e.AmountSat
		a.moved(acc, pos, e.EventType())
	case events.RoundClosed:
		// The backend's fold takes a round by height's carried amount
		// from the carry account (a round by position carries nothing).
		if e.Rule == events.RoundRuleHeight && e.CarriedInSat != 0 {
			acc := a.account(e.Network, events.CarryAccountID(e.Network))
			acc.TakenSat += e.CarriedInSat
			a.moved(acc, pos, e.EventType())
		}
	case events.RoundEmpty:
		if e.Outcome == events.EmptyRoundCarried {
			acc := a.account(e.Network, events.CarryAccountID(e.Network))
			acc.CreditedSat += e.AmountSat
			a.moved(acc, pos, e.EventType())
		}
	case events.CreditReversed:
		acc := a.account(e.Network, e.AccountID)
		acc.ReversedSat += e.AmountSat
		a.moved(acc, pos, e.EventType())
	case events.PayoutPlanned:
		for _, it := range e.Items {
			acc := a.account(e.Network, it.MinerID)
			acc.PaidSat += it.AmountSat
			a.moved(acc, pos, e.EventType())
		}
	case events.PayoutFailed, events.PayoutConflicted, events.PayoutCorrected:
		// The ledger has applied it: the payout's items are its plan.
		network, id := payoutOf(e)
		if n, ok := a.ledger.Networks[network]; ok {
			if p, ok := n.Payouts[id]; ok {
				for _, it := range p.Items {
					acc := a.account(network, it.MinerID)
					acc.PaidSat -= it.AmountSat
					a.moved(acc, pos, e.EventType())
				}
			}
		}
	}
}

// finish runs the checks on the final state and fills the report.
func (a *auditor) finish() {
	a.flushMissing()
	a.finishReuses()
	for _, an := range a.opt.Anchors {
		if _, pending := a.anchors[an.Position]; pending {
			a.violation(KindChainAnchor, 0, "", fmt.Sprint(an.Position), "the log ends at position %d before anchored position %d (truncated?)", a.lastPos, an.Position)
			if a.rep.FirstBadPosition == 0 {
				a.rep.FirstBadPosition = a.lastPos + 1
			}
		}
	}
	if !a.snapTaken {
		a.takeSnapshot()
	}
	if a.chainKept {
		a.rep.HeadHash = hexOrEmpty(a.lastHash)
	}
	names := make([]string, 0, len(a.ledger.Networks))
	for name := range a.ledger.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a.finishNetwork(a.ledger.Networks[name])
	}
	a.finishDebts()
	for name := range a.totals {
		if _, ok := a.ledger.Networks[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		a.rep.Networks = append(a.rep.Networks, *a.total(name))
	}
	keys := make([]acctKey, 0, len(a.accounts))
	for k := range a.accounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].network != keys[j].network {
			return keys[i].network < keys[j].network
		}
		return bytes.Compare(keys[i].id[:], keys[j].id[:]) < 0
	})
	for _, k := range keys {
		a.rep.Accounts = append(a.rep.Accounts, *a.accounts[k])
	}
	if a.stmt != nil {
		st := a.stmt.finish(a.ledger)
		st.Head, st.HeadHash = a.rep.Head, a.rep.HeadHash
		a.rep.Statement = st
	}
}

func (a *auditor) finishNetwork(n *aggregates.NetworkLedger) {
	t := a.total(n.Name)
	t.Miners = len(n.Miners)
	fee := events.FeeAccountID(n.Name)

	hashes := make([]string, 0, len(n.Blocks))
	for h := range n.Blocks {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	for _, h := range hashes {
		a.finishBlock(n, *n.Blocks[h], t)
	}

	// The backend's balances (aggregates.Ledger) against credits − reversals − payouts.
	for id, bal := range n.Balances {
		acc := a.account(n.Name, id)
		if acc.BalanceSat != bal {
			a.violation(KindBalanceMismatch, 0, n.Name, id.String(), "the backend's ledger holds %s BBP for %s, credits − reversals − payouts give %s",
				FormatBBP(bal), accountName(acc), FormatBBP(acc.BalanceSat))
		}
	}
	for k, acc := range a.accounts {
		if k.network != n.Name {
			continue
		}
		if _, ok := n.Balances[k.id]; !ok && acc.BalanceSat != 0 {
			a.violation(KindBalanceMismatch, 0, n.Name, k.id.String(), "the backend's ledger has no balance for %s, credits − reversals − payouts give %s",
				accountName(acc), FormatBBP(acc.BalanceSat))
		}
		switch {
		case k.id == fee:
			t.FeeReversedSat += acc.ReversedSat
		case acc.Carry:
			t.CarryReversedSat += acc.ReversedSat
		default:
			t.ReversedSat += acc.ReversedSat
		}
		t.PaidSat += acc.PaidSat
		switch {
		case acc.Carry:
			t.CarrySat += acc.BalanceSat
		case k.id == fee:
			t.FeeBalanceSat += acc.BalanceSat
			t.BalanceSat += acc.BalanceSat
		default:
			t.MinerBalanceSat += acc.BalanceSat
			t.BalanceSat += acc.BalanceSat
		}
	}

	ids := make([]uuid.UUID, 0, len(n.Payouts))
	for id := range n.Payouts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	for _, id := range ids {
		p := n.Payouts[id]
		t.Payouts++
		switch p.Status {
		case aggregates.PayoutSent, aggregates.PayoutConfirmed:
			t.PayoutsSent++
		case aggregates.PayoutFailed:
			t.PayoutsFailed++
		case aggregates.PayoutConflicted:
			t.PayoutsConflicted++
		case aggregates.PayoutCorrectedStatus:
			t.PayoutsCorrected++
		default:
			t.PayoutsUnsettled++
		}
	}
}
