package ledgergen

import (
	"time"

	"github.com/purepool/purepool/events"
)

// expect counts one generated event into Expected. It is the generator's
// own bookkeeping, kept apart from the projections' fold on purpose: it
// states plainly what each event means for the totals a read model shows.
func (g *gen) expect(e events.Event) {
	ex := &g.h.Expected
	switch e := e.(type) {
	case events.MinerRegistered:
		m := g.h.Miners[g.minerIndex[e.MinerID]]
		ex.Miners[e.MinerID] = m
	case events.WorkerRegistered:
		if m := ex.Miners[e.MinerID]; m != nil {
			m.Workers = append(m.Workers, e.Worker)
		}
	case events.MinerDisabled:
		ex.Miners[e.MinerID].Disabled = true
	case events.MinerEnabled:
		ex.Miners[e.MinerID].Disabled = false
	case events.SolutionAccepted:
		m := ex.Miners[e.MinerID]
		m.Shares++
		m.Difficulty += e.Difficulty
		ex.Shares++
		ex.Difficulty += e.Difficulty
		ex.SharesByDay[day(e.At)]++
	case events.SolutionRejected:
		ex.Miners[e.MinerID].Rejected++
		ex.Rejected++
		ex.RejectedByReason[e.Reason]++
	case events.ChainBlockRecorded:
		ex.ChainHeight = max(ex.ChainHeight, e.Height)
	case events.BlockDiscovered:
		ex.Blocks[e.Hash] = &Block{Hash: e.Hash, Height: e.Height, RewardSat: e.RewardSat, Status: "pending", Finder: e.FinderMinerID}
		ex.BlocksFound++
	case events.RoundClosed:
		ex.Blocks[e.BlockHash].RoundShares = e.TotalShares
		if e.Rule == events.RoundRuleHeight {
			ex.CarrySat -= e.CarriedInSat
		}
	case events.LateSharesCounted:
		ex.LateShares += int64(len(e.Shares))
	case events.RoundEmpty:
		ex.EmptyRounds++
		if e.Outcome == events.EmptyRoundCarried {
			ex.CarrySat += e.AmountSat
		}
	case events.BlockConfirmed:
		b := ex.Blocks[e.Hash]
		b.Confirmations = max(b.Confirmations, e.Confirmations)
	case events.BlockMatured:
		b := ex.Blocks[e.Hash]
		b.Status, b.RewardSat = "matured", e.RewardSat
		b.Confirmations = max(b.Confirmations, e.Confirmations)
		ex.Matured++
	case events.BlockOrphaned:
		ex.Blocks[e.Hash].Status = "orphaned"
		ex.Orphans++
	case events.MinerCredited:
		m := ex.Miners[e.MinerID]
		m.CreditedSat += e.AmountSat
		m.BalanceSat += e.AmountSat
		ex.CreditedSat += e.AmountSat
		if b := ex.Blocks[e.BlockHash]; b != nil {
			b.CreditedSat += e.AmountSat
		}
	case events.FeeCredited:
		ex.FeeSat += e.AmountSat
		ex.Blocks[e.BlockHash].FeeSat += e.AmountSat
	case events.CreditReversed:
		if e.AccountID == events.CarryAccountID(e.Network) {
			ex.CarrySat -= e.AmountSat
			break
		}
		if e.Fee {
			ex.FeeReversedSat += e.AmountSat
			break
		}
		m := ex.Miners[e.AccountID]
		m.ReversedSat += e.AmountSat
		m.BalanceSat -= e.AmountSat
		ex.ReversedSat += e.AmountSat
	case events.PayoutPlanned:
		ex.Payouts[e.PayoutID] = &Payout{ID: e.PayoutID, Status: "planned", TotalSat: e.TotalSat, Items: e.Items}
		for _, it := range e.Items {
			m := ex.Miners[it.MinerID]
			m.PaidSat += it.AmountSat
			m.BalanceSat -= it.AmountSat
		}
		ex.PaidSat += e.TotalSat
	case events.PayoutSent:
		p := ex.Payouts[e.PayoutID]
		p.Status, p.TxID = "sent", e.TxID
	case events.PayoutConfirmed:
		p := ex.Payouts[e.PayoutID]
		p.Status, p.TxID = "confirmed", e.TxID
	case events.PayoutHalted:
		ex.Payouts[e.PayoutID].Status = "halted"
	case events.PayoutFailed:
		p := ex.Payouts[e.PayoutID]
		p.Status = "failed"
		for _, it := range p.Items { // the amounts return to the balances
			m := ex.Miners[it.MinerID]
			m.PaidSat -= it.AmountSat
			m.BalanceSat += it.AmountSat
			ex.PaidSat -= it.AmountSat
		}
	case events.PayoutConflicted:
		p := ex.Payouts[e.PayoutID]
		p.Status = "conflicted"
		for _, it := range p.Items { // never paid: the amounts return to the balances
			m := ex.Miners[it.MinerID]
			m.PaidSat -= it.AmountSat
			m.BalanceSat += it.AmountSat
			ex.PaidSat -= it.AmountSat
		}
	case events.PayoutCorrected:
		p := ex.Payouts[e.PayoutID]
		p.Status = "corrected"
		for _, it := range p.Items { // recorded in a transaction that did not pay it
			m := ex.Miners[it.MinerID]
			m.PaidSat -= it.AmountSat
			m.BalanceSat += it.AmountSat
			ex.PaidSat -= it.AmountSat
		}
	case events.PayoutsPaused:
		ex.PayoutsPaused = true
	case events.PayoutsResumed:
		ex.PayoutsPaused = false
	}
}

// day is the UTC calendar day of t.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
