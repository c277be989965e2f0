package audit

// The fold's follow-up of balances below zero: how much of a debt the
// reversals of orphaned blocks explain, the debt findings at the end, and
// their confirmation against the node (--verify-chain).

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// debt follows a miner's balance below zero (KindDebtAfterOrphan): how
// much of it the reversals of blocks orphaned after their credits were
// paid explain, and which events those were.
type debt struct {
	explained int64 // ≥ 0: the part of −balance the causes explain
	causes    []Cause
	// unexplained: the balance is below −explained; reported once, when
	// it got there (KindNegativeBalance).
	unexplained bool
}

// moved re-derives an account's balance after a change by the event typ at
// pos, and follows it below zero. A debt (KindDebtAfterOrphan) may appear or
// deepen only by what the event explains (a.explains: a reversal of a block
// orphaned after its credits were paid, and only for a miner's account),
// never by more; every other event may only pay it back. A balance below
// what is explained is a violation at the event that put it there, so
// neither a payout beyond the balance nor a reversal beyond the block's
// credit can hide behind a documented debt.
func (a *auditor) moved(acc *Account, pos uint64, typ string) {
	acc.BalanceSat = acc.CreditedSat - acc.ReversedSat - acc.PaidSat - acc.TakenSat
	k := acctKey{acc.Network, acc.ID}
	d := a.debts[k]
	if d == nil {
		if acc.BalanceSat >= 0 {
			return
		}
		d = &debt{}
		a.debts[k] = d
	}
	var cause *Cause // what this event adds to what is explained
	if x := a.explains; x != nil && x.Position == pos && !acc.Fee && !acc.Carry {
		cause = x
	}
	need := max(0, -acc.BalanceSat)
	allow := d.explained
	if cause != nil {
		// The part of the reversal beyond the block's credit explains
		// nothing: the debt may be what the rest alone would have left.
		allow = min(allow+cause.AmountSat, max(0, -(acc.BalanceSat+a.excess)))
	}
	if need > allow {
		if !d.unexplained {
			why := "no event explains a balance below zero"
			switch {
			case allow > 0:
				causes := d.causes
				if cause != nil {
					causes = append(slices.Clip(causes), *cause)
				}
				why = fmt.Sprintf("reversals of pool blocks orphaned after their credits were paid explain a debt of %s BBP (%s); %s BBP more is explained by no event",
					FormatBBP(allow), causeList(causes), FormatBBP(need-allow))
			case !acc.Fee && !acc.Carry:
				why = "no reversal of a pool block orphaned after its credits were paid explains it"
			}
			a.violation(KindNegativeBalance, pos, acc.Network, acc.ID.String(),
				"%s put the balance of %s at %s BBP (credited %s, reversed %s, paid %s): %s", typ, accountName(acc),
				FormatBBP(acc.BalanceSat), FormatBBP(acc.CreditedSat), FormatBBP(acc.ReversedSat), FormatBBP(acc.PaidSat), why)
		}
		d.unexplained = true
		need = allow // what stays explained
	} else {
		d.unexplained = false
	}
	if need > d.explained && cause != nil {
		c := *cause
		c.AmountSat = need - d.explained
		d.causes = append(d.causes, c)
	}
	d.explained = need
	if need == 0 && !d.unexplained {
		delete(a.debts, k) // paid back
	}
}

func causeList(cs []Cause) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s at position %d", c.Event, c.Position)
	}
	return strings.Join(parts, ", ")
}

// reversalExplains is how much of a miner's debt a CreditReversed may
// explain, judged on the state before it: the account is a miner's; its
// block was discovered, matured (credited) and orphaned since (the
// BlockOrphaned is before the reversal); and the amount is within what the
// block's own reward credited that account (aggregates.ReversedOnOrphan)
// less what was reversed from it already. Anything else explains nothing,
// and the finish checks of finishBlock report it (bad_reversal).
func (a *auditor) reversalExplains(pos uint64, e events.CreditReversed) *Cause {
	if e.AccountID == events.FeeAccountID(e.Network) || e.AccountID == events.CarryAccountID(e.Network) || e.AmountSat <= 0 {
		return nil
	}
	n, ok := a.ledger.Networks[e.Network]
	if !ok {
		return nil
	}
	b, ok := n.Blocks[e.BlockHash]
	notes := a.notes(e.Network, e.BlockHash)
	if !ok || notes == nil || !b.Discovered || !b.Matured || !b.Orphaned || notes.orphanedAt == 0 || notes.maturedAt == 0 {
		return nil
	}
	due, err := aggregates.ReversedOnOrphan(*b)
	if err != nil {
		return nil
	}
	left := due[e.AccountID]
	for _, r := range b.Reversals {
		if r.AccountID == e.AccountID {
			left -= r.AmountSat
		}
	}
	if amt := min(e.AmountSat, left); amt > 0 {
		return &Cause{Position: pos, Event: events.TypeCreditReversed, BlockHash: e.BlockHash, AmountSat: amt}
	}
	return nil
}

// finishDebts reports every debt the log ends with that its causes explain
// (KindDebtAfterOrphan); one they do not was a violation where it arose.
func (a *auditor) finishDebts() {
	for k, d := range a.debts {
		acc := a.accounts[k]
		if d.unexplained || d.explained == 0 || len(d.causes) == 0 || acc == nil || acc.BalanceSat != -d.explained {
			continue
		}
		first := d.causes[0]
		var blocks []string
		seen := map[string]bool{}
		for _, c := range d.causes {
			if seen[c.BlockHash] {
				continue
			}
			seen[c.BlockHash] = true
			what := "block " + c.BlockHash
			if n, ok := a.ledger.Networks[k.network]; ok {
				if b, ok := n.Blocks[c.BlockHash]; ok {
					what = fmt.Sprintf("block %d (%s)", b.Height, c.BlockHash)
				}
			}
			if notes := a.notes(k.network, c.BlockHash); notes != nil && notes.orphanedAt > 0 {
				what += fmt.Sprintf(", orphaned at position %d", notes.orphanedAt)
			}
			blocks = append(blocks, what)
		}
		why := fmt.Sprintf("%s at position %d took back %s BBP of %s", first.Event, first.Position, FormatBBP(first.AmountSat), blocks[0])
		if len(d.causes) > 1 {
			why = fmt.Sprintf("%d reversals (the causes below) took back credits of %s", len(d.causes), strings.Join(blocks, "; "))
		}
		a.rep.addFinding(Finding{Kind: KindDebtAfterOrphan, Position: first.Position, Event: first.Event, Network: k.network, Subject: k.id.String(),
			AmountSat: d.explained, Causes: slices.Clone(d.causes), Runbook: runbookDebt,
			Detail: fmt.Sprintf("%s owes %s BBP (balance %s BBP: credited %s, reversed %s, paid %s), a debt: pool block credits paid out before the block left the chain; %s. The miner's next credits pay it back first",
				accountName(acc), FormatBBP(d.explained), FormatBBP(acc.BalanceSat), FormatBBP(acc.CreditedSat), FormatBBP(acc.ReversedSat), FormatBBP(acc.PaidSat), why)})
	}
}

// blockHasher is the node calls that confirm a debt's orphaned blocks left
// the chain; *rpcclient.Client has them.
type blockHasher interface {
	GetBlockCount(ctx context.Context) (int64, error)
	GetBlockHash(ctx context.Context, height int64) (string, error)
}

// verifyDebts asks the node (--verify-chain) whether each block whose
// reversal explains a debt really left the chain: a pool block the node
// still holds at its height was not orphaned, whatever the log says, and
// the debt its reversals made is a negative_balance, not a finding (the log
// alone cannot tell a BlockOrphaned written to take back paid credits).
//
// A block above the node's tip cannot be judged (a node behind the pool's,
// or on another chain): its finding stays, unconfirmed.
func (a *auditor) verifyDebts(ctx context.Context, node blockHasher) error {
	if !slices.ContainsFunc(a.rep.Findings, func(f Finding) bool { return f.Kind == KindDebtAfterOrphan }) {
		return nil
	}
	tip, err := node.GetBlockCount(ctx)
	if err != nil {
		return fmt.Errorf("audit: node: %w", err)
	}
	kept := a.rep.Findings[:0]
	for _, f := range a.rep.Findings {
		if f.Kind != KindDebtAfterOrphan {
			kept = append(kept, f)
			continue
		}
		var onChain []string
		confirmed := true
		for _, c := range f.Causes {
			b := a.ledger.Network(f.Network).Block(c.BlockHash)
			if !b.Discovered || b.Height > tip {
				confirmed = false
				continue
			}
			got, err := node.GetBlockHash(ctx, b.Height)
			if err != nil {
				return fmt.Errorf("audit: node: block at height %d: %w", b.Height, err)
			}
			if got == c.BlockHash && !slices.Contains(onChain, c.BlockHash) {
				onChain = append(onChain, c.BlockHash)
				pos := c.Position
				if notes := a.notes(f.Network, c.BlockHash); notes != nil && notes.orphanedAt > 0 {
					pos = notes.orphanedAt
				}
				a.violation(KindNegativeBalance, pos, f.Network, f.Subject,
					"the node still holds pool block %s at height %d: the log says it was orphaned, yet it is on the chain, so the debt of %s BBP its reversals make is no debt",
					c.BlockHash, b.Height, FormatBBP(f.AmountSat))
			}
		}
		if len(onChain) == 0 {
			f.OnChain = confirmed
			kept = append(kept, f)
		}
	}
	a.rep.Findings = kept
	return nil
}
