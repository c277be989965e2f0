package audit

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

type acctKey struct {
	network string
	id      uuid.UUID
}

type workRef struct {
	network string
	miner   uuid.UUID
}

type blockKey struct{ network, hash string }

type bibleKey struct{ network, hash string }

// blockNotes is what the audit remembers of a pool block beyond the
// aggregate's state: the aggregate overwrites the reward at maturity and
// keeps no positions.
type blockNotes struct {
	discoveredAt, maturedAt, orphanedAt uint64
	discoveredReward                    int64
	// rule is the block's round rule; last and prev the types of the
	// last two events of its stream (the order checks of fairness.go).
	rule, last, prev string
	roundAt          uint64 // the RoundClosed's position
	finderKnown      bool   // the finder was a known miner when the round closed
	feeAt            uint64 // the FeeCredited's position
	policyBps        int64  // the PoolPolicySet's fee in force when the block was discovered, else at its FeeCredited (-1: none recorded)
	// feeAfterHeight: a round by height had been closed in the network
	// when the FeeCredited was written (the release of the rounds by
	// height was running).
	feeAfterHeight bool
}

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

// auditor is the fold. Every event goes through aggregates.Ledger — the
// backend's own fold — and the checks read the ledger's state; the audit
// keeps beside it only what the ledger does not: positions, an independent
// tally of every account (to compare with the ledger's balances), the works
// issued and the bible hashes accepted.
type auditor struct {
	opt    Options
	rep    *Report
	ledger *aggregates.Ledger

	chainKept   bool
	lastPos     uint64
	lastHash    []byte
	lastMissing bool // the previous event's hash was empty
	missingRun  *missingRun
	anchors     map[uint64][]byte

	works    map[uuid.UUID]workRef
	bible    map[bibleKey]uuid.UUID
	blocks   map[blockKey]*blockNotes
	accounts map[acctKey]*Account
	debts    map[acctKey]*debt
	// explains is what the CreditReversed being folded may add to its
	// account's debt (set by check, read by tally; nil for any other
	// event and for a reversal that explains none); excess is the rest of
	// its amount, which explains nothing.
	explains *Cause
	excess   int64
	txids    map[string]uuid.UUID
	// reused: later payouts naming a transaction already claimed;
	// corrected: the position of each payout's PayoutCorrected.
	reused    []txReuse
	corrected map[uuid.UUID]uint64
	totals    map[string]*Totals
	fairNets  map[string]*fairNet

	snapshotAt uint64
	snapshot   map[acctKey]Account
	snapTaken  bool

	stmt *statementCollector
	anc  anchorState // the public anchors (anchors.go)
}

func newAuditor(opt Options) *auditor {
	a := &auditor{
		opt:       opt,
		rep:       &Report{ByType: map[string]uint64{}},
		ledger:    aggregates.NewLedger(aggregates.LedgerConfig{}),
		anchors:   map[uint64][]byte{},
		works:     map[uuid.UUID]workRef{},
		bible:     map[bibleKey]uuid.UUID{},
		blocks:    map[blockKey]*blockNotes{},
		accounts:  map[acctKey]*Account{},
		debts:     map[acctKey]*debt{},
		txids:     map[string]uuid.UUID{},
		corrected: map[uuid.UUID]uint64{},
		totals:    map[string]*Totals{},
		fairNets:  map[string]*fairNet{},
	}
	for _, an := range opt.Anchors {
		a.anchors[an.Position] = an.Hash
	}
	if opt.Statement != nil {
		a.stmt = newStatementCollector(*opt.Statement)
	}
	return a
}

func (a *auditor) violation(kind Kind, pos uint64, network, subject, format string, args ...any) {
	a.rep.add(Violation{Kind: kind, Position: pos, Network: network, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

func (a *auditor) total(network string) *Totals {
	t, ok := a.totals[network]
	if !ok {
		t = &Totals{Network: network, FeeBps: -1}
		a.totals[network] = t
	}
	return t
}

func (a *auditor) account(network string, id uuid.UUID) *Account {
	k := acctKey{network, id}
	acc, ok := a.accounts[k]
	if !ok {
		acc = &Account{Network: network, ID: id, Fee: id == events.FeeAccountID(network), Carry: id == events.CarryAccountID(network)}
		if m, ok := a.ledger.Networks[network]; ok {
			if mi, ok := m.Miners[id]; ok {
				acc.Address = mi.Address
			}
		}
		a.accounts[k] = acc
	}
	return acc
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

func accountName(acc *Account) string {
	if acc.Fee {
		return "the pool-fee account"
	}
	if acc.Carry {
		return "the carry account"
	}
	if acc.Address != "" {
		return acc.Address
	}
	return "miner " + acc.ID.String()
}

// apply is called for every event in position order.
func (a *auditor) apply(d decoded) {
	env := d.env
	a.explains, a.excess = nil, 0
	a.anchorEvent(d) // every event is a leaf of the anchors' tree (anchors.go)
	a.checkChain(env, d.hash)
	a.rep.Events++
	a.rep.Head = env.Position
	a.rep.ByType[env.Type]++
	if d.err != nil {
		a.violation(KindUndecodable, env.Position, "", env.Stream, "%v", d.err)
		a.afterEvent(env.Position)
		return
	}
	e := d.event
	if !inItsStream(e, env.Stream) {
		a.violation(KindWrongStream, env.Position, "", env.Stream, "%s belongs in stream %q", env.Type, aggregates.StreamFor(e))
	}
	pos := env.Position
	a.check(pos, e) // before the ledger folds it: checks see the state it met
	a.poolBlockEvent(e)
	a.ledger.Position = pos
	a.ledger.ApplyEvent(pos, e)
	a.tally(pos, e)
	if a.stmt != nil {
		a.stmt.apply(pos, e, a.ledger)
	}
	a.afterEvent(pos)
}

func (a *auditor) afterEvent(pos uint64) {
	if !a.snapTaken && a.snapshotAt > 0 && pos >= a.snapshotAt {
		a.takeSnapshot()
	}
}

func (a *auditor) takeSnapshot() {
	a.snapTaken = true
	a.snapshot = make(map[acctKey]Account, len(a.accounts))
	for k, acc := range a.accounts {
		a.snapshot[k] = *acc
	}
}

// checkChain verifies one link of the tamper-evidence chain. Whether the
// chain is checked at all is what the store is (events.ChainKeeper, read by
// Run), never what the rows hold: in a store that keeps a chain, an empty
// hash, or an empty previous hash after the first event, is a violation
// (KindChainMissing), so blanking the hashes cannot switch the check off.
func (a *auditor) checkChain(env *events.Envelope, recomputed []byte) {
	pos := env.Position
	first := a.rep.Events == 0
	firstBad := pos
	bad := func(kind Kind, format string, args ...any) {
		a.violation(kind, pos, "", env.Stream, format, args...)
		if a.rep.FirstBadPosition == 0 {
			a.rep.FirstBadPosition = firstBad
		}
	}
	if want, ok := a.anchors[pos]; ok {
		if !bytes.Equal(want, env.Hash) {
			bad(KindChainAnchor, "hash %s, the anchor says %s", hexOrEmpty(env.Hash), hexOrEmpty(want))
		}
		delete(a.anchors, pos)
	}
	if !a.chainKept {
		if len(env.Hash) > 0 || len(env.PrevHash) > 0 {
			bad(KindChainHash, "event carries a hash, but the %s store keeps no hash chain (written by something else?)", a.rep.storeName())
		}
		a.lastPos = pos
		return
	}
	if pos != a.lastPos+1 {
		firstBad = min(pos, a.lastPos+1) // a missing position is the first bad one
		if pos > a.lastPos+1 {
			bad(KindChainPosition, "expected position %d, found %d: %d event(s) missing", a.lastPos+1, pos, pos-a.lastPos-1)
		} else {
			bad(KindChainPosition, "position %d follows position %d", pos, a.lastPos)
		}
	}
	// The first event of the log (position 1) has no previous hash; every
	// other event has one, and every event has a hash.
	noHash := len(env.Hash) == 0
	noPrev := len(env.PrevHash) == 0 && !(first && pos == 1)
	if noHash || noPrev {
		a.missing(pos, noHash, noPrev)
	} else {
		a.flushMissing()
	}
	switch {
	case noPrev || a.lastMissing:
		// The link cannot be judged against an emptied hash; the empty
		// one is the violation (reported once per run of such events).
	case !bytes.Equal(env.PrevHash, a.lastHash):
		if first {
			bad(KindChainLink, "the first event's previous hash is %s, not empty", hexOrEmpty(env.PrevHash))
		} else {
			bad(KindChainLink, "previous hash %s is not position %d's hash %s", hexOrEmpty(env.PrevHash), a.lastPos, hexOrEmpty(a.lastHash))
		}
	}
	if !noHash && !noPrev && !bytes.Equal(recomputed, env.Hash) {
		bad(KindChainHash, "stored hash %s, content hashes to %s (the event was altered)", hexOrEmpty(env.Hash), hexOrEmpty(recomputed))
	}
	a.lastPos = pos
	a.lastHash = env.Hash
	a.lastMissing = noHash
}

// missingRun is a run of consecutive events whose hash or previous hash
// is empty in a store that keeps a chain: blanking every hash makes one
// violation, not one per event.
type missingRun struct {
	from, to     uint64
	n            uint64
	hashes, prev uint64
}

func (a *auditor) missing(pos uint64, noHash, noPrev bool) {
	r := a.missingRun
	if r == nil {
		r = &missingRun{from: pos}
		a.missingRun = r
		if a.rep.FirstBadPosition == 0 {
			a.rep.FirstBadPosition = pos
		}
	}
	r.to = pos
	r.n++
	if noHash {
		r.hashes++
	}
	if noPrev {
		r.prev++
	}
}

// flushMissing reports the run of events with emptied hashes that ended.
func (a *auditor) flushMissing() {
	r := a.missingRun
	if r == nil {
		return
	}
	a.missingRun = nil
	where := fmt.Sprintf("position %d", r.from)
	if r.n > 1 {
		where = fmt.Sprintf("%d events at positions %d..%d", r.n, r.from, r.to)
	}
	what := "its hash is empty"
	switch {
	case r.n > 1 && r.hashes == r.n && r.prev >= r.n-1:
		what = "their hashes and previous hashes are empty"
	case r.n > 1:
		what = fmt.Sprintf("%d hash(es) and %d previous hash(es) are empty", r.hashes, r.prev)
	case r.hashes == 1 && r.prev == 1:
		what = "its hash and previous hash are empty"
	case r.prev == 1:
		what = "its previous hash is empty"
	}
	a.rep.add(Violation{Kind: KindChainMissing, Position: r.from, Subject: "hash chain",
		Detail: fmt.Sprintf("%s: %s; the %s store writes the whole chain on every append, so they were blanked or reset behind its back, and the chain cannot vouch for these events",
			where, what, a.rep.storeName())})
}

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

func (a *auditor) notes(network, hash string) *blockNotes {
	return a.blocks[blockKey{network, hash}]
}

func (a *auditor) payout(network string, id uuid.UUID) aggregates.Payout {
	if n, ok := a.ledger.Networks[network]; ok {
		if p, ok := n.Payouts[id]; ok {
			return *p
		}
	}
	return aggregates.Payout{Network: network, ID: id}
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

// compareReadModel compares the read model with the replay at its checkpoint.
func (a *auditor) compareReadModel(s ReadModelSnapshot) {
	pos := s.Position
	a.rep.ReadModelPosition = &pos
	seen := map[acctKey]bool{}
	for _, rm := range s.Accounts {
		k := acctKey{rm.Network, rm.ID}
		seen[k] = true
		a.rep.ReadModelAccounts++
		want := a.snapshot[k] // zero if the replay knows no money of this account
		if rm.CreditedSat != want.CreditedSat || rm.ReversedSat != want.ReversedSat || rm.PaidSat != want.PaidSat || rm.BalanceSat != want.BalanceSat {
			a.violation(KindReadModel, 0, rm.Network, rm.ID.String(),
				"read model: credited %s reversed %s paid %s balance %s; replay at position %d: credited %s reversed %s paid %s balance %s",
				FormatBBP(rm.CreditedSat), FormatBBP(rm.ReversedSat), FormatBBP(rm.PaidSat), FormatBBP(rm.BalanceSat), pos,
				FormatBBP(want.CreditedSat), FormatBBP(want.ReversedSat), FormatBBP(want.PaidSat), FormatBBP(want.BalanceSat))
		}
	}
	for k, acc := range a.snapshot {
		if seen[k] || acc.Fee || acc.Carry || (acc.CreditedSat == 0 && acc.ReversedSat == 0 && acc.PaidSat == 0) {
			continue
		}
		a.violation(KindReadModel, 0, k.network, k.id.String(), "the read model has no row for %s (replay: balance %s BBP)", accountName(&acc), FormatBBP(acc.BalanceSat))
	}
	for _, pt := range s.Totals {
		var want ReadModelTotals
		want.Network = pt.Network
		for k, acc := range a.snapshot {
			if k.network != pt.Network || acc.Carry { // the carry account is neither a miner's nor the fee
				continue
			}
			if acc.Fee {
				want.FeeSat += acc.CreditedSat
				want.FeeReversedSat += acc.ReversedSat
			} else {
				want.CreditedSat += acc.CreditedSat
				want.ReversedSat += acc.ReversedSat
			}
			want.PaidSat += acc.PaidSat
		}
		if pt != want {
			a.violation(KindReadModel, 0, pt.Network, "totals",
				"read model totals: credited %s reversed %s fee %s fee reversed %s paid %s; replay at position %d: %s %s %s %s %s",
				FormatBBP(pt.CreditedSat), FormatBBP(pt.ReversedSat), FormatBBP(pt.FeeSat), FormatBBP(pt.FeeReversedSat), FormatBBP(pt.PaidSat), pos,
				FormatBBP(want.CreditedSat), FormatBBP(want.ReversedSat), FormatBBP(want.FeeSat), FormatBBP(want.FeeReversedSat), FormatBBP(want.PaidSat))
		}
	}
}

// inItsStream reports whether stream is the one aggregates.StreamFor names
// for e, without building the name for the frequent events.
func inItsStream(e events.Event, stream string) bool {
	switch e := e.(type) {
	case events.WorkIssued:
		return hasID(stream, "work-", e.WorkID)
	case events.SolutionAccepted:
		return hasID(stream, "solution-", e.SolutionID)
	case events.SolutionRejected:
		return hasID(stream, "solution-", e.SolutionID)
	case events.BibleHashReserved:
		rest, ok := strings.CutPrefix(stream, "biblehash-")
		return ok && len(rest) == len(e.Network)+1+len(e.BibleHash) && rest[:len(e.Network)] == e.Network &&
			rest[len(e.Network)] == '-' && rest[len(e.Network)+1:] == e.BibleHash
	}
	return aggregates.StreamFor(e) == stream
}

func hasID(stream, prefix string, id uuid.UUID) bool {
	rest, ok := strings.CutPrefix(stream, prefix)
	if !ok || len(rest) != 36 {
		return false
	}
	var buf [36]byte
	const hexDigits = "0123456789abcdef"
	j := 0
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		buf[j], buf[j+1] = hexDigits[b>>4], hexDigits[b&15]
		j += 2
	}
	return string(buf[:]) == rest
}
