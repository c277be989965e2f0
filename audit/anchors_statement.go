package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// StatementNode is what verifying a statement asks a BiblePay node (any
// node: the miner's own; no wallet needed); *rpcclient.Client has it.
// GetBlock finds a transaction whose outputs are all spent on a node
// without -txindex, from the block hash the statement names.
type StatementNode interface {
	Chain
	GetBlock(ctx context.Context, hash string) (*rpcclient.Block, error)
}

// VerifyOptions configure VerifyStatement.
type VerifyOptions struct {
	// Node, if set, is asked whether each anchor's transaction is in the
	// chain and what its data output says. Without it the statement's
	// own copies of the transactions are read (TxHex): that proves the
	// pool signed those heads, not that the chain holds them.
	Node StatementNode
	// RequireAnchored makes a line after the latest anchored head a
	// failure (by default it is reported as not provable yet).
	RequireAnchored bool
}

// StatementVerdict is the outcome of VerifyStatement.
type StatementVerdict struct {
	Network    string `json:"network"`
	Address    string `json:"address"`
	Lines      int    `json:"lines"`
	Proven     int    `json:"proven"`
	Unanchored int    `json:"unanchored"`
	// Heads are the statement's anchors as checked.
	Heads    []HeadVerdict      `json:"heads"`
	Failures []StatementFailure `json:"failures"`
}

// HeadVerdict is one anchored head as checked.
type HeadVerdict struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
	TxID string `json:"txid"`
	// Checked is "chain" (the node has the transaction in a block),
	// "statement" (only the statement's copy of it was read), or "" (not
	// checked: see Failures).
	Checked       string `json:"checked"`
	Confirmations int64  `json:"confirmations,omitempty"`
	BlockHash     string `json:"block_hash,omitempty"`
}

// StatementFailure is what did not verify: Line is the line's number
// (from 1) or 0 for the statement as a whole; Anchor the anchor's (from
// 1) or 0.
type StatementFailure struct {
	Line     int    `json:"line,omitempty"`
	Position uint64 `json:"position,omitempty"`
	Anchor   int    `json:"anchor,omitempty"`
	Reason   string `json:"reason"`
}

func (f StatementFailure) String() string {
	switch {
	case f.Line > 0:
		return fmt.Sprintf("line %d (position %d): %s", f.Line, f.Position, f.Reason)
	case f.Anchor > 0:
		return fmt.Sprintf("anchor %d: %s", f.Anchor, f.Reason)
	}
	return "statement: " + f.Reason
}

// OK reports a statement whose every check held.
func (v *StatementVerdict) OK() bool { return len(v.Failures) == 0 }

// ReadStatement reads a statement written by Statement.WriteJSON.
func ReadStatement(r io.Reader) (*Statement, error) {
	var st Statement
	dec := json.NewDecoder(r)
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return &st, nil
}

// VerifyStatement checks a statement without the pool's database: each
// line's event hashes to the chain hash its proof places under the latest
// anchored head, the line's amounts are what that event says, the
// running balance and totals add up, each anchored head extends the one
// before (consistency proofs), and each head is what its payout
// transaction's data output says (from the node, or from the statement's
// copy of the transaction). An error means it could not run (the node
// failed); everything else is in the verdict.
func VerifyStatement(ctx context.Context, st *Statement, opt VerifyOptions) (*StatementVerdict, error) {
	v := &StatementVerdict{Network: st.Network, Address: st.Address, Lines: len(st.Lines), Heads: []HeadVerdict{}, Failures: []StatementFailure{}}
	fail := func(f StatementFailure) { v.Failures = append(v.Failures, f) }
	if st.MinerID != events.MinerID(st.Network, st.Address) {
		fail(StatementFailure{Reason: fmt.Sprintf("miner id %s is not %s's on %s", st.MinerID, st.Address, st.Network)})
	}

	// The anchored heads: consistent with each other, and in the chain.
	roots := make([][32]byte, len(st.Anchors))
	for i, h := range st.Anchors {
		hv := HeadVerdict{Size: h.Size, Root: h.Root, TxID: h.TxID}
		bad := func(format string, args ...any) {
			fail(StatementFailure{Anchor: i + 1, Reason: fmt.Sprintf("size %d, transaction %s: ", h.Size, h.TxID) + fmt.Sprintf(format, args...)})
		}
		root, err := anchor.ParseHash(h.Root)
		if err != nil {
			bad("%v", err)
			v.Heads = append(v.Heads, hv)
			continue
		}
		roots[i] = root
		if i > 0 {
			prev := st.Anchors[i-1]
			proof, err := anchor.ParseHexHashes(h.Consistency)
			switch {
			case err != nil:
				bad("consistency proof: %v", err)
			case prev.Size > h.Size:
				bad("the anchors are not in order of size (%d after %d)", h.Size, prev.Size)
			default:
				if err := anchor.VerifyConsistency(prev.Size, h.Size, proof, roots[i-1][:], root[:]); err != nil {
					bad("does not extend the head of size %d: %v", prev.Size, err)
				}
			}
		}
		tx, checked, err := readStatementTx(ctx, opt.Node, h)
		if err != nil {
			return nil, err
		}
		switch {
		case checked == "":
			bad("%s", tx.problem)
		case checked == "chain" && tx.confirmations < 1:
			bad("the transaction is not in a block yet (%s): the head is not anchored in the chain", where(tx.chainTx))
		default:
			var problems []string
			switch len(tx.anchors) {
			case 0:
				problems = append(problems, "the transaction carries no Purepool anchor")
			case 1:
				d := tx.anchors[0]
				if d.PoolID != st.PoolID || d.PayoutID != h.PayoutID {
					problems = append(problems, fmt.Sprintf("its anchor names payout %s of pool %s, the statement payout %s of pool %s", d.PayoutID, d.PoolID, h.PayoutID, st.PoolID))
				}
				if d.Size != h.Size || d.Root != root {
					problems = append(problems, fmt.Sprintf("its anchor is size %d root %x, the statement says size %d root %s", d.Size, d.Root, h.Size, h.Root))
				}
			default:
				problems = append(problems, fmt.Sprintf("the transaction carries %d Purepool anchors", len(tx.anchors)))
			}
			if len(problems) > 0 {
				bad("%s", strings.Join(problems, "; "))
			} else {
				hv.Checked, hv.Confirmations, hv.BlockHash = checked, tx.confirmations, tx.blockHash
			}
		}
		v.Heads = append(v.Heads, hv)
	}

	// The lines.
	var latest *StatementAnchor
	var latestRoot [32]byte
	if n := len(st.Anchors); n > 0 {
		latest, latestRoot = &st.Anchors[n-1], roots[n-1]
	}
	var balance, credited, reversed, paid int64
	payoutLines := map[uuid.UUID][]int64{}   // payout → what its lines took (positive)
	returnedLines := map[uuid.UUID][]int64{} // payout → what its failed/conflicted lines gave back
	plannedItems := map[uint64][]int64{}     // position → the miner's items the event holds
	plannedLines := map[uint64][]int64{}     // position → the payout lines there
	for i := range st.Lines {
		l := &st.Lines[i]
		bad := func(format string, args ...any) {
			fail(StatementFailure{Line: i + 1, Position: l.Position, Reason: fmt.Sprintf(format, args...)})
		}
		balance += l.AmountSat
		if l.BalanceSat != balance {
			bad("balance %s BBP, the lines so far add up to %s", FormatBBP(l.BalanceSat), FormatBBP(balance))
		}
		switch l.Kind {
		case LineCredit:
			credited += l.AmountSat
		case LineReversal:
			reversed -= l.AmountSat
		case LinePayout:
			paid -= l.AmountSat
			payoutLines[l.PayoutID] = append(payoutLines[l.PayoutID], -l.AmountSat)
			plannedLines[l.Position] = append(plannedLines[l.Position], -l.AmountSat)
		case LinePayoutFailed, LinePayoutConflicted, LinePayoutCorrected:
			paid -= l.AmountSat
			returnedLines[l.PayoutID] = append(returnedLines[l.PayoutID], l.AmountSat)
		default:
			bad("unknown line kind %q", l.Kind)
		}
		if l.Event == nil {
			bad("no event: the line cannot be checked")
			continue
		}
		env, err := l.Event.Envelope()
		if err != nil {
			bad("event: %v", err)
			continue
		}
		if env.Position != l.Position {
			bad("the event is at position %d, the line says %d", env.Position, l.Position)
		}
		hash := events.ChainHash(env.PrevHash, env)
		if l.Event.ChainHash != "" && !strings.EqualFold(l.Event.ChainHash, hex.EncodeToString(hash)) {
			bad("the event hashes to %x, not to the chain hash %s it names: its content was altered", hash, l.Event.ChainHash)
		}
		if items, ok := checkLineEvent(st, l, env, bad); ok && l.Kind == LinePayout {
			plannedItems[l.Position] = items
		}
		switch {
		case l.Unanchored && latest != nil && l.Position <= latest.Size:
			bad("marked unanchored, but it is under the latest anchored head (size %d)", latest.Size)
		case l.Unanchored:
			v.Unanchored++
			if opt.RequireAnchored {
				bad("not provable yet: after the latest anchored head (--require-anchored)")
			}
		case l.Proof == nil:
			bad("no proof")
		case latest == nil:
			bad("a proof, but no anchored head to check it against")
		case l.Proof.TreeSize != latest.Size || l.Proof.LeafIndex != l.Position-1:
			bad("the proof is for leaf %d of %d, the line needs leaf %d under the latest anchored head (size %d)",
				l.Proof.LeafIndex, l.Proof.TreeSize, l.Position-1, latest.Size)
		default:
			proof, err := anchor.ParseHexHashes(l.Proof.Hashes)
			if err == nil {
				err = anchor.VerifyInclusion(hash, l.Proof.LeafIndex, l.Proof.TreeSize, proof, latestRoot[:])
			}
			if err != nil {
				bad("the event is not in the log under the anchored head of size %d: %v", latest.Size, err)
			} else {
				v.Proven++
			}
		}
	}
	// A payout's lines are its items for this miner; a failed or
	// conflicted payout gives back exactly what its lines took.
	for pos, lines := range plannedLines {
		if items, ok := plannedItems[pos]; ok && !sameAmounts(lines, items) {
			fail(StatementFailure{Position: pos, Reason: fmt.Sprintf("the payout lines at position %d take %v sat, the PayoutPlanned pays this miner %v", pos, lines, items)})
		}
	}
	for id, back := range returnedLines {
		if !sameAmounts(back, payoutLines[id]) {
			fail(StatementFailure{Reason: fmt.Sprintf("payout %s gives back %v sat, its payout lines took %v", id, back, payoutLines[id])})
		}
	}
	if credited != st.CreditedSat || reversed != st.ReversedSat || paid != st.PaidSat || balance != st.BalanceSat {
		fail(StatementFailure{Reason: fmt.Sprintf("totals credited %d reversed %d paid %d balance %d sat, the lines add up to %d %d %d %d",
			st.CreditedSat, st.ReversedSat, st.PaidSat, st.BalanceSat, credited, reversed, paid, balance)})
	}
	sort.SliceStable(v.Failures, func(i, j int) bool {
		a, b := v.Failures[i], v.Failures[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Anchor < b.Anchor
	})
	return v, nil
}

func sameAmounts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := append([]int64(nil), a...), append([]int64(nil), b...)
	sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
	sort.Slice(y, func(i, j int) bool { return y[i] < y[j] })
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// checkLineEvent checks that a line says what its event says. For a
// payout line it returns the miner's items of the PayoutPlanned.
func checkLineEvent(st *Statement, l *StatementLine, env events.Envelope, bad func(string, ...any)) ([]int64, bool) {
	e, err := events.Decode(env)
	if err != nil {
		bad("the event cannot be read: %v", err)
		return nil, false
	}
	differ := func(what string, line, event any) {
		bad("%s %v, the event says %v", what, line, event)
	}
	wrongType := func() { bad("a %s line from a %s event", l.Kind, env.Type) }
	switch l.Kind {
	case LineCredit:
		c, ok := e.(events.MinerCredited)
		if !ok {
			wrongType()
			return nil, false
		}
		if c.Network != st.Network || c.MinerID != st.MinerID || (c.Address != "" && c.Address != st.Address) {
			bad("the credit is miner %s's (%s) on %s", c.MinerID, c.Address, c.Network)
		}
		for _, f := range []struct {
			what        string
			line, event any
		}{
			{"amount", l.AmountSat, c.AmountSat}, {"block", l.BlockHash, c.BlockHash}, {"height", l.BlockHeight, c.Height},
			{"reward", l.RewardSat, c.RewardSat}, {"fee", l.FeeSat, c.FeeSat}, {"round shares", l.RoundShares, c.RoundShares},
			{"round difficulty", l.RoundDifficulty, c.RoundDifficulty}, {"miner shares", l.MinerShares, c.MinerShares},
			{"miner difficulty", l.MinerDifficulty, c.MinerDifficulty}, {"share", l.SharePercent, sharePercent(c)},
		} {
			if f.line != f.event {
				differ(f.what, f.line, f.event)
			}
		}
		if !l.At.Equal(c.At) {
			differ("time", l.At, c.At)
		}
	case LineReversal:
		r, ok := e.(events.CreditReversed)
		if !ok {
			wrongType()
			return nil, false
		}
		if r.Network != st.Network || r.AccountID != st.MinerID {
			bad("the reversal is account %s's on %s", r.AccountID, r.Network)
		}
		if l.AmountSat != -r.AmountSat {
			differ("amount", l.AmountSat, -r.AmountSat)
		}
		if l.BlockHash != r.BlockHash {
			differ("block", l.BlockHash, r.BlockHash)
		}
	case LinePayout:
		p, ok := e.(events.PayoutPlanned)
		if !ok {
			wrongType()
			return nil, false
		}
		if p.Network != st.Network || p.PayoutID != l.PayoutID {
			bad("the event plans payout %s on %s, the line names %s", p.PayoutID, p.Network, l.PayoutID)
		}
		var items []int64
		for _, it := range p.Items {
			if it.MinerID == st.MinerID {
				items = append(items, it.AmountSat)
			}
		}
		return items, true
	case LinePayoutFailed:
		f, ok := e.(events.PayoutFailed)
		if !ok {
			wrongType()
			return nil, false
		}
		if f.Network != st.Network || f.PayoutID != l.PayoutID {
			bad("the event is payout %s's on %s, the line names %s", f.PayoutID, f.Network, l.PayoutID)
		}
	case LinePayoutConflicted:
		c, ok := e.(events.PayoutConflicted)
		if !ok {
			wrongType()
			return nil, false
		}
		if c.Network != st.Network || c.PayoutID != l.PayoutID || c.TxID != l.TxID {
			bad("the event is payout %s's transaction %s on %s, the line names %s in %s", c.PayoutID, c.TxID, c.Network, l.PayoutID, l.TxID)
		}
	case LinePayoutCorrected:
		c, ok := e.(events.PayoutCorrected)
		if !ok {
			wrongType()
			return nil, false
		}
		if c.Network != st.Network || c.PayoutID != l.PayoutID || c.TxID != l.TxID {
			bad("the event is payout %s's transaction %s on %s, the line names %s in %s", c.PayoutID, c.TxID, c.Network, l.PayoutID, l.TxID)
		}
	}
	return nil, false
}

// statementTx is an anchor's transaction as read for a statement.
type statementTx struct {
	chainTx
	problem string
}

// readStatementTx reads an anchor's transaction: from the node when there
// is one ("chain"), else from the statement ("statement"); "" with the
// problem when neither can.
func readStatementTx(ctx context.Context, node StatementNode, h StatementAnchor) (statementTx, string, error) {
	var embedded *chainTx
	if h.TxHex != "" {
		tx := chainTx{found: true, hex: h.TxHex}
		if err := tx.parse(h.TxID); err != nil {
			return statementTx{problem: fmt.Sprintf("the statement's copy of the transaction: %v", err)}, "", nil
		}
		embedded = &tx
	}
	if node == nil {
		if embedded == nil {
			return statementTx{problem: "no node to ask and no copy of the transaction in the statement"}, "", nil
		}
		return statementTx{chainTx: *embedded}, "statement", nil
	}
	tx, err := fetchTx(ctx, node, nil, h.TxID)
	if err != nil {
		return statementTx{}, "", err
	}
	if tx.found {
		return statementTx{chainTx: tx}, "chain", nil
	}
	// A node without -txindex: the transaction in the block the
	// statement names.
	if embedded == nil || h.BlockHash == "" {
		return statementTx{problem: "the node knows no such transaction (a node without -txindex finds only those with an unspent output; the statement names no block to look in)"}, "", nil
	}
	b, err := node.GetBlock(ctx, h.BlockHash)
	switch {
	case err != nil && !isRPCError(err):
		return statementTx{}, "", fmt.Errorf("getblock %s: %w", h.BlockHash, err)
	case err != nil:
		return statementTx{problem: fmt.Sprintf("the node knows neither the transaction nor block %s: %v", h.BlockHash, err)}, "", nil
	case b.Confirmations < 1:
		return statementTx{problem: fmt.Sprintf("block %s is not in the node's main chain", h.BlockHash)}, "", nil
	case !contains(b.Tx, h.TxID):
		return statementTx{problem: fmt.Sprintf("block %s does not hold the transaction", h.BlockHash)}, "", nil
	}
	embedded.confirmations, embedded.blockHash = b.Confirmations, b.Hash
	return statementTx{chainTx: *embedded}, "chain", nil
}

// WriteText writes the verdict for a person.
func (v *StatementVerdict) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "statement of %s on %s: %d lines, %d proven, %d unanchored\n", v.Address, v.Network, v.Lines, v.Proven, v.Unanchored)
	for i, h := range v.Heads {
		fmt.Fprintf(&b, "anchor %d: size %d, root %s, transaction %s: ", i+1, h.Size, h.Root, h.TxID)
		switch h.Checked {
		case "chain":
			fmt.Fprintf(&b, "in the chain, block %s, %d confirmations\n", h.BlockHash, h.Confirmations)
		case "statement":
			b.WriteString("read from the statement's copy only (no --node: not checked that the chain holds it)\n")
		default:
			b.WriteString("NOT VERIFIED\n")
		}
	}
	if len(v.Heads) == 0 {
		b.WriteString("no anchored head: no line can be proven yet\n")
	}
	if v.Unanchored > 0 {
		fmt.Fprintf(&b, "%d line(s) after the latest anchored head cannot be proven yet: a later payout's transaction will anchor them\n", v.Unanchored)
	}
	if v.OK() {
		if v.Proven == v.Lines {
			fmt.Fprintf(&b, "verified: all %d lines proven\n", v.Lines)
		} else {
			fmt.Fprintf(&b, "verified: %d of %d lines proven, nothing failed\n", v.Proven, v.Lines)
		}
	} else {
		fmt.Fprintf(&b, "FAILED: %d check(s) did not hold\n", len(v.Failures))
		for _, f := range v.Failures {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
