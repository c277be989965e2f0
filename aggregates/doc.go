// Package aggregates holds Purepool's ledger rules as pure functions: each
// aggregate is a state folded from its stream's events (Apply) and decisions
// that turn a command, together with the facts the backend gathered at the
// edge, into new events (Decide…). Nothing here does I/O, reads the clock or
// draws random numbers: times and ids arrive in the command or the facts, so
// replaying history through this package gives the same answers every time.
// The backend uses it to decide; the auditor uses it to re-check.
//
// Aggregates and their streams (see events/ledger.go):
//
//   - Miner (miner-{id}): registration on first work, workers, disable/enable,
//     share target changes (vardiff, Retarget).
//   - Solution (solution-{id} + biblehash-{net}-{hash}): DecideSolution checks
//     a share against its work, the miner, the node's facts and the policy.
//   - PoolBlock (block-{net}-{hash}): discovered with its round closed →
//     confirmations → matured with credits (Split) → or orphaned (before
//     maturity the round is carried into the next one; after maturity every
//     credit is reversed).
//   - Payout (payout-{id}) and PayoutSchedule (payouts-{net}): planned → sent |
//     failed | halted → confirmed; a halted payout blocks its network.
//
// Ledger folds every event of the global log into the view the backend works
// from (open rounds, balances, pool blocks, chain hashes, payouts); it is
// derived from events only, never a second source of truth.
//
// Errors: decisions return errors wrapping ErrInvalid (the command can never
// be handled: the backend dead-letters it) or ErrConflict (the command
// contradicts the recorded state). DecideSolution may also return
// ErrNeedFacts (ask the node, then decide again) and ErrWorkNotYetKnown (retry
// later). Every other outcome, including a rejected share, is an event.
package aggregates

import (
	"errors"

	"github.com/purepool/purepool/events"
)

var (
	// ErrInvalid marks a command that can never be handled.
	ErrInvalid = errors.New("invalid command")
	// ErrConflict marks a command that contradicts what is recorded.
	ErrConflict = errors.New("conflicts with the recorded state")
	// ErrNeedFacts asks the caller to gather the node's facts and decide again.
	ErrNeedFacts = errors.New("the node's facts are needed to decide")
	// ErrWorkNotYetKnown: the solution's work is not recorded yet (the
	// IssueWork command may still be on its way); retry until a deadline.
	ErrWorkNotYetKnown = errors.New("the solution's work is not recorded yet")
	// ErrOverflow: an amount or a difficulty sum does not fit in int64.
	ErrOverflow = errors.New("arithmetic overflow")
)

// StreamFor names the stream an event of the catalogue belongs to. It is the
// single routing table shared by the backend (to write) and the auditor (to
// check that each event sits where it should).
func StreamFor(e events.Event) string {
	switch e := e.(type) {
	case events.MinerRegistered:
		return events.StreamMiner(e.MinerID)
	case events.WorkerRegistered:
		return events.StreamMiner(e.MinerID)
	case events.MinerDisabled:
		return events.StreamMiner(e.MinerID)
	case events.MinerEnabled:
		return events.StreamMiner(e.MinerID)
	case events.MinerTargetChanged:
		return events.StreamMiner(e.MinerID)
	case events.WorkIssued:
		return events.StreamWork(e.WorkID)
	case events.SolutionAccepted:
		return events.StreamSolution(e.SolutionID)
	case events.SolutionRejected:
		return events.StreamSolution(e.SolutionID)
	case events.BibleHashReserved:
		return events.StreamBibleHash(e.Network, e.BibleHash)
	case events.ChainBlockRecorded:
		return events.StreamChain(e.Network)
	case events.BlockDiscovered:
		return events.StreamBlock(e.Network, e.Hash)
	case events.RoundClosed:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.BlockConfirmed:
		return events.StreamBlock(e.Network, e.Hash)
	case events.BlockMatured:
		return events.StreamBlock(e.Network, e.Hash)
	case events.BlockOrphaned:
		return events.StreamBlock(e.Network, e.Hash)
	case events.MinerCredited:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.FeeCredited:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.CreditReversed:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.PayoutPlanned:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutSent:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutConfirmed:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutFailed:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutHalted:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutConflicted:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutSigned:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutTxDead:
		return events.StreamPayout(e.PayoutID)
	case events.PayoutCorrected:
		return events.StreamPayout(e.PayoutID)
	case events.PoolInstalled:
		return events.StreamPool
	case events.PayoutsPaused:
		return events.StreamPayoutSchedule(e.Network)
	case events.PayoutsResumed:
		return events.StreamPayoutSchedule(e.Network)
	case events.PoolPolicySet:
		return events.StreamPolicy(e.Network)
	case events.LateSharesCounted:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.RoundEmpty:
		return events.StreamBlock(e.Network, e.BlockHash)
	case events.LeaseTaken:
		return events.StreamLease(e.Name)
	}
	return ""
}
