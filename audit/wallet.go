package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/rpcclient"
)

// Wallet is the node call --verify-chain needs; *rpcclient.Client has it.
type Wallet interface {
	GetTransaction(ctx context.Context, txid string) (*rpcclient.Transaction, error)
}

// verifyWallet asks the wallet about every payout recorded as sent: the
// transaction must exist, not be conflicted, and pay exactly the payout's
// addresses their amounts, less at most the network fee the payout
// recorded (the fee is subtracted from the amounts, spread over them). A
// payout recorded as conflicted must be conflicted in the wallet too.
func (a *auditor) verifyWallet(ctx context.Context, w Wallet) error {
	names := make([]string, 0, len(a.ledger.Networks))
	for name := range a.ledger.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := a.ledger.Networks[name]
		ids := make([]uuid.UUID, 0, len(n.Payouts))
		for id, p := range n.Payouts {
			switch p.Status {
			case aggregates.PayoutSent, aggregates.PayoutConfirmed, aggregates.PayoutConflicted:
				if p.TxID != "" {
					ids = append(ids, id)
				}
			}
		}
		sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
		for _, id := range ids {
			if err := a.verifyPayout(ctx, w, name, *n.Payouts[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *auditor) verifyPayout(ctx context.Context, w Wallet, network string, p aggregates.Payout) error {
	subject := p.ID.String()
	tx, err := w.GetTransaction(ctx, p.TxID)
	if err != nil {
		var rpcErr *rpcclient.Error
		if errors.As(err, &rpcErr) {
			a.violation(KindWalletMissing, 0, network, subject, "the wallet does not know transaction %s: %v", p.TxID, rpcErr)
			return nil
		}
		return fmt.Errorf("audit: gettransaction %s: %w", p.TxID, err)
	}
	a.rep.WalletChecked++
	if p.Status == aggregates.PayoutConflicted {
		// Its amounts went back to the balances: if the transaction paid
		// after all, those miners are paid twice.
		if tx.Confirmations >= 0 {
			a.violation(KindWalletMismatch, 0, network, subject, "payout recorded as conflicted, but the wallet has transaction %s with %d confirmations", p.TxID, tx.Confirmations)
		}
		return nil
	}
	if tx.Confirmations < 0 {
		a.violation(KindWalletMismatch, 0, network, subject, "transaction %s is conflicted (%d confirmations)", p.TxID, tx.Confirmations)
	}
	diffs := aggregates.PayoutTxDiffs(p.Items, p.TotalSat, tx.SentByAddress(), p.FeeSat)
	if tx.Fee != 0 && -int64(tx.Fee) != p.FeeSat {
		diffs = append(diffs, fmt.Sprintf("network fee %s BBP, the payout recorded %s", FormatBBP(-int64(tx.Fee)), FormatBBP(p.FeeSat)))
	}
	if p.Signed != nil && p.Signed.TxID == p.TxID {
		// A signed payout recorded what each address gets on the chain.
		want := map[string]int64{}
		for _, s := range p.Signed.Sends {
			want[s.Address] += s.AmountSat
		}
		for addr, got := range tx.SentByAddress() {
			if want[addr] != got {
				diffs = append(diffs, fmt.Sprintf("pays %s BBP to %s, the signed payout recorded %s", FormatBBP(got), addr, FormatBBP(want[addr])))
			}
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		a.violation(KindWalletMismatch, 0, network, subject, "transaction %s %s", p.TxID, strings.Join(diffs, "; "))
	}
	return nil
}
