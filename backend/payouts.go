package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// Payout protocol (exactly once; backend/PAYOUTS.md):
//
//  1. PayoutPlanned is stored (payout-{id}, expected NoStream; ids are
//     sequential per network and installation) before any RPC. It names the
//     installation (pool id) and the log head the transaction will anchor.
//  2. The transaction is built, funded, signed and its inputs locked;
//     PayoutSigned (txid, hex, inputs, fee, sends) is stored before the
//     first broadcast (payoutsign.go).
//  3. sendrawtransaction; accepted or "already in block chain" → PayoutSent.
//     Anything else leaves it signed and the next pass broadcasts the same
//     hex again. Only a transaction proven dead (an input spent by another
//     transaction buried under the payout confirmations) is replaced:
//     PayoutTxDead, then a new PayoutSigned for the same amounts.
//  4. While any payout of a network is unsettled (planned, signed or
//     halted), no further payout of that network is planned.
//  5. Before planning, the wallet is checked against the ledger: a payout
//     transaction (by its data output, or a sendmany comment of an earlier
//     release) the ledger does not record pauses payouts (checkWallet).
//
// Payouts planned by an earlier release (sendmany, no pool id) are settled
// as that release did: looked up in the wallet by comment; a halted one
// waits for ReconcilePayout.
//
// One payer per network runs at a time (Locker "payouts-{net}").

// walletSearchDepth bounds how many wallet entries a reconciliation reads.
const walletSearchDepth = 5000

// PayoutCycle runs one payout pass of a network: settle what is unsettled,
// confirm sent payouts, then plan and send the next payout if one is due.
func (b *Backend) PayoutCycle(ctx context.Context, network string) error {
	net, ok := b.network(network)
	if !ok {
		return fmt.Errorf("backend: network %q is not served", network)
	}
	mu := b.payMu[network]
	mu.Lock()
	defer mu.Unlock()
	unlock, ok, err := b.locker.TryLock(ctx, "payouts-"+network)
	if err != nil || !ok {
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
	if err := b.keepAlive(ctx, net); err != nil {
		b.log.Warn("payout transactions: keep alive", "network", network, "err", err)
	}
	if err := b.settle(ctx, net); err != nil {
		return err
	}
	if err := b.confirmPayouts(ctx, net); err != nil {
		b.log.Warn("payout confirmations", "network", network, "err", err)
	}
	if err := b.checkWallet(ctx, net); err != nil {
		return err
	}
	var evs []events.Event
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(network)
		evs, err = aggregates.DecidePlanAnchoredPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(),
			aggregates.PayoutPolicy{MinPayoutSat: net.MinPayoutSat, MaxRecipients: net.MaxRecipients},
			aggregates.PlanIdentity{PayoutID: aggregates.PayoutIDFor(poolID, network, n.PayoutCount), PoolID: poolID, Anchor: b.view.headLocked()},
			b.now())
	})
	if errors.Is(err, aggregates.ErrNothingToPay) || errors.Is(err, aggregates.ErrPayoutsBlocked) {
		b.log.Debug("no payout", "network", network, "why", err)
		return nil
	}
	if err != nil {
		return err
	}
	planned := evs[0].(events.PayoutPlanned)
	if err := b.holds("payouts-" + network); err != nil {
		return fmt.Errorf("backend: plan payout %s: %w", planned.PayoutID, err)
	}
	key := "payout:" + planned.PayoutID.String()
	res, err := appendDecided(ctx, b.store, key, events.Metadata{CorrelationID: key, CausationID: key}, evs,
		func(string) events.ExpectedVersion { return events.NoStream })
	if errors.Is(err, events.ErrWrongExpectedVersion) {
		return nil // another payer planned this payout; it sends it
	}
	if err != nil {
		return err
	}
	if res.Duplicate {
		// Planned by an earlier pass of ours that stopped before folding it:
		// settle() of the next pass handles it.
		return nil
	}
	if err := b.view.WaitForAppend(ctx, res); err != nil {
		return err
	}
	b.log.Info("payout planned", "network", network, "payout", planned.PayoutID, "recipients", len(planned.Items), "total_sat", planned.TotalSat)
	crashpoint.Hit(crashpoint.PayoutAfterPlan)
	return b.signPayout(ctx, net, aggregates.Payout{}.Apply(planned))
}

func (b *Backend) resendGrace() time.Duration {
	if b.cfg.ResendGrace > 0 {
		return b.cfg.ResendGrace
	}
	return 10 * time.Second
}

// waitBeforeResend reports whether a payout planned by an earlier release
// (sendmany) that is not in the wallet must not be sent yet: the dead
// process's sendmany may still be executing in the node, until
// ResendGrace has passed since this process first saw it unsettled.
func (b *Backend) waitBeforeResend(id uuid.UUID) bool {
	b.payoutsMu.Lock()
	defer b.payoutsMu.Unlock()
	if b.orphanSeen == nil {
		b.orphanSeen = map[uuid.UUID]time.Time{}
	}
	first, ok := b.orphanSeen[id]
	if !ok {
		b.orphanSeen[id] = time.Now()
		return true
	}
	return time.Since(first) < b.resendGrace()
}

// payoutState reads a payout's state and stream version from the store.
func (b *Backend) payoutState(ctx context.Context, id uuid.UUID) (aggregates.Payout, int64, error) {
	evs, v, err := readStream(ctx, b.store, events.StreamPayout(id))
	if err != nil {
		return aggregates.Payout{}, -1, err
	}
	p := aggregates.Payout{ID: id}
	for _, e := range evs {
		p = p.Apply(e)
	}
	return p, v, nil
}

// recordPayout decides and appends an outcome of a payout, reading its
// stream for the expected version. It keeps going if ctx was cancelled
// mid-send: an outcome must be stored whenever possible.
func (b *Backend) recordPayout(ctx context.Context, id uuid.UUID, decide func(aggregates.Payout) ([]events.Event, error)) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for range maxAttempts {
		p, v, err := b.payoutState(ctx, id)
		if err != nil {
			return err
		}
		evs, err := decide(p)
		if err != nil || len(evs) == 0 {
			return err
		}
		// The event ids derive from the payout and the version decided on:
		// a retried append of this decision is recognised, while a later
		// decision of the same type (a second PayoutSigned after a
		// PayoutTxDead) gets ids of its own.
		key := fmt.Sprintf("payout:%s@%d", id, v)
		corr := "payout:" + id.String()
		res, err := appendDecided(ctx, b.store, key, events.Metadata{CorrelationID: corr, CausationID: key}, evs,
			func(string) events.ExpectedVersion { return expectedFor(v) })
		if errors.Is(err, events.ErrWrongExpectedVersion) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range evs {
			switch e := e.(type) {
			case events.PayoutSent:
				b.log.Info("payout sent", "network", e.Network, "payout", id, "txid", e.TxID, "fee_sat", e.FeeSat, "reconciled", e.Reconciled)
			case events.PayoutFailed:
				b.log.Warn("payout failed; the amounts return to the balances", "network", e.Network, "payout", id, "reason", e.Reason)
			case events.PayoutConflicted:
				b.log.Warn("payout conflicted: its transaction was double spent by the chain; the amounts return to the balances and are paid again",
					"network", e.Network, "payout", id, "txid", e.TxID, "conflicts", e.Conflicts)
			case events.PayoutTxDead:
				b.log.Warn("payout transaction recorded dead", "network", e.Network, "payout", id, "txid", e.TxID, "input", e.SpentInput)
			case events.PayoutCorrected:
				b.log.Warn("payout corrected: it was recorded in a transaction that does not pay it; the amounts return to the balances",
					"network", e.Network, "payout", id, "txid", e.TxID, "reason", e.Reason)
			case events.PayoutHalted:
				b.log.Error("PAYOUT HALTED: its outcome is unknown; no payout of this network goes out until it is reconciled",
					"network", e.Network, "payout", id, "reason", e.Reason)
			}
		}
		// The outcome is stored. Waiting for the view to fold it only keeps
		// the next decision fresh: a shutdown (parent cancelled, the view
		// stopping) must not wait the 30 s for a view that no longer runs.
		if err := b.view.WaitForAppend(parent, res); err != nil && parent.Err() == nil {
			return err
		}
		return parent.Err()
	}
	return fmt.Errorf("backend: payout %s: still conflicting: %w", id, events.ErrWrongExpectedVersion)
}

// findPayoutTx looks for the wallet's send of a payout: a send whose
// comment is the payout id and that pays exactly the payout's recipients
// and amounts (aggregates.PayoutTxDiffs). A send with the payout's id that
// pays something else is not this payout: a restored backup behind the
// wallet, or another installation on the same wallet, sent it. That is an
// error (outcome unknown: the payout halts), never "found" and never "not
// found", either of which would record a wrong send or pay twice.
func (b *Backend) findPayoutTx(ctx context.Context, net *NetworkConfig, p aggregates.Payout) (txid string, feeSat int64, found bool, err error) {
	const page = 500
	comment := p.ID.String()
	seen := map[string]bool{}
	for from := 0; from < walletSearchDepth; from += page {
		entries, err := net.Node.ListTransactions(ctx, "*", page, from)
		if err != nil {
			return "", 0, false, err
		}
		for _, e := range entries {
			if e.Comment != comment || e.Category != "send" || seen[e.TxID] {
				continue
			}
			seen[e.TxID] = true
			tx, err := net.Node.GetTransaction(ctx, e.TxID)
			if err != nil {
				return "", 0, false, err
			}
			if diffs := aggregates.PayoutTxDiffs(p.Items, p.TotalSat, tx.SentByAddress(), -int64(tx.Fee)); len(diffs) > 0 {
				return "", 0, false, fmt.Errorf("backend: the wallet's send %s carries payout %s's id but is not that payout (%s): "+
					"a restored backup behind the wallet, or a second installation on it, sent it", e.TxID, p.ID, strings.Join(diffs, "; "))
			}
			return e.TxID, -int64(tx.Fee), true, nil
		}
		if len(entries) < page {
			return "", 0, false, nil // the whole wallet read: it is not there
		}
	}
	// Not within the depth searched, but the wallet has more: "not found"
	// here would let a send that did go out be failed or sent again.
	return "", 0, false, fmt.Errorf("backend: payout %s not among the wallet's newest %d entries, and the wallet has more: outcome unknown", p.ID, walletSearchDepth)
}

// settle handles the unsettled payouts of a network: a signed one is
// broadcast again (idempotent) until the node has it; a planned one of this
// release (a crash before it was signed, or after its transaction was
// recorded dead) is signed now. A planned payout of an earlier release
// (sendmany) is looked up in the wallet by comment and, not found after
// ResendGrace, signed like a new one; a halted one (earlier release) is
// looked up and stays halted unless found.
func (b *Backend) settle(ctx context.Context, net *NetworkConfig) error {
	var ids []uuid.UUID
	b.view.Read(func(l *aggregates.Ledger) { ids = l.Network(net.Name).UnsettledPayouts() })
	for _, id := range ids {
		p, _, err := b.payoutState(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case p.Settled():
			continue
		case p.Status == aggregates.PayoutSignedStatus:
			if err := b.broadcast(ctx, net, p); err != nil {
				return err
			}
			continue
		case p.Status == aggregates.PayoutPlanned && (p.PoolID != uuid.Nil || p.Attempts() > 0):
			// Signed payouts never went through sendmany: nothing to look for.
			b.log.Warn("payout planned and not signed (a crash?); signing it now", "network", net.Name, "payout", id)
			if err := b.signPayout(ctx, net, p); err != nil {
				return err
			}
			continue
		}
		txid, fee, found, qerr := b.findPayoutTx(ctx, net, p)
		switch {
		case qerr != nil:
			b.log.Warn("cannot ask the wallet about an unsettled payout", "network", net.Name, "payout", id, "err", qerr)
			return nil // try again next pass; nothing else goes out meanwhile
		case found:
			if err := b.recordPayout(ctx, id, func(p aggregates.Payout) ([]events.Event, error) {
				return aggregates.DecidePayoutSent(p, txid, fee, true, b.now())
			}); err != nil {
				return err
			}
		case p.Status == aggregates.PayoutPlanned && b.waitBeforeResend(id):
			b.log.Warn("payout planned by an earlier release and not in the wallet; waiting in case its send is still being executed",
				"network", net.Name, "payout", id, "grace", b.resendGrace())
		case p.Status == aggregates.PayoutPlanned:
			b.log.Warn("payout planned by an earlier release but never sent (crash?); not in the wallet, signing it now", "network", net.Name, "payout", id)
			if err := b.signPayout(ctx, net, p); err != nil {
				return err
			}
		default: // halted and not in the wallet: an operator decides
			b.log.Error("PAYOUT HALTED: waiting for ReconcilePayout", "network", net.Name, "payout", id, "reason", p.Reason)
		}
	}
	return nil
}

// confirmPayouts records PayoutConfirmed for sent payouts deep enough, and
// PayoutConflicted for those whose transaction the chain has double spent
// (see conflictDepth): sent payouts, and confirmed ones for ConflictWatch.
func (b *Backend) confirmPayouts(ctx context.Context, net *NetworkConfig) error {
	watch := b.cfg.ConflictWatch
	if watch <= 0 {
		watch = 24 * time.Hour
	}
	now := b.now()
	var watched []aggregates.Payout
	b.view.Read(func(l *aggregates.Ledger) {
		for _, p := range l.Network(net.Name).Payouts {
			if p.Status == aggregates.PayoutSent || p.Status == aggregates.PayoutConfirmed && now.Sub(p.ConfirmedAt) < watch {
				watched = append(watched, *p)
			}
		}
	})
	var errs error
	for _, p := range watched {
		tx, err := net.Node.GetTransaction(ctx, p.TxID)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		if tx.Confirmations < 0 {
			errs = errors.Join(errs, b.conflicted(ctx, net, p, tx))
			continue
		}
		b.forgetConflict(p.ID)
		if p.Status != aggregates.PayoutSent || tx.Confirmations < net.PayoutConfirmations {
			continue
		}
		conf := tx.Confirmations
		errs = errors.Join(errs, b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutConfirmed(p, conf, b.now())
		}))
	}
	return errs
}

// conflicted handles a sent payout whose transaction conflicts with the
// chain: a transaction in a block spends its inputs (a reorganisation took
// them, or the coins were double spent), so it can never confirm and the
// miners were not paid. Once the conflict is PayoutConfirmations deep — as
// deep as a payout must be to count as confirmed, so the chain will not
// bring the transaction back — PayoutConflicted returns the amounts to the
// balances and a later payout pays them. Until then it is only logged.
func (b *Backend) conflicted(ctx context.Context, net *NetworkConfig, p aggregates.Payout, tx *rpcclient.Transaction) error {
	depth, err := b.conflictDepth(ctx, net, p.ID, tx.Confirmations)
	if err != nil {
		return err
	}
	if depth < net.PayoutConfirmations {
		b.log.Error("PAYOUT TRANSACTION CONFLICTED: recorded as sent but no longer valid on the chain; its amounts return to the balances once the conflict is buried",
			"network", net.Name, "payout", p.ID, "txid", p.TxID, "confirmations", tx.Confirmations, "conflicts", tx.WalletConflicts,
			"depth", depth, "needed", net.PayoutConfirmations)
		return nil
	}
	conflicts := append([]string(nil), tx.WalletConflicts...)
	reason := fmt.Sprintf("conflicted %d blocks deep", depth)
	if err := b.recordPayout(ctx, p.ID, func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutConflicted(p, p.TxID, conflicts, reason, b.now())
	}); err != nil {
		return err
	}
	b.forgetConflict(p.ID)
	return nil
}

// conflictDepth is how deep a conflicted transaction's conflict is: the
// wallet says so in its negative confirmations (bitcoind reports minus the
// depth of the conflicting transaction), except for -1, which is also what
// it reports when the inputs simply vanished with an orphaned block; then
// the depth counts the blocks since this process first saw the conflict.
func (b *Backend) conflictDepth(ctx context.Context, net *NetworkConfig, id uuid.UUID, confirmations int64) (int64, error) {
	height, err := net.Node.GetBlockCount(ctx)
	if err != nil {
		return 0, err
	}
	b.payoutsMu.Lock()
	defer b.payoutsMu.Unlock()
	if b.conflictSeen == nil {
		b.conflictSeen = map[uuid.UUID]int64{}
	}
	first, ok := b.conflictSeen[id]
	if !ok {
		first = height
		b.conflictSeen[id] = height
	}
	return max(-confirmations, height-first+1), nil
}

func (b *Backend) forgetConflict(id uuid.UUID) {
	b.payoutsMu.Lock()
	defer b.payoutsMu.Unlock()
	delete(b.conflictSeen, id)
}

// ReconcilePayout settles a halted (or crash-planned) payout on an
// operator's word: with a txid, the wallet must know that transaction and
// the payout is recorded as sent in it; without one, the wallet is searched
// by comment: found → sent, not found → failed (the operator asserts nothing
// went out, and the amounts return to the balances).
func (b *Backend) ReconcilePayout(ctx context.Context, c commands.ReconcilePayout) error {
	net, ok := b.network(c.Network)
	if !ok {
		return commands.Permanent(fmt.Errorf("backend: network %q is not served", c.Network))
	}
	unlock, err := b.holdPayer(ctx, c.Network)
	if err != nil {
		return err
	}
	defer unlock()
	p, _, err := b.payoutState(ctx, c.PayoutID)
	if err != nil {
		return err
	}
	if p.Status == aggregates.PayoutNone {
		return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: payout %s was never planned", c.PayoutID))
	}
	if p.Network != c.Network {
		return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: payout %s is on %s", c.PayoutID, p.Network))
	}
	if p.Settled() {
		b.log.Info("ReconcilePayout: payout already settled", "payout", c.PayoutID, "status", p.Status, "txid", p.TxID)
		return nil
	}
	if p.Status == aggregates.PayoutSignedStatus {
		// A signed payout is its transaction: no other can settle it, and it
		// settles itself by being broadcast again.
		if c.TxID != "" && c.TxID != p.Signed.TxID {
			return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: payout %s is signed as %s, not %s; it settles by itself when that transaction is broadcast", c.PayoutID, p.Signed.TxID, c.TxID))
		}
		return b.broadcast(ctx, net, p)
	}
	if p.Status == aggregates.PayoutPlanned && p.PoolID != uuid.Nil {
		return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: payout %s is planned by this release and not signed yet: nothing can have paid it; the next pass signs it", c.PayoutID))
	}
	if c.TxID != "" {
		tx, err := net.Node.GetTransaction(ctx, c.TxID)
		var rpcErr *rpcclient.Error
		if errors.As(err, &rpcErr) && rpcErr.Code == rpcclient.CodeInvalidAddressOrKey {
			return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: the wallet does not know transaction %s", c.TxID))
		}
		if err != nil {
			return err
		}
		// An operator's txid is checked like any other evidence: it must be
		// a send that pays exactly this payout, and no other payout's.
		var other uuid.UUID
		b.view.Read(func(l *aggregates.Ledger) {
			for id, q := range l.Network(c.Network).Payouts {
				if id != c.PayoutID && q.TxID == c.TxID {
					other = id
				}
			}
		})
		switch {
		case other != uuid.Nil:
			return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: transaction %s is payout %s's, not payout %s's", c.TxID, other, c.PayoutID))
		case tx.Confirmations < 0:
			return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: transaction %s is conflicted (%d confirmations): it pays nobody", c.TxID, tx.Confirmations))
		}
		if diffs := aggregates.PayoutTxDiffs(p.Items, p.TotalSat, tx.SentByAddress(), -int64(tx.Fee)); len(diffs) > 0 {
			return commands.Permanent(fmt.Errorf("backend: ReconcilePayout: transaction %s does not pay payout %s: %s", c.TxID, c.PayoutID, strings.Join(diffs, "; ")))
		}
		return b.recordPayout(ctx, c.PayoutID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutSent(p, c.TxID, -int64(tx.Fee), true, b.now())
		})
	}
	txid, fee, found, err := b.findPayoutTx(ctx, net, p)
	if err != nil {
		return err
	}
	if found {
		return b.recordPayout(ctx, c.PayoutID, func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutSent(p, txid, fee, true, b.now())
		})
	}
	return b.recordPayout(ctx, c.PayoutID, func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutFailed(p, "reconciled by an operator: not in the wallet", true, b.now())
	})
}

// holdPayer takes the network's payer (this process's mutex, then the
// store's lock) for an admin command; busy is a retryable error.
func (b *Backend) holdPayer(ctx context.Context, network string) (func(), error) {
	mu := b.payMu[network]
	mu.Lock()
	unlock, ok, err := b.locker.TryLock(ctx, "payouts-"+network)
	if err != nil || !ok {
		mu.Unlock()
		if err == nil {
			err = fmt.Errorf("backend: the %s payer is busy; retry", network)
		}
		return nil, err
	}
	return func() { unlock(); mu.Unlock() }, nil
}

// CorrectPayout undoes a payout recorded as sent (or confirmed) in a
// transaction that does not pay it, after checking that it does not: the
// transaction is another payout's, the wallet does not know it, or it pays
// other recipients or amounts, or carries another payout's marker. A
// transaction that pays the payout exactly is refused: nothing to correct.
// The correction is an event (PayoutCorrected); the amounts return to the
// balances and a later payout pays them.
func (b *Backend) CorrectPayout(ctx context.Context, c commands.CorrectPayout) error {
	net, _ := b.network(c.Network)
	unlock, err := b.holdPayer(ctx, c.Network)
	if err != nil {
		return err
	}
	defer unlock()
	if strings.TrimSpace(c.Reason) == "" {
		return commands.Permanent(errors.New("backend: CorrectPayout: a correction needs a reason"))
	}
	p, _, err := b.payoutState(ctx, c.PayoutID)
	if err != nil {
		return err
	}
	if p.Status == aggregates.PayoutCorrectedStatus {
		return nil // corrected before: a redelivery
	}
	if p.Network != c.Network || (p.Status != aggregates.PayoutSent && p.Status != aggregates.PayoutConfirmed) || p.TxID != c.TxID {
		return commands.Permanent(fmt.Errorf("backend: CorrectPayout: payout %s is %q on %q in %q; only a payout recorded as sent in --txid can be corrected",
			c.PayoutID, p.Status, p.Network, p.TxID))
	}
	why, err := b.whyNotPaidBy(ctx, net, p, c.TxID)
	if err != nil {
		return err
	}
	if why == "" {
		return commands.Permanent(fmt.Errorf("backend: CorrectPayout: transaction %s pays payout %s exactly; nothing to correct", c.TxID, c.PayoutID))
	}
	reason := c.Reason + " (checked: " + why + ")"
	return b.recordPayout(ctx, c.PayoutID, func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutCorrected(p, c.TxID, reason, b.now())
	})
}

// whyNotPaidBy says why transaction txid does not pay payout p ("" if it
// does). The transaction's own word comes first: its marker (a signed
// payout's data output) or its comment (a sendmany of an earlier release)
// names the payout it pays; then its recipients and amounts must be p's.
// Only a transaction that names no payout is judged by the ledger's other
// claims on it.
func (b *Backend) whyNotPaidBy(ctx context.Context, net *NetworkConfig, p aggregates.Payout, txid string) (string, error) {
	tx, err := net.Node.GetTransaction(ctx, txid)
	if rpcclient.ErrorCode(err) == rpcclient.CodeInvalidAddressOrKey {
		return fmt.Sprintf("the wallet does not know transaction %s", txid), nil
	}
	if err != nil {
		return "", err
	}
	if tx.Confirmations < 0 {
		return "", commands.Permanent(fmt.Errorf("backend: CorrectPayout: transaction %s is conflicted; the backend records that itself (PayoutConflicted) once it is buried", txid))
	}
	d, marked, err := b.payoutMarker(ctx, net, txid)
	if err != nil {
		return "", err
	}
	switch id, perr := uuid.Parse(tx.Comment); {
	case marked && d.PayoutID != p.ID:
		return fmt.Sprintf("transaction %s carries payout %s's marker", txid, d.PayoutID), nil
	case !marked && perr == nil && id != p.ID:
		return fmt.Sprintf("transaction %s's comment is payout %s's id", txid, id), nil
	}
	if diffs := aggregates.PayoutTxDiffs(p.Items, p.TotalSat, tx.SentByAddress(), -int64(tx.Fee)); len(diffs) > 0 {
		return fmt.Sprintf("transaction %s %s", txid, strings.Join(diffs, "; ")), nil
	}
	if marked || tx.Comment == p.ID.String() {
		return "", nil // it names this payout and pays it exactly
	}
	var other []string
	b.view.Read(func(l *aggregates.Ledger) {
		for id, q := range l.Network(p.Network).Payouts {
			if id != p.ID && (q.TxID == txid || q.Signed != nil && q.Signed.TxID == txid) {
				other = append(other, id.String())
			}
		}
	})
	if len(other) > 0 {
		sort.Strings(other)
		return fmt.Sprintf("transaction %s names no payout and is also recorded for payout %s", txid, strings.Join(other, ", ")), nil
	}
	return "", nil
}

// futurePayoutIDs is how many payout ids beyond the ledger's count the
// wallet check recognises as this network's: a wallet that already sent
// one of them is ahead of the ledger.
const futurePayoutIDs = 10_000

// walletRecheckMargin is how far before the last clean wallet check a
// later check still reads (entries can arrive with an earlier time).
const walletRecheckMargin = 10 * time.Minute

// futureIDs is the set of a network's next futurePayoutIDs payout ids
// after count, computed once per count (10,000 SHA-1s a pass otherwise).
func (b *Backend) futureIDs(network string, count int64) map[uuid.UUID]int64 {
	type cached struct {
		count int64
		ids   map[uuid.UUID]int64
	}
	if c, ok := b.futurePayouts.Load(network); ok && c.(cached).count == count {
		return c.(cached).ids
	}
	ids := make(map[uuid.UUID]int64, futurePayoutIDs)
	for k := count; k < count+futurePayoutIDs; k++ {
		ids[aggregates.PayoutID(network, k)] = k
	}
	b.futurePayouts.Store(network, cached{count, ids})
	return ids
}

// newestReceived is the latest time a page of wallet entries was received.
func newestReceived(entries []rpcclient.TransactionEntry) int64 {
	var t int64
	for _, e := range entries {
		t = max(t, e.TimeReceived, e.Time)
	}
	return t
}

// errWalletAhead stops a payout pass whose wallet holds payout sends the
// ledger does not.
var errWalletAhead = errors.New("backend: the wallet and the ledger disagree about payouts; payouts paused")

// payoutMarker reads the data output of a wallet transaction: the pool and
// payout it belongs to (ok false: it carries no payout marker). Markers
// never change, so they are cached per txid.
func (b *Backend) payoutMarker(ctx context.Context, net *NetworkConfig, txid string) (anchor.Data, bool, error) {
	if m, ok := b.markers.Load(txid); ok {
		d, ok := m.(anchor.Data)
		return d, ok, nil
	}
	tx, err := net.Node.GetTransaction(ctx, txid)
	if err != nil {
		return anchor.Data{}, false, err
	}
	d, _, ok, err := anchor.OfTransaction(tx.Hex)
	if err != nil {
		return anchor.Data{}, false, err
	}
	if ok {
		b.markers.Store(txid, d)
		return d, true, nil
	}
	b.markers.Store(txid, false)
	return anchor.Data{}, false, nil
}

// checkWallet compares the wallet's payout sends with the ledger before a
// pass plans anything. A payout send is a transaction whose data output
// carries a Purepool payout marker (anchor.Data), or a sendmany of an
// earlier release whose comment is a payout id of this network. Every
// such send must be a transaction the ledger records for that very payout
// (its signed transaction, one recorded dead, or the one it was sent in)
// of this installation. Anything else — a payout of this pool the ledger
// does not know (a restored backup behind the wallet), a payout of another
// installation (a second pool on the same wallet, or a backup restored
// before this store had its pool id), a payout sent twice, or a send made
// by hand with a payout's marker — means the next payout could pay twice:
// payouts are paused (PayoutsPaused, with the reason) and the pass stops.
// The runbook says how to resolve it.
func (b *Backend) checkWallet(ctx context.Context, net *NetworkConfig) error {
	type known struct {
		status string
		txids  map[string]bool
	}
	ledger := map[uuid.UUID]known{}
	var future map[uuid.UUID]int64
	var schedule aggregates.PayoutSchedule
	var poolID uuid.UUID
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(net.Name)
		poolID = l.PoolID
		for id, p := range n.Payouts {
			k := known{status: p.Status, txids: map[string]bool{}}
			if p.TxID != "" {
				k.txids[p.TxID] = true
			}
			if p.Signed != nil {
				k.txids[p.Signed.TxID] = true
			}
			for _, d := range p.Dead {
				k.txids[d] = true
			}
			ledger[id] = k
		}
		future = b.futureIDs(net.Name, n.PayoutCount)
		schedule = n.Schedule
	})
	// The first check of a process reads the wallet to walletSearchDepth;
	// later ones stop at entries older than the last clean check (less a
	// margin): what was checked clean stays clean unless the ledger loses
	// payouts, which takes a restore, hence a new process.
	cutoff := int64(0)
	if last, ok := b.walletChecked.Load(net.Name); ok {
		cutoff = last.(time.Time).Add(-walletRecheckMargin).Unix()
	}
	checkStarted := time.Now()
	const page = 500
	var problems []string
	seen := map[string]bool{}
	for from := 0; from < walletSearchDepth; from += page {
		entries, err := net.Node.ListTransactions(ctx, "*", page, from)
		if err != nil {
			return fmt.Errorf("backend: %s: read the wallet before paying: %w", net.Name, err)
		}
		for _, e := range entries {
			// A send of 0 to no address is a data output: a payout
			// transaction of this release, if it carries the marker.
			if e.Category != "send" || e.Address != "" || e.Amount != 0 || seen["data:"+e.TxID] {
				continue
			}
			seen["data:"+e.TxID] = true
			d, ok, err := b.payoutMarker(ctx, net, e.TxID)
			if err != nil {
				return fmt.Errorf("backend: %s: read wallet transaction %s before paying: %w", net.Name, e.TxID, err)
			}
			if ok {
				if msg := markedSendProblem(d, e.TxID, poolID, ledger[d.PayoutID].status, ledger[d.PayoutID].txids); msg != "" {
					problems = append(problems, msg)
				}
			}
		}
		for _, e := range entries {
			if e.Category != "send" || seen[e.TxID+e.Comment] {
				continue
			}
			seen[e.TxID+e.Comment] = true
			id, perr := uuid.Parse(e.Comment)
			if perr != nil {
				continue
			}
			p, inLedger := ledger[id]
			k, isFuture := future[id]
			switch {
			case inLedger && (p.status == aggregates.PayoutPlanned || p.status == aggregates.PayoutHalted):
				// being settled: settle() matches it, or halts
			case inLedger && p.status == aggregates.PayoutFailed:
				problems = append(problems, fmt.Sprintf("payout %s is recorded as failed (its amounts went back to the balances), yet the wallet sent it in %s", id, e.TxID))
			case inLedger && !p.txids[e.TxID]:
				problems = append(problems, fmt.Sprintf("payout %s is recorded in another transaction, yet the wallet also sent it in %s", id, e.TxID))
			case isFuture:
				problems = append(problems, fmt.Sprintf("the wallet sent payout #%d (%s) in %s, which this ledger has not planned", k, id, e.TxID))
			}
		}
		if len(entries) < page || (len(entries) > 0 && newestReceived(entries) < cutoff) {
			break
		}
	}
	if len(problems) == 0 {
		b.walletChecked.Store(net.Name, checkStarted)
		return nil
	}
	sort.Strings(problems)
	reason := fmt.Sprintf("WALLET AHEAD OF THE LEDGER: %d payout send(s) of the wallet are not this ledger's: %s. "+
		"The event store is behind the wallet (a restored backup?), another installation shares this wallet, or a payout marker was used by hand; "+
		"see the runbook before resuming", len(problems), strings.Join(problems, "; "))
	b.log.Error("PAYOUTS PAUSED: the wallet holds payout sends the ledger does not", "network", net.Name, "problems", problems)
	if schedule.Paused {
		return errWalletAhead
	}
	evs, err := aggregates.DecidePausePayouts(schedule, commands.PausePayouts{Network: net.Name, Reason: reason, At: b.now()})
	if err != nil {
		return err
	}
	key := "wallet-check:" + net.Name + ":" + problems[0]
	stream := events.StreamPayoutSchedule(net.Name)
	var exp events.ExpectedVersion
	b.view.Read(func(l *aggregates.Ledger) { exp = l.Expected(stream) })
	res, err := appendDecided(ctx, b.store, key, events.Metadata{CorrelationID: key, CausationID: key}, evs,
		func(string) events.ExpectedVersion { return exp })
	if err != nil {
		return errors.Join(errWalletAhead, err)
	}
	if err := b.view.WaitForAppend(ctx, res); err != nil {
		return err
	}
	return errWalletAhead
}

// markedSendProblem says what is wrong with a wallet transaction carrying
// the payout marker d ("" if it is this ledger's): status and txids are
// what the ledger records for d's payout (status "" if it has none).
func markedSendProblem(d anchor.Data, txid string, poolID uuid.UUID, status string, txids map[string]bool) string {
	switch {
	case d.PoolID != poolID:
		return fmt.Sprintf("transaction %s pays payout %s of another installation (pool %s; this pool is %s): a second installation uses this wallet, or this store was restored from a backup older than its pool id",
			txid, d.PayoutID, d.PoolID, poolID)
	case status == "":
		return fmt.Sprintf("transaction %s pays this pool's payout %s, which this ledger has not planned: the ledger is behind the wallet (a restored backup?)", txid, d.PayoutID)
	case !txids[txid]:
		return fmt.Sprintf("transaction %s pays payout %s, which the ledger records in other transactions (%s)", txid, d.PayoutID, strings.Join(sortedKeys(txids), ", "))
	case status == aggregates.PayoutFailed || status == aggregates.PayoutCorrectedStatus:
		return fmt.Sprintf("payout %s is recorded as %s (its amounts went back to the balances), yet the wallet holds its transaction %s", d.PayoutID, status, txid)
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
