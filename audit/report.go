package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Kind names what a violation breaks. The strings are stable: scripts match on them.
type Kind string

// Tamper evidence.
const (
	// KindChainPosition: positions are not gapless from 1 (a deleted,
	// inserted or moved row).
	KindChainPosition Kind = "chain_position"
	// KindChainLink: an event's PrevHash is not the previous event's Hash.
	KindChainLink Kind = "chain_link"
	// KindChainHash: an event's Hash is not ChainHash of its content (an edited row).
	KindChainHash Kind = "chain_hash"
	// KindChainAnchor: the log disagrees with an anchor recorded earlier.
	KindChainAnchor Kind = "chain_anchor"
	// KindChainMissing: in a store that keeps a chain (PostgreSQL,
	// SQLite), events whose hash, or previous hash after position 1, is
	// empty: blanked or reset. One violation per run of consecutive such
	// events.
	KindChainMissing Kind = "chain_missing"
	// KindChainNotKept: the store keeps no hash chain (EventStoreDB), and
	// the audit was asked to require one (Options.RequireChain,
	// --require-chain). Without that option it is a warning in the report.
	KindChainNotKept Kind = "chain_not_kept"
)

// Ledger invariants.
const (
	// KindUndecodable: an event the catalogue cannot read.
	KindUndecodable Kind = "undecodable"
	// KindWrongStream: an event stored outside the stream aggregates.StreamFor names.
	KindWrongStream Kind = "wrong_stream"
	// KindRewardSplit: a matured block's credits + fee differ from its
	// reward + what its round took from the carry account − what an empty
	// round put into it (RoundEmpty carried).
	KindRewardSplit Kind = "reward_split"
	// KindSplitMismatch: credits differ from aggregates.Distribute of the
	// miners' part (reward − FeeOf(reward, bps) + carried in) over the
	// block's round.
	KindSplitMismatch Kind = "split_mismatch"
	// KindRewardMismatch: the matured reward differs from the discovered one.
	KindRewardMismatch Kind = "reward_mismatch"
	// KindRoundTotals: a round's totals are not the sum of its tallies.
	KindRoundTotals Kind = "round_totals"
	// KindUnmaturedCredit: a credit of a block that never matured (or was never discovered).
	KindUnmaturedCredit Kind = "unmatured_credit"
	// KindCreditAfterOrphan: a credit written after its block was orphaned.
	KindCreditAfterOrphan Kind = "credit_after_orphan"
	// KindUnreversedCredit: a credit of an orphaned or reorganised block that stands.
	KindUnreversedCredit Kind = "unreversed_credit"
	// KindBadReversal: a reversal of more than was credited, or of a block still on the chain.
	KindBadReversal Kind = "bad_reversal"
	// KindNegativeBalance: an account's balance went below zero, or
	// deeper, by more than reversals of pool blocks orphaned after their
	// credits were paid explain (those are KindDebtAfterOrphan findings):
	// reported at the event that did it. The fee and carry accounts may
	// never go below zero.
	KindNegativeBalance Kind = "negative_balance"
	// KindBalanceMismatch: the backend's fold (aggregates.Ledger) disagrees
	// with credits − reversals − payouts.
	KindBalanceMismatch Kind = "balance_mismatch"
	// KindSolutionUnknownWork: an accepted solution names no earlier WorkIssued.
	KindSolutionUnknownWork Kind = "solution_unknown_work"
	// KindSolutionWorkMismatch: the work was issued to another miner or network.
	KindSolutionWorkMismatch Kind = "solution_work_mismatch"
	// KindDuplicateBibleHash: a bible hash accepted twice.
	KindDuplicateBibleHash Kind = "duplicate_bible_hash"
	// KindPayoutNoTxID: a payout recorded as sent without a transaction id.
	KindPayoutNoTxID Kind = "payout_no_txid"
	// KindPayoutState: a payout event that contradicts the payout's state
	// (as the aggregates.DecidePayout* rules see it).
	KindPayoutState Kind = "payout_state"
	// KindPayoutItems: a payout's items do not add up, are not positive, or
	// pay an address that is not the miner's.
	KindPayoutItems Kind = "payout_items"
	// KindPayoutTxIDReused: two payouts name the same transaction.
	KindPayoutTxIDReused Kind = "payout_txid_reused"
)

// Fairness: rounds, shares and the fee (issue 12). A round is judged by the
// rule its block was discovered under (events.RoundRule*): by position for
// blocks of releases before the rounds by height, by height since. The audit
// re-derives every round by height from the accepted shares' mined heights
// (PrevHeight+1) and positions, independently of aggregates.Ledger.
const (
	// KindRoundMembership: a round differs from its re-derivation: its
	// tallies or totals, its late-share list (LateSharesCounted), its
	// FromHeight, its scheme (the PoolPolicySet in force), or what it took
	// from the carry account.
	KindRoundMembership Kind = "round_membership"
	// KindFairWinningShare: a matured pool block's winning share (the
	// SolutionAccepted naming the block's hash) is not in its block's
	// round although it was stored before the round was decided, was mined
	// on another height than the block's, or was stored only after its
	// round was decided.
	KindFairWinningShare Kind = "fairness_winning_share"
	// KindFairDoubleCount: a share counted in two rounds (PROP): position
	// ranges that overlap, a round by position over shares a round by
	// height counted, a late share counted before, a tally that holds a
	// share an earlier round counted.
	KindFairDoubleCount Kind = "fairness_double_count"
	// KindFairRoundChanged: a round whose membership changed after it was
	// fixed or credited: a second RoundClosed for a block, a RoundClosed
	// after the block matured or was credited, a round by height not
	// written in its block's maturity append (RoundClosed, then
	// LateSharesCounted or BlockMatured), a round by height decided at or
	// after its own position, a round of the other rule than its block's.
	KindFairRoundChanged Kind = "fairness_round_changed"
	// KindFairFee: a FeeCredited whose basis points differ from the
	// PoolPolicySet in force at its position (when one was recorded), whose
	// amount is not aggregates.FeeOf(reward, bps), or that credits another
	// account than the network's fee account.
	KindFairFee Kind = "fairness_fee"
	// KindFairEmptyRound: a round without shares whose money went wrong:
	// the pool kept the whole reward (the release before the rounds by
	// height did so: for its blocks that is the finding
	// KindOldEmptyRound), no RoundEmpty says where the miners' part went,
	// or the RoundEmpty disagrees with the credits or the finder.
	KindFairEmptyRound Kind = "fairness_empty_round"
	// KindCarryAccount: the carry account (events.CarryAccountID, owed to
	// miners) misused: paid out, credited as a miner or a fee, below zero,
	// or holding the part of a block that left the chain.
	KindCarryAccount Kind = "carry_account"
)

// Checks against services.
const (
	// KindWalletMissing: the wallet does not know a sent payout's transaction.
	KindWalletMissing Kind = "wallet_tx_missing"
	// KindWalletMismatch: the wallet's transaction pays other amounts or addresses.
	KindWalletMismatch Kind = "wallet_tx_mismatch"
	// KindReadModel: a read model's balance or total differs from the replay.
	KindReadModel Kind = "readmodel_mismatch"
)

// Known states: findings, not violations. Each is a state of the ledger
// the runbook explains, left by an event the log holds; the report names
// that event and the runbook's section (KnownStates), and it does not fail
// the audit (exit status 0). The state is checked against its causing
// events: as soon as it is more than they explain, it is the violation
// KnownState.Otherwise names, so a tampered row cannot hide behind it.
const (
	// KindDebtAfterOrphan: a miner's balance below zero — a debt — left by
	// CreditReversed of a pool block that left the chain after its credits
	// were paid out (backend/PAYOUTS.md). Every change of a miner's
	// balance is followed: only a reversal of a block orphaned after it
	// matured, of no more than the block's own reward credited the miner
	// (aggregates.ReversedOnOrphan), may make or deepen a debt, and by no
	// more than its amount; credits and returned payouts pay it back
	// first. A balance below what such reversals explain — one that goes
	// negative at a payout, or deeper than the reversals, or one with no
	// reversal at all — is negative_balance, at the event that did it.
	KindDebtAfterOrphan Kind = "debt_after_orphan"
	// KindOldEmptyRound: a round without shares of a pool block found by a
	// release before the rounds by height, whose whole reward that release
	// gave to the pool-fee account (the fee it kept beyond its basis points
	// is the finding's amount). Only such a block (round by position), and
	// only when credited before any PoolPolicySet was recorded and before
	// any round by height was closed in its network — as that release did,
	// which recorded neither; otherwise it is fairness_empty_round.
	KindOldEmptyRound Kind = "old_release_empty_round"
	// KindPayoutCorrected: a payout recorded as sent in a transaction that
	// did not pay it (an earlier release's reconcile-payout took any txid,
	// so two payouts name one transaction), corrected by an admin's
	// PayoutCorrected, which returned its amounts. Only the payout that
	// was corrected explains it: two payouts naming one transaction with
	// neither corrected is payout_txid_reused.
	KindPayoutCorrected Kind = "payout_corrected"
)

// KnownState documents one kind of finding.
type KnownState struct {
	Kind Kind `json:"kind"`
	// Otherwise is the violation the state is when its causing events do
	// not explain it.
	Otherwise Kind   `json:"otherwise"`
	Summary   string `json:"summary"`
	// Runbook is where the runbook explains the state and what to do.
	Runbook string `json:"runbook"`
}

// Runbook sections the findings point to.
const (
	runbookDebt      = `backend/PAYOUTS.md "A pool block left the chain after its credits were paid"; docs/operations.md §5.2 "Orphaned pool blocks"`
	runbookOldEmpty  = `docs/operations.md §5.3 "Upgrading from a release before the rounds by height"; backend/PAYOUTS.md "What a matured block credits", item 7`
	runbookCorrected = `backend/PAYOUTS.md "A payout was recorded in the wrong transaction (correction)"; docs/operations.md §5.1`
)

// KnownStates lists every kind of finding, as docs/operations.md §5.5
// does.
func KnownStates() []KnownState {
	return []KnownState{
		{KindDebtAfterOrphan, KindNegativeBalance,
			"a miner's debt left by the reversal of a pool block orphaned after its credits were paid out", runbookDebt},
		{KindOldEmptyRound, KindFairEmptyRound,
			"an empty round of a block found by a release before the rounds by height, whose whole reward that release gave to the pool", runbookOldEmpty},
		{KindPayoutCorrected, KindPayoutTxIDReused,
			"a payout recorded in another payout's transaction, corrected by an admin (its amounts returned)", runbookCorrected},
	}
}

// Cause is one event that made a finding's state.
type Cause struct {
	Position  uint64 `json:"position"`
	Event     string `json:"event"` // the event's type
	BlockHash string `json:"block_hash,omitempty"`
	// AmountSat is what the event contributed to the state (e.g. how much
	// of the debt it explains).
	AmountSat int64 `json:"amount_sat"`
}

// Finding is a known state (KnownStates): not a violation.
type Finding struct {
	Kind Kind `json:"kind"`
	// Position and Event name the event that caused the state; when
	// several did, the first, and Causes lists them all.
	Position uint64 `json:"position"`
	Event    string `json:"event"`
	Network  string `json:"network,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// AmountSat is the state's amount: the debt, the reward the pool kept
	// beyond its fee.
	AmountSat int64   `json:"amount_sat"`
	Detail    string  `json:"detail"`
	Causes    []Cause `json:"causes,omitempty"`
	// Runbook is where the runbook explains the state.
	Runbook string `json:"runbook"`
	// OnChain: the node confirmed what the causing events say happened on
	// the chain (--verify-chain: each orphaned block is no longer at its
	// height).
	OnChain bool `json:"verified_on_chain,omitempty"`
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at position %d (%s)", f.Kind, f.Position, f.Event)
	if f.Network != "" {
		fmt.Fprintf(&b, " [%s]", f.Network)
	}
	if f.Subject != "" {
		fmt.Fprintf(&b, " %s", f.Subject)
	}
	b.WriteString(": ")
	b.WriteString(f.Detail)
	return b.String()
}

// Violation is one thing the log breaks: tampering, a broken invariant.
type Violation struct {
	Kind Kind `json:"kind"`
	// Position is the event the finding is about; 0 when it is about the
	// final state (then Subject names what).
	Position uint64 `json:"position,omitempty"`
	Network  string `json:"network,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Detail   string `json:"detail"`
}

func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(string(v.Kind))
	if v.Position > 0 {
		fmt.Fprintf(&b, " at position %d", v.Position)
	}
	if v.Network != "" {
		fmt.Fprintf(&b, " [%s]", v.Network)
	}
	if v.Subject != "" {
		fmt.Fprintf(&b, " %s", v.Subject)
	}
	b.WriteString(": ")
	b.WriteString(v.Detail)
	return b.String()
}

// Account is one balance as the replay derives it.
type Account struct {
	Network string    `json:"network"`
	ID      uuid.UUID `json:"account_id"`
	Address string    `json:"address,omitempty"`
	Fee     bool      `json:"fee,omitempty"` // the network's pool-fee account
	// Carry is the network's carry account (events.CarryAccountID): the
	// miners' part of empty rounds without a known finder, owed to the next
	// round with shares; neither a miner's nor the pool's.
	Carry bool `json:"carry,omitempty"`
	// Balance = Credited − Reversed − Paid − TakenSat, where Paid counts
	// planned payouts that did not fail. For the carry account, Credited
	// is what empty rounds put in (RoundEmpty carried) and TakenSat what
	// later rounds took out (RoundClosed.CarriedInSat).
	CreditedSat int64 `json:"credited_sat"`
	ReversedSat int64 `json:"reversed_sat"`
	PaidSat     int64 `json:"paid_sat"`
	TakenSat    int64 `json:"taken_sat,omitempty"`
	BalanceSat  int64 `json:"balance_sat"`
}

// Totals sums a network's ledger.
type Totals struct {
	Network          string `json:"network"`
	Miners           int    `json:"miners"`
	AcceptedShares   int64  `json:"accepted_shares"`
	RejectedShares   int64  `json:"rejected_shares"`
	BlocksDiscovered int    `json:"blocks_discovered"`
	BlocksMatured    int    `json:"blocks_matured"`
	BlocksOrphaned   int    `json:"blocks_orphaned"`
	BlocksReorged    int    `json:"blocks_reorganised"` // left the chain without a BlockOrphaned
	RewardSat        int64  `json:"reward_sat"`         // of matured blocks
	CreditedSat      int64  `json:"credited_sat"`       // to miners
	FeeSat           int64  `json:"fee_sat"`
	// Of matured blocks: RewardSat + CarriedInSat == CreditedSat + FeeSat +
	// CarriedOutSat for a clean log.
	CarriedInSat   int64 `json:"carried_in_sat,omitempty"`  // rounds took from the carry account
	CarriedOutSat  int64 `json:"carried_out_sat,omitempty"` // empty rounds put into it
	ReversedSat    int64 `json:"reversed_sat"`              // miners' credits taken back
	FeeReversedSat int64 `json:"fee_reversed_sat"`
	// CarryReversedSat: carried amounts of blocks that left the chain taken back.
	CarryReversedSat int64 `json:"carry_reversed_sat,omitempty"`
	PaidSat          int64 `json:"paid_sat"` // planned, not failed nor conflicted
	// Balances, kept apart: MinerBalanceSat is what the miners are owed
	// (every miner's balance, negative ones included), FeeBalanceSat the
	// pool-fee account's (the pool's own money, not owed to anyone), and
	// CarrySat the carry account's (owed to the miners of the next round
	// with shares, not yet anyone's).
	MinerBalanceSat int64 `json:"miner_balance_sat"`
	FeeBalanceSat   int64 `json:"fee_balance_sat"`
	CarrySat        int64 `json:"carry_sat,omitempty"`
	// BalanceSat is kept for scripts written before the split: the sum
	// MinerBalanceSat + FeeBalanceSat, the fee account included (not what
	// the miners are owed), the carry account excluded.
	BalanceSat int64 `json:"balance_sat"`
	// Rounds: by rule (position: releases before the rounds by height),
	// empty rounds by outcome, and shares counted late.
	RoundsByPosition int   `json:"rounds_by_position,omitempty"`
	RoundsByHeight   int   `json:"rounds_by_height,omitempty"`
	EmptyRounds      int   `json:"empty_rounds,omitempty"` // every round of a matured block without shares, either rule
	EmptyToFinder    int   `json:"empty_to_finder,omitempty"`
	EmptyCarried     int   `json:"empty_carried,omitempty"`
	EmptyKeptByPool  int   `json:"empty_kept_by_pool,omitempty"` // the whole reward to the fee account (old release)
	LateShares       int64 `json:"late_shares,omitempty"`
	// FeeBps is the fee of the last PoolPolicySet (-1: none recorded).
	FeeBps        int64 `json:"fee_bps"`
	Payouts       int   `json:"payouts"`
	PayoutsSent   int   `json:"payouts_sent"` // sent or confirmed
	PayoutsFailed int   `json:"payouts_failed"`
	// PayoutsConflicted: sent, then double spent by the chain (repaid later).
	PayoutsConflicted int `json:"payouts_conflicted"`
	// PayoutsCorrected: recorded as sent in a transaction that did not pay
	// them, corrected by an admin (repaid later).
	PayoutsCorrected int `json:"payouts_corrected"`
	PayoutsUnsettled int `json:"payouts_unsettled"` // planned or halted
}

// Report is the outcome of an audit.
type Report struct {
	Events   uint64            `json:"events"`
	Head     uint64            `json:"head"`
	HeadHash string            `json:"head_hash,omitempty"`
	ByType   map[string]uint64 `json:"by_type"`
	// Store names the audited store ("PostgreSQL", "SQLite",
	// "EventStoreDB"; empty for a reader that does not say).
	Store string `json:"store,omitempty"`
	// ChainKept is what the store says it is (events.ChainKeeper), never
	// what its rows hold: true for PostgreSQL and SQLite, whose chain was
	// checked (an empty hash in them is a violation); false for
	// EventStoreDB, whose log cannot show tampering (ChainWarning).
	ChainKept bool `json:"chain_kept"`
	// ChainWarning is set when the chain is not kept: tampering is then
	// not detectable from the log alone, whatever the violations say.
	ChainWarning string `json:"chain_warning,omitempty"`
	// FirstBadPosition is the first position where the chain breaks (0: none).
	FirstBadPosition uint64    `json:"first_bad_position,omitempty"`
	Networks         []Totals  `json:"networks"`
	Accounts         []Account `json:"accounts,omitempty"`
	// WalletChecked counts the payouts confirmed against the wallet.
	WalletChecked int `json:"wallet_checked,omitempty"`
	// ReadModelPosition is the read model's checkpoint the replay was
	// compared at (nil: no read model was compared).
	ReadModelPosition *uint64 `json:"readmodel_position,omitempty"`
	ReadModelAccounts int     `json:"readmodel_accounts,omitempty"`
	// Findings are the known states the log holds (KnownStates): each
	// with the event that caused it and the runbook's section. They do
	// not fail the audit.
	Findings   []Finding   `json:"findings"`
	Violations []Violation `json:"violations"`
	// Anchors: the log heads payouts published (anchors.go); nil when no
	// payout carries one and the node was not asked.
	Anchors *AnchorsReport `json:"anchors,omitempty"`
	// Statement is set when Options.Statement was.
	Statement *Statement `json:"-"`
}

// chainNotKept records that the store keeps no hash chain.
func (r *Report) chainNotKept() {
	r.ChainKept = false
	r.ChainWarning = chainWarning(r.Store)
}

func (r *Report) storeName() string {
	if r.Store == "" {
		return "audited"
	}
	return r.Store
}

// chainWarning is the report's words for a store that keeps no chain.
func chainWarning(store string) string {
	if store == "" {
		store = "this store"
	}
	return "hash chain: not kept by " + store + " — tampering is not detectable from the log alone"
}

// OK reports an audit without violations (findings may be there).
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Exit statuses of `purepool audit` (ExitStatus, and 2 for an audit that
// could not run).
const (
	// ExitClean: no violation; known findings only, or none.
	ExitClean = 0
	// ExitViolations: at least one violation.
	ExitViolations = 1
	// ExitCouldNotRun: no verdict — a mistake in the command line, a store,
	// read model or node that failed, an interrupted audit.
	ExitCouldNotRun = 2
)

// ExitStatus is the audit's verdict as an exit status: ExitClean or
// ExitViolations. Findings never change it.
func (r *Report) ExitStatus() int {
	if r.OK() {
		return ExitClean
	}
	return ExitViolations
}

// CountFindings returns how many findings of kind the report holds.
func (r *Report) CountFindings(kind Kind) int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

func (r *Report) addFinding(f Finding) { r.Findings = append(r.Findings, f) }

// Count returns how many violations of kind the report holds.
func (r *Report) Count(kind Kind) int {
	n := 0
	for _, v := range r.Violations {
		if v.Kind == kind {
			n++
		}
	}
	return n
}

func (r *Report) add(v Violation) { r.Violations = append(r.Violations, v) }

func (r *Report) sortViolations() {
	sort.SliceStable(r.Violations, func(i, j int) bool {
		a, b := r.Violations[i], r.Violations[j]
		if (a.Position == 0) != (b.Position == 0) {
			return a.Position != 0 // positioned findings first
		}
		return a.Position < b.Position
	})
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		return a.Subject < b.Subject
	})
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "purepool audit: %d events, head %d", r.Events, r.Head)
	if r.HeadHash != "" {
		fmt.Fprintf(&b, " (hash %s)", r.HeadHash)
	}
	b.WriteString("\n")
	switch {
	case !r.ChainKept:
		b.WriteString("WARNING: " + r.ChainWarning + "\n")
	case r.FirstBadPosition > 0:
		fmt.Fprintf(&b, "hash chain: BROKEN, first bad position %d\n", r.FirstBadPosition)
	default:
		fmt.Fprintf(&b, "hash chain: intact, positions 1..%d gapless\n", r.Head)
	}
	types := make([]string, 0, len(r.ByType))
	for t := range r.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	b.WriteString("events by type:\n")
	for _, t := range types {
		fmt.Fprintf(&b, "  %-20s %d\n", t, r.ByType[t])
	}
	for _, n := range r.Networks {
		fmt.Fprintf(&b, "network %s:\n", n.Network)
		fmt.Fprintf(&b, "  miners %d, shares accepted %d, rejected %d\n", n.Miners, n.AcceptedShares, n.RejectedShares)
		fmt.Fprintf(&b, "  blocks discovered %d, matured %d, orphaned %d, reorganised without orphan %d\n",
			n.BlocksDiscovered, n.BlocksMatured, n.BlocksOrphaned, n.BlocksReorged)
		if n.CarriedInSat != 0 || n.CarriedOutSat != 0 {
			fmt.Fprintf(&b, "  matured reward %s + carried in %s BBP = credited %s + fee %s + carried out %s\n", FormatBBP(n.RewardSat), FormatBBP(n.CarriedInSat),
				FormatBBP(n.CreditedSat), FormatBBP(n.FeeSat), FormatBBP(n.CarriedOutSat))
		} else {
			fmt.Fprintf(&b, "  matured reward %s BBP = credited %s + fee %s\n", FormatBBP(n.RewardSat), FormatBBP(n.CreditedSat), FormatBBP(n.FeeSat))
		}
		fmt.Fprintf(&b, "  reversed %s (fee %s), paid %s BBP\n", FormatBBP(n.ReversedSat), FormatBBP(n.FeeReversedSat), FormatBBP(n.PaidSat))
		fmt.Fprintf(&b, "  owed to miners %s BBP, carried to the next round %s BBP (owed to miners); pool fee account %s BBP\n",
			FormatBBP(n.MinerBalanceSat), FormatBBP(n.CarrySat), FormatBBP(n.FeeBalanceSat))
		fee := "no policy recorded"
		if n.FeeBps >= 0 {
			fee = fmt.Sprintf("fee %d bps", n.FeeBps)
		}
		fmt.Fprintf(&b, "  rounds by position %d, by height %d; empty %d (to finder %d, carried %d, kept by the pool %d); late shares %d; %s\n",
			n.RoundsByPosition, n.RoundsByHeight, n.EmptyRounds, n.EmptyToFinder, n.EmptyCarried, n.EmptyKeptByPool, n.LateShares, fee)
		fmt.Fprintf(&b, "  payouts %d: sent %d, failed %d, conflicted %d, corrected %d, unsettled %d\n", n.Payouts, n.PayoutsSent, n.PayoutsFailed, n.PayoutsConflicted, n.PayoutsCorrected, n.PayoutsUnsettled)
	}
	if r.WalletChecked > 0 {
		fmt.Fprintf(&b, "wallet: %d payout transactions checked\n", r.WalletChecked)
	}
	r.writeAnchors(&b)
	if r.ReadModelPosition != nil {
		fmt.Fprintf(&b, "read model: %d accounts compared at position %d\n", r.ReadModelAccounts, *r.ReadModelPosition)
	}
	if len(r.Findings) == 0 {
		b.WriteString("findings: none\n")
	} else {
		fmt.Fprintf(&b, "findings: %d (known states the runbook explains, with the event that caused each; they do not fail the audit)\n", len(r.Findings))
		if !r.OK() {
			b.WriteString("  (the log has violations: these findings rest on events that may have been tampered with)\n")
		}
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "  %s\n", f)
			if len(f.Causes) > 1 {
				for _, c := range f.Causes {
					fmt.Fprintf(&b, "    caused by %s at position %d", c.Event, c.Position)
					if c.BlockHash != "" {
						fmt.Fprintf(&b, " (block %s)", c.BlockHash)
					}
					fmt.Fprintf(&b, ": %s BBP\n", FormatBBP(c.AmountSat))
				}
			}
			if f.OnChain {
				b.WriteString("    the node confirms: the block(s) left the chain\n")
			}
			fmt.Fprintf(&b, "    runbook: %s\n", f.Runbook)
		}
	}
	if r.OK() {
		b.WriteString("violations: none\n")
		if !r.ChainKept {
			fmt.Fprintf(&b, "WARNING: the ledger's invariants hold, but %s keeps no hash chain: an edited, deleted or forged event would not show (docs/operations.md §5.5)\n",
				r.storeName())
		}
	} else {
		fmt.Fprintf(&b, "violations: %d\n", len(r.Violations))
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}
