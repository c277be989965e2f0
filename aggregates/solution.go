package aggregates

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// SolutionFacts are what the backend asked the node about a share (spec §3).
type SolutionFacts struct {
	// NodeBibleHash is `exec biblehash` of fields 0, 1, 2, 3 and 13 ("" when
	// the node left the key out).
	NodeBibleHash string
	// BlockDecodeError is set when `exec hexblocktocoinbase` could not decode
	// field 14 (RPC error -22).
	BlockDecodeError string
	// Recipient is hexblocktocoinbase's vout[0] address.
	Recipient string
	// TipHeight is the node's tip when the share was validated (`exec
	// pinfo`'s height, possibly cached): never lower than the tip when the
	// share arrived, so a share ahead of it was ahead on arrival too.
	TipHeight int64
	// Prev is the chain's block at the share's previous height, Next the
	// one at previous height + 1 + StaleTolerance: recorded by the chain
	// follower, or read from the node when the follower has not recorded
	// them yet. nil: no block at that height yet.
	Prev, Next *ChainPoint
}

// MaxBlockTimeAhead bounds how far a share's header time may lie ahead of
// its receipt for the nonce rule: consensus accepts blocks up to two hours
// ahead of the network's adjusted time.
const MaxBlockTimeAhead = 2 * time.Hour

// SolutionPolicy is the pool's configuration for a network.
type SolutionPolicy struct {
	PoolAddress string
	// StaleTolerance is how many blocks the share's previous height may lag
	// behind (or lead) the node's tip. 0 demands the tip itself, as Purepool did.
	StaleTolerance int64
	// MaxBlockHex bounds field 14 (0: no bound).
	MaxBlockHex int
}

// SolutionCheck is everything DecideSolution needs.
type SolutionCheck struct {
	Command commands.SubmitSolution
	// Work is the WorkIssued the solution names in field 6; nil when none is recorded.
	Work *events.WorkIssued
	// WorkWaitOver is true once the backend stopped waiting for the work to
	// be recorded: a missing work is then rejected instead of retried.
	WorkWaitOver bool
	// Miner is the state of the command's miner stream.
	Miner Miner
	// BibleHashTakenBy is the solution that reserved the share's bible hash
	// (uuid.Nil: none).
	BibleHashTakenBy uuid.UUID
	// Facts from the node; nil until gathered (DecideSolution answers
	// ErrNeedFacts when it needs them).
	Facts  *SolutionFacts
	Policy SolutionPolicy
	// Parsed is Command.Solution already parsed (by the caller, who needed
	// its fields to look things up); nil: DecideSolution parses it.
	Parsed *biblepay.Solution
}

// DecideSolution accepts or rejects a share. Accepted, it returns
// SolutionAccepted, BibleHashReserved (to be written with expected version
// NoStream, atomically with the acceptance) and, for a new worker name,
// WorkerRegistered. Rejected, it returns a single SolutionRejected with a
// Reject* code. It returns no event when the hash is already reserved by this
// very solution (the command was handled before).
//
// The checks run cheapest first, so the node is asked only about shares that
// passed the others: well-formed; the bible hash not yet accepted; the work
// exists, on this network, for this miner; the miner is enabled; the hash is
// below the work's target; then, with the node's facts: the node computes the
// same bible hash; the block decodes; its coinbase pays the pool; the nonce
// is within the chain's max-nonce rule; the share was not stale when it
// arrived.
//
// Every check that depends on the chain is judged as of the share's receipt
// (Command.ReceivedAt), from the chain's history, never from the tip when the
// backend got to the share: a backlog or an outage of any length changes no
// verdict.
//
//   - Nonce: consensus's rule (spec §4.4) for a block with the share's
//     header on the chain's block at its previous height:
//     nonce ≤ MaxNonce(blockTime − prevTime), where prevTime is the chain's
//     time of that block (the share's own field when the chain has none
//     yet), and blockTime is the share's header time, taken no later than
//     MaxBlockTimeAhead after the receipt.
//   - Stale: a share on previous height p is stale when the chain's block
//     at p+1+StaleTolerance had appeared (ChainPoint.Appeared) in a second
//     before the one the share arrived in, unless that block is the share's own (a winning share
//     with no tolerance). It is ahead when p is above the node's tip plus
//     the tolerance.
func DecideSolution(c SolutionCheck) ([]events.Event, error) {
	cmd := c.Command
	if cmd.ID == uuid.Nil {
		return nil, fmt.Errorf("%w: no command id", ErrInvalid)
	}
	if err := checkMinerIdentity(cmd.Network, cmd.Address, cmd.MinerID); err != nil {
		return nil, err
	}
	if cmd.ReceivedAt.IsZero() {
		return nil, fmt.Errorf("%w: no receive time", ErrInvalid)
	}
	reject := func(workID uuid.UUID, bibleHash, reason, detail string) ([]events.Event, error) {
		return []events.Event{events.SolutionRejected{
			Network: cmd.Network, SolutionID: cmd.ID, WorkID: workID, MinerID: cmd.MinerID,
			Address: cmd.Address, Worker: cmd.Worker, BibleHash: bibleHash,
			Reason: reason, Detail: detail, At: cmd.ReceivedAt,
		}}, nil
	}
	sol := c.Parsed
	if sol == nil {
		parsed, err := biblepay.ParseSolution(cmd.Solution, c.Policy.MaxBlockHex)
		if err != nil {
			return reject(uuid.Nil, "", events.RejectMalformed, err.Error())
		}
		sol = &parsed
	}
	if c.BibleHashTakenBy == cmd.ID {
		return nil, nil
	}
	if c.BibleHashTakenBy != uuid.Nil {
		return reject(sol.WorkID, sol.BibleHash, events.RejectDuplicate,
			fmt.Sprintf("bible hash already accepted for solution %s", c.BibleHashTakenBy))
	}
	w := c.Work
	if w == nil || w.WorkID != sol.WorkID {
		if !c.WorkWaitOver {
			return nil, fmt.Errorf("%w: work %s", ErrWorkNotYetKnown, sol.WorkID)
		}
		return reject(sol.WorkID, sol.BibleHash, events.RejectUnknownWork, fmt.Sprintf("no work %s was issued", sol.WorkID))
	}
	if w.Network != cmd.Network {
		return reject(sol.WorkID, sol.BibleHash, events.RejectWrongNetwork,
			fmt.Sprintf("work %s was issued on %s", w.WorkID, w.Network))
	}
	if w.MinerID != cmd.MinerID || sol.MinerID != cmd.MinerID {
		return reject(sol.WorkID, sol.BibleHash, events.RejectWrongMiner,
			fmt.Sprintf("work %s belongs to miner %s; the share names %s and comes from %s", w.WorkID, w.MinerID, sol.MinerID, cmd.MinerID))
	}
	if c.Miner.Disabled {
		return reject(sol.WorkID, sol.BibleHash, events.RejectMinerDisabled, "miner disabled: "+c.Miner.DisabledReason)
	}
	if !biblepay.HashBelow(sol.BibleHash, w.Target) {
		return reject(sol.WorkID, sol.BibleHash, events.RejectHighHash,
			fmt.Sprintf("bible hash %s is not below target %s", sol.BibleHash, w.Target))
	}
	if c.Facts == nil {
		return nil, ErrNeedFacts
	}
	f := c.Facts
	if f.NodeBibleHash != sol.BibleHash {
		return reject(sol.WorkID, sol.BibleHash, events.RejectBibleHashWrong,
			fmt.Sprintf("the node computes %q", f.NodeBibleHash))
	}
	if f.BlockDecodeError != "" {
		return reject(sol.WorkID, sol.BibleHash, events.RejectBlockInvalid, f.BlockDecodeError)
	}
	if c.Policy.PoolAddress == "" || f.Recipient != c.Policy.PoolAddress {
		return reject(sol.WorkID, sol.BibleHash, events.RejectInvalidRecipient,
			fmt.Sprintf("the coinbase pays %q, not the pool", f.Recipient))
	}
	if max := MaxNonceAtReceipt(*sol, f.Prev, cmd.ReceivedAt); int64(sol.Nonce) > max {
		return reject(sol.WorkID, sol.BibleHash, events.RejectNonceTooHigh,
			fmt.Sprintf("nonce %d is above the maximum %d for its block time %d on previous height %d", sol.Nonce, max, sol.BlockTime, sol.PrevHeight))
	}
	if reason := staleAtReceipt(*sol, f, c.Policy.StaleTolerance, cmd.ReceivedAt); reason != "" {
		return reject(sol.WorkID, sol.BibleHash, events.RejectStale, reason)
	}
	diff, err := biblepay.Difficulty(w.Target)
	if err != nil { // the work's target was checked when it was recorded
		return nil, fmt.Errorf("%w: work target: %v", ErrInvalid, err)
	}
	out := []events.Event{
		events.SolutionAccepted{
			Network: cmd.Network, SolutionID: cmd.ID, WorkID: w.WorkID, MinerID: cmd.MinerID,
			Address: cmd.Address, Worker: cmd.Worker, BlockHash: sol.BlockHash, BibleHash: sol.BibleHash,
			PrevHeight: sol.PrevHeight, Nonce: sol.Nonce, Target: w.Target, Difficulty: diff,
			HashrateHPS: sol.HashesPerSecond(), At: cmd.ReceivedAt,
		},
		events.BibleHashReserved{Network: cmd.Network, BibleHash: sol.BibleHash, SolutionID: cmd.ID},
	}
	if cmd.Worker != "" && c.Miner.Registered && !c.Miner.Workers[cmd.Worker] {
		out = append(out, events.WorkerRegistered{Network: cmd.Network, MinerID: cmd.MinerID, Worker: cmd.Worker, At: cmd.ReceivedAt})
	}
	return out, nil
}

// MaxNonceAtReceipt is the highest nonce the chain's max-nonce rule allows a
// share received at receivedAt: see DecideSolution.
func MaxNonceAtReceipt(sol biblepay.Solution, prev *ChainPoint, receivedAt time.Time) int64 {
	prevTime := sol.PrevBlockTime
	if prev != nil && prev.Height == sol.PrevHeight {
		prevTime = prev.Time.Unix()
	}
	blockTime := min(sol.BlockTime, receivedAt.Add(MaxBlockTimeAhead).Unix())
	return biblepay.MaxNonce(blockTime - prevTime)
}

// staleAtReceipt says why a share was stale when it arrived ("" when it
// was not): see DecideSolution.
func staleAtReceipt(sol biblepay.Solution, f *SolutionFacts, tolerance int64, receivedAt time.Time) string {
	if sol.PrevHeight > f.TipHeight+tolerance {
		return fmt.Sprintf("previous height %d is ahead of the chain's tip %d", sol.PrevHeight, f.TipHeight)
	}
	next := f.Next
	if next == nil || next.Height != sol.PrevHeight+1+tolerance {
		return ""
	}
	if tolerance == 0 && next.Hash == sol.BlockHash {
		return "" // the share is the block at that height: the winning share
	}
	// Block times have whole seconds: a block is known to have appeared
	// before the share only from the next second on.
	if at := next.Appeared(); at.Unix() < receivedAt.Unix() {
		return fmt.Sprintf("previous height %d: height %d was on the chain at %s, before the share arrived at %s",
			sol.PrevHeight, next.Height, at.UTC().Format(time.RFC3339), receivedAt.UTC().Format(time.RFC3339))
	}
	return ""
}
