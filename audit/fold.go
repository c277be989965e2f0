package audit

// The fold's driver: the auditor's state, how each event goes through it
// (apply), and the snapshot compared with the read model. The checks live
// beside it: fold_chain.go, fold_check.go, fold_payouts.go, fold_debts.go,
// fold_finish.go and fold_blocks.go.

import (
	"fmt"
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
