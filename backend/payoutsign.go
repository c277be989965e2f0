package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// Signed payouts (this release). A payout's transaction is built, funded
// and signed before anything is broadcast, and recorded (PayoutSigned: its
// txid, hex, inputs, fee and what each recipient gets) before the first
// broadcast. From then on the payout is that transaction: broadcasting the
// same hex again after a crash, a timeout or a dropped connection is
// harmless ("already in block chain" counts as sent), so no outcome is
// ever unknown and nothing waits for a person. A second transaction for
// the same payout is signed only once the first is provably dead: one of
// its inputs is spent by another transaction buried under the payout
// confirmations (PayoutTxDead). Two transactions of one payout can never
// both confirm: the second is signed only after the first cannot.
//
// Every payout transaction carries a data output (anchor.Data): the pool's
// id, the payout's id and the event log's head when it was planned. It is
// the marker the wallet check reads, and a public anchor of the log.

// RawWallet is what signing payouts asks of the node's wallet (the raw
// transaction RPCs of BiblePay's Dash 0.12 generation).
type RawWallet interface {
	CreateRawTransaction(ctx context.Context, inputs []rpcclient.OutPoint, outputs []rpcclient.Output, data []byte, locktime uint32) (string, error)
	FundRawTransaction(ctx context.Context, txHex string, includeWatching bool) (*rpcclient.FundedTransaction, error)
	SignRawTransaction(ctx context.Context, txHex string, prevTxs []rpcclient.PrevTx, privKeys []string, sigHashType string) (*rpcclient.SignedTransaction, error)
	SendRawTransaction(ctx context.Context, txHex string, allowHighFees, instantSend bool) (string, error)
	DecodeRawTransaction(ctx context.Context, txHex string) (*rpcclient.RawTransaction, error)
	GetRawTransactionVerbose(ctx context.Context, txid string) (*rpcclient.RawTransactionVerbose, error)
	GetTxOut(ctx context.Context, txid string, vout uint32, includeMempool bool) (*rpcclient.TxOut, error)
	LockUnspent(ctx context.Context, unlock bool, outpoints []rpcclient.OutPoint) error
	ListLockUnspent(ctx context.Context) ([]rpcclient.OutPoint, error)
}

// signPayout builds, funds and signs a planned payout's transaction and
// records it (PayoutSigned). The fee fundrawtransaction chose comes off
// the recipients by aggregates.SplitFee: the funded transaction's change
// gets the fee back, so the wallet spends exactly the payout's total.
func (b *Backend) signPayout(ctx context.Context, net *NetworkConfig, p aggregates.Payout) error {
	if err := b.holds("payouts-" + net.Name); err != nil {
		return fmt.Errorf("backend: sign payout %s: %w", p.ID, err)
	}
	if p.PoolID == uuid.Nil {
		// Planned by an earlier release: the marker names the installation
		// that signs it.
		b.view.Read(func(l *aggregates.Ledger) { p.PoolID = l.PoolID })
	}
	data, err := payoutData(p)
	if err != nil {
		return err
	}
	tip, err := net.Node.GetBlockCount(ctx)
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: %w", p.ID, err)
	}
	// The tip's height as locktime: final at once (BiblePay replaces a
	// locktime of 0 by its clock, which keeps a transaction out for a while).
	locktime := uint32(max(tip, 0))
	gross := outputsOf(p.Items)
	draft, err := net.Node.CreateRawTransaction(ctx, nil, gross, data, locktime)
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: createrawtransaction: %w", p.ID, err)
	}
	funded, err := net.Node.FundRawTransaction(ctx, draft, false)
	if err != nil {
		if code := rpcclient.ErrorCode(err); code == rpcclient.CodeInternal || code == rpcclient.CodeInsufficientFunds {
			// Nothing was signed, so nothing can have gone out: the
			// amounts return to the balances, a later pass pays them.
			return b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
				return aggregates.DecidePayoutFailed(p, fmt.Sprintf("the wallet cannot fund it: %v", err), false, b.now())
			})
		}
		return fmt.Errorf("backend: sign payout %s: fundrawtransaction: %w", p.ID, err)
	}
	dec, err := net.Node.DecodeRawTransaction(ctx, funded.Hex)
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: decode funded: %w", p.ID, err)
	}
	fee := int64(funded.Fee)
	sends, err := aggregates.SplitFee(p.Items, fee)
	if err != nil {
		return b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutFailed(p, fmt.Sprintf("the network fee cannot come off the recipients: %v", err), false, b.now())
		})
	}
	change := rpcclient.Output{}
	if funded.ChangePos >= 0 && funded.ChangePos < len(dec.Vout) {
		v := dec.Vout[funded.ChangePos]
		if len(v.ScriptPubKey.Addresses) != 1 {
			return fmt.Errorf("backend: sign payout %s: change output %d has no single address", p.ID, funded.ChangePos)
		}
		change = rpcclient.Output{Address: v.ScriptPubKey.Addresses[0], AmountSat: v.ValueSat}
	} else {
		// The inputs cover the payout and the fee within dust: there is no
		// change to give the fee back to, and adding an output would make
		// the fee too small for its size. Nothing is signed; the next pass
		// funds it again (the wallet's coins will have changed).
		return fmt.Errorf("backend: sign payout %s: funding left no change output; retrying next pass", p.ID)
	}
	change.AmountSat += fee
	inputs := dec.Inputs()
	final, err := net.Node.CreateRawTransaction(ctx, inputs, append(outputsOf(sends), change), data, locktime)
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: createrawtransaction: %w", p.ID, err)
	}
	signed, err := net.Node.SignRawTransaction(ctx, final, nil, nil, "")
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: signrawtransaction: %w", p.ID, err)
	}
	if !signed.Complete {
		return fmt.Errorf("backend: sign payout %s: signrawtransaction left inputs unsigned: %+v", p.ID, signed.Errors)
	}
	out, err := net.Node.DecodeRawTransaction(ctx, signed.Hex)
	if err != nil {
		return fmt.Errorf("backend: sign payout %s: decode signed: %w", p.ID, err)
	}
	crashpoint.Hit(crashpoint.PayoutAfterSign)
	rec := events.PayoutSigned{TxID: out.TxID, Hex: signed.Hex, FeeSat: fee, Sends: sends, At: b.now()}
	for _, in := range inputs {
		rec.Inputs = append(rec.Inputs, events.OutPoint{TxID: in.TxID, Vout: in.Vout})
	}
	if err := b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutSigned(p, rec)
	}); err != nil {
		return err
	}
	b.log.Info("payout signed", "network", net.Name, "payout", p.ID, "txid", out.TxID, "fee_sat", fee, "inputs", len(inputs))
	// Lock the inputs once they are recorded (a crash before leaves no lock
	// behind; one after is repaired by keepAlive): no later funding picks
	// them while this transaction is on its way. A node restart forgets
	// locks; every pass locks again.
	if err := net.Node.LockUnspent(ctx, false, inputs); err != nil {
		b.log.Warn("payout inputs not locked; the next pass locks them", "network", net.Name, "payout", p.ID, "err", err)
	}
	crashpoint.Hit(crashpoint.PayoutBeforeSend)
	p, _, err = b.payoutState(ctx, p.ID)
	if err != nil {
		return err
	}
	return b.broadcast(ctx, net, p)
}

// payoutData is the data output of a payout's transaction.
func payoutData(p aggregates.Payout) ([]byte, error) {
	d := anchor.Data{PoolID: p.PoolID, PayoutID: p.ID}
	if p.Anchor != nil {
		ad, ok, err := anchor.OfPlanned(events.PayoutPlanned{PayoutID: p.ID, PoolID: p.PoolID, Anchor: p.Anchor})
		if err != nil {
			return nil, err
		}
		if ok {
			d = ad
		}
	}
	return d.Encode(), nil
}

// outputsOf pays each address its items' amounts, in the order addresses
// first appear (createrawtransaction takes one output per address).
func outputsOf(items []events.PayoutItem) []rpcclient.Output {
	var out []rpcclient.Output
	at := map[string]int{}
	for _, it := range items {
		if i, ok := at[it.Address]; ok {
			out[i].AmountSat += it.AmountSat
			continue
		}
		at[it.Address] = len(out)
		out = append(out, rpcclient.Output{Address: it.Address, AmountSat: it.AmountSat})
	}
	return out
}

// broadcast sends a signed payout's transaction (again) and records it as
// sent once the node has it: accepted, already in the mempool, or already
// in the chain. Any other answer leaves the payout signed; the next pass
// broadcasts again. Inputs spent by another transaction make it a
// candidate for PayoutTxDead (deadCheck).
func (b *Backend) broadcast(ctx context.Context, net *NetworkConfig, p aggregates.Payout) error {
	if p.Signed == nil {
		return fmt.Errorf("backend: payout %s has no signed transaction", p.ID)
	}
	txid := p.Signed.TxID
	// The hex is what goes out, the txid what is recorded as paid: they
	// must be one transaction, of this payout. A row edited behind the
	// backend's back (another payout's signed hex put in) would otherwise
	// be broadcast — "already in the chain" — and this payout recorded as
	// sent while its miners are never paid.
	if d, got, ok, err := anchor.OfTransaction(p.Signed.Hex); err != nil || got != txid || !ok || d.PayoutID != p.ID {
		b.log.Error("PAYOUT RECORD DOES NOT MATCH ITS TRANSACTION: not broadcast; the event store was edited, audit it",
			"network", net.Name, "payout", p.ID, "txid", txid, "hex_txid", got, "marker", d.PayoutID, "err", err)
		return fmt.Errorf("backend: payout %s: its recorded hex is not transaction %s of this payout", p.ID, txid)
	}
	// The last moment to find the payer's lease lost before the money
	// moves (see backend/lease for what the lease does and does not fence).
	if err := b.holds("payouts-" + net.Name); err != nil {
		return fmt.Errorf("backend: broadcast payout %s: %w", p.ID, err)
	}
	_, err := net.Node.SendRawTransaction(ctx, p.Signed.Hex, false, false)
	crashpoint.Hit(crashpoint.PayoutAfterSend)
	code := rpcclient.ErrorCode(err)
	switch {
	case err == nil, code == rpcclient.CodeTransactionAlreadyInChain:
		b.forgetConflict(p.ID) // a spend seen earlier did not last
		err := b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutSent(p, txid, p.FeeSat, code != 0, b.now())
		})
		crashpoint.Hit(crashpoint.PayoutAfterRecord)
		return err
	case code == rpcclient.CodeTransactionError, code == rpcclient.CodeTransactionRejected && inputsTaken(err):
		// Missing or spent inputs: either the transaction is mined (and its
		// outputs spent), or another transaction took an input.
		return b.deadCheck(ctx, net, p, err)
	case code != 0:
		b.log.Error("PAYOUT TRANSACTION REFUSED by the node; it is broadcast again every pass",
			"network", net.Name, "payout", p.ID, "txid", txid, "err", err)
		return nil
	default:
		// A timeout or a dropped connection proves nothing either way; the
		// same transaction goes out again next pass.
		b.log.Warn("payout broadcast: no answer; broadcasting again next pass", "network", net.Name, "payout", p.ID, "txid", txid, "err", err)
		return nil
	}
}

// inputsTaken reports a -26 refusal because an input is spent (in the
// chain or by a mempool transaction).
func inputsTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "bad-txns-inputs-spent") || strings.Contains(s, "txn-mempool-conflict")
}

// deadCheck decides what a "missing inputs" answer meant. The transaction
// is mined if the wallet says it has confirmations: sent. Otherwise, an
// input spent in the chain (gettxout without the mempool says nothing
// is left) by what cannot be this transaction means it is dead once that
// spend is buried PayoutConfirmations deep (counted from when this process
// first saw it, or the wallet's own depth if it tracks the transaction).
func (b *Backend) deadCheck(ctx context.Context, net *NetworkConfig, p aggregates.Payout, sendErr error) error {
	txid := p.Signed.TxID
	tx, err := net.Node.GetTransaction(ctx, txid)
	switch {
	case err == nil && tx.Confirmations > 0:
		return b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutSent(p, txid, p.FeeSat, true, b.now())
		})
	case err != nil && rpcclient.ErrorCode(err) != rpcclient.CodeInvalidAddressOrKey:
		return fmt.Errorf("backend: payout %s: ask the wallet about %s: %w", p.ID, txid, err)
	}
	walletDepth := int64(0)
	if err == nil && tx.Confirmations < 0 {
		walletDepth = -tx.Confirmations
	}
	spent := ""
	for _, in := range p.Signed.Inputs {
		// Only an output of a confirmed transaction that the chain no
		// longer holds is spent in the chain: an unconfirmed parent (lost
		// from a restarted node's mempool) may still come, and with it this
		// transaction.
		parent, err := net.Node.GetTransaction(ctx, in.TxID)
		if err != nil || parent.Confirmations <= 0 {
			continue
		}
		out, err := net.Node.GetTxOut(ctx, in.TxID, in.Vout, false)
		if err != nil {
			return fmt.Errorf("backend: payout %s: gettxout %s:%d: %w", p.ID, in.TxID, in.Vout, err)
		}
		if out == nil {
			spent = fmt.Sprintf("%s:%d", in.TxID, in.Vout)
			break
		}
	}
	if spent == "" {
		// Spent only by a mempool transaction (not buried), or the node
		// lost an input's transaction for now: wait.
		b.log.Warn("payout transaction not accepted: an input is taken but not in the chain; broadcasting again next pass",
			"network", net.Name, "payout", p.ID, "txid", txid, "err", sendErr)
		return nil
	}
	depth, err := b.conflictDepth(ctx, net, p.ID, -max(walletDepth, 1))
	if err != nil {
		return err
	}
	if depth < net.PayoutConfirmations {
		b.log.Warn("payout transaction's input spent by another transaction; recorded dead once that is buried",
			"network", net.Name, "payout", p.ID, "txid", txid, "input", spent, "depth", depth, "needed", net.PayoutConfirmations)
		return nil
	}
	reason := fmt.Sprintf("input %s spent by another transaction, %d blocks deep (%v)", spent, depth, sendErr)
	if err := b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutTxDead(p, txid, spent, reason, b.now())
	}); err != nil {
		return err
	}
	b.forgetConflict(p.ID)
	b.log.Warn("payout transaction dead; a new one is signed for the same amounts", "network", net.Name, "payout", p.ID, "txid", txid, "reason", reason)
	p, _, err = b.payoutState(ctx, p.ID)
	if err != nil {
		return err
	}
	return b.signPayout(ctx, net, p)
}

// keepAlive makes the node hold every signed payout transaction that is
// not confirmed yet: its inputs locked (a restarted node forgets locks, and
// a later payout must not fund itself with them) and the transaction
// broadcast again (a restarted node may have lost its mempool). Both are
// idempotent.
func (b *Backend) keepAlive(ctx context.Context, net *NetworkConfig) error {
	var live []aggregates.Payout
	b.view.Read(func(l *aggregates.Ledger) {
		for _, p := range l.Network(net.Name).Payouts {
			if p.Signed != nil && (p.Status == aggregates.PayoutSent || p.Status == aggregates.PayoutSignedStatus) {
				live = append(live, *p)
			}
		}
	})
	var lock []rpcclient.OutPoint
	for _, p := range live {
		for _, in := range p.Signed.Inputs {
			lock = append(lock, rpcclient.OutPoint{TxID: in.TxID, Vout: in.Vout})
		}
	}
	locked, err := net.Node.ListLockUnspent(ctx)
	if err != nil {
		return err
	}
	have := map[rpcclient.OutPoint]bool{}
	for _, op := range locked {
		have[op] = true
	}
	// Locks the ledger does not explain (a process that died between
	// signing and recording) are left alone: they may be the operator's
	// (a sanctuary's collateral), and a node restart releases them.
	for _, op := range lock {
		if have[op] {
			continue
		}
		// An input already spent (by this very transaction, mined) cannot
		// be locked: the node's refusal is ignored.
		if err := net.Node.LockUnspent(ctx, false, []rpcclient.OutPoint{op}); err != nil && rpcclient.ErrorCode(err) == 0 {
			return err
		}
	}
	for _, p := range live {
		if p.Status != aggregates.PayoutSent {
			continue
		}
		tx, err := net.Node.GetTransaction(ctx, p.Signed.TxID)
		if err == nil && tx.Confirmations != 0 {
			continue // mined (or conflicted: confirmPayouts handles it)
		}
		if _, err := net.Node.SendRawTransaction(ctx, p.Signed.Hex, false, false); err != nil && rpcclient.ErrorCode(err) != rpcclient.CodeTransactionAlreadyInChain {
			b.log.Debug("payout rebroadcast", "network", net.Name, "payout", p.ID, "txid", p.Signed.TxID, "err", err)
		}
	}
	return nil
}

// ensurePoolID gives the store an installation id if it has none (a store
// migrated by an earlier release), before the first payout is planned.
func (b *Backend) ensurePoolID(ctx context.Context) (uuid.UUID, error) {
	var id uuid.UUID
	b.view.Read(func(l *aggregates.Ledger) { id = l.PoolID })
	if id != uuid.Nil {
		return id, nil
	}
	res, err := Install(ctx, b.store, b.now())
	if err != nil {
		return uuid.Nil, err
	}
	if err := b.view.WaitForAppend(ctx, res); err != nil {
		return uuid.Nil, err
	}
	b.view.Read(func(l *aggregates.Ledger) { id = l.PoolID })
	if id == uuid.Nil {
		return uuid.Nil, errors.New("backend: the pool id was stored but the view has none")
	}
	return id, nil
}
