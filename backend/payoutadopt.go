package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// AdoptWalletPayout records a payout transaction of this installation that
// the ledger does not know — a restored backup behind the wallet — so the
// ledger is no longer behind it. The transaction must be in the wallet and
// not conflicted, carry this pool's marker, and name the ledger's next
// payout id (payouts are adopted in the order they were sent, so ids stay
// sequential). The payout is written in one append: PayoutPlanned
// (Adopted; each address's amount is what it received plus its share of
// the network fee), PayoutSigned (the wallet's transaction) and PayoutSent.
// What it paid comes off the balances; a balance the restored ledger has
// not credited yet goes negative until the chain follower credits again.
func (b *Backend) AdoptWalletPayout(ctx context.Context, c commands.AdoptWalletPayout) error {
	net, _ := b.network(c.Network)
	unlock, err := b.holdPayer(ctx, c.Network)
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.syncView(ctx); err != nil {
		return err
	}
	poolID, err := b.ensurePoolID(ctx)
	if err != nil {
		return err
	}
	refuse := func(format string, args ...any) error {
		return commands.Permanent(fmt.Errorf("backend: AdoptWalletPayout %s: "+format, append([]any{c.TxID}, args...)...))
	}
	tx, err := net.Node.GetTransaction(ctx, c.TxID)
	if rpcclient.ErrorCode(err) == rpcclient.CodeInvalidAddressOrKey {
		return refuse("the wallet does not know it")
	}
	if err != nil {
		return err
	}
	if tx.Confirmations < 0 {
		return refuse("it is conflicted (%d confirmations): it paid nobody", tx.Confirmations)
	}
	d, marked, err := b.payoutMarker(ctx, net, c.TxID)
	if err != nil {
		return err
	}
	if !marked {
		return refuse("it carries no payout marker: not a payout transaction of a Purepool")
	}
	if d.PoolID != poolID {
		return refuse("it is a payout of another installation (pool %s; this pool is %s): stop that installation instead", d.PoolID, poolID)
	}
	var next uuid.UUID
	var known bool
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(c.Network)
		_, known = n.Payouts[d.PayoutID]
		next = aggregates.PayoutIDFor(poolID, c.Network, n.PayoutCount)
	})
	if known {
		return refuse("payout %s is in the ledger already", d.PayoutID)
	}
	if d.PayoutID != next {
		return refuse("it pays payout %s, but the ledger's next payout is %s: adopt the wallet's payouts in the order they were sent", d.PayoutID, next)
	}
	dec, err := net.Node.DecodeRawTransaction(ctx, tx.Hex)
	if err != nil {
		return err
	}
	fee := -int64(tx.Fee)
	sent := tx.SentByAddress()
	items, sends, err := adoptedItems(c.Network, sent, fee)
	if err != nil {
		return refuse("%v", err)
	}
	var total int64
	for _, it := range items {
		total += it.AmountSat
	}
	planned := events.PayoutPlanned{Network: c.Network, PayoutID: d.PayoutID, Items: items, TotalSat: total, PoolID: poolID, Adopted: true, At: b.now()}
	signed := events.PayoutSigned{Network: c.Network, PayoutID: d.PayoutID, TxID: c.TxID, Hex: tx.Hex, FeeSat: fee, Sends: sends, Attempt: 1, At: b.now()}
	for _, in := range dec.Inputs() {
		signed.Inputs = append(signed.Inputs, events.OutPoint{TxID: in.TxID, Vout: in.Vout})
	}
	sentEv := events.PayoutSent{Network: c.Network, PayoutID: d.PayoutID, TxID: c.TxID, FeeSat: fee, Reconciled: true, At: b.now()}
	key := "adopt:" + c.Network + ":" + c.TxID
	res, err := appendDecided(ctx, b.store, key, events.Metadata{CommandID: c.ID.String(), CorrelationID: key, CausationID: c.ID.String()},
		[]events.Event{planned, signed, sentEv}, func(string) events.ExpectedVersion { return events.NoStream })
	if errors.Is(err, events.ErrWrongExpectedVersion) {
		return refuse("payout %s was recorded meanwhile", d.PayoutID)
	}
	if err != nil {
		return err
	}
	b.log.Warn("wallet payout adopted into the ledger", "network", c.Network, "payout", d.PayoutID, "txid", c.TxID, "total_sat", total, "fee_sat", fee)
	return b.view.WaitForAppend(ctx, res)
}

// adoptedItems turns a payout transaction's sends back into payout items:
// one per address (the miner id derives from it), in planning order
// (largest first, ties by miner id). Each address is recorded as having
// borne its share of the fee by aggregates.SplitFee over the sends, so the
// items total what the wallet spent; sends are what each received.
func adoptedItems(network string, sent map[string]int64, fee int64) (items, sends []events.PayoutItem, err error) {
	for addr, v := range sent {
		if v <= 0 {
			return nil, nil, fmt.Errorf("it sends %d to %s", v, addr)
		}
		sends = append(sends, events.PayoutItem{MinerID: events.MinerID(network, addr), Address: addr, AmountSat: v})
	}
	if len(sends) == 0 {
		return nil, nil, errors.New("it pays nobody")
	}
	order := func(s []events.PayoutItem) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].AmountSat != s[j].AmountSat {
				return s[i].AmountSat > s[j].AmountSat
			}
			return bytes.Compare(s[i].MinerID[:], s[j].MinerID[:]) < 0
		})
	}
	order(sends)
	less, err := aggregates.SplitFee(sends, fee)
	if err != nil {
		return nil, nil, err
	}
	items = make([]events.PayoutItem, len(sends))
	for i, s := range sends {
		items[i] = s
		items[i].AmountSat = s.AmountSat + (s.AmountSat - less[i].AmountSat)
	}
	// Sends in the items' order.
	byAddr := map[string]events.PayoutItem{}
	for _, s := range sends {
		byAddr[s.Address] = s
	}
	order(items)
	sends = sends[:0]
	for _, it := range items {
		sends = append(sends, byAddr[it.Address])
	}
	return items, sends, nil
}
