package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// StatementRequest names the miner whose statement Run collects.
type StatementRequest struct {
	Network string
	Address string
}

// Line kinds of a statement.
const (
	LineCredit       = "credit"
	LineReversal     = "reversal"
	LinePayout       = "payout"
	LinePayoutFailed = "payout_failed" // the payout's amount returns to the balance
	// LinePayoutConflicted: the payout's transaction was double spent by
	// the chain; its amount returns to the balance.
	LinePayoutConflicted = "payout_conflicted"
	// LinePayoutCorrected: the payout was recorded as sent in a
	// transaction that does not pay it, and an admin corrected that
	// (PayoutCorrected); its amount returns to the balance.
	LinePayoutCorrected = "payout_corrected"
)

// StatementLine is one movement of a miner's balance, with its proof: the
// log position of the event that made it, and for a credit the block and
// round figures the amount was computed from.
type StatementLine struct {
	Position uint64    `json:"position"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`

	BlockHeight     int64  `json:"block_height,omitempty"`
	BlockHash       string `json:"block_hash,omitempty"`
	RewardSat       int64  `json:"reward_sat,omitempty"`
	FeeSat          int64  `json:"fee_sat,omitempty"`
	RoundShares     int64  `json:"round_shares,omitempty"`
	RoundDifficulty int64  `json:"round_difficulty,omitempty"`
	MinerShares     int64  `json:"miner_shares,omitempty"`
	MinerDifficulty int64  `json:"miner_difficulty,omitempty"`
	// SharePercent is the miner's part of the round (by difficulty, the
	// weight the split uses), computed with integers.
	SharePercent string `json:"share_percent,omitempty"`
	Reason       string `json:"reason,omitempty"`

	PayoutID uuid.UUID `json:"payout_id,omitzero"`
	TxID     string    `json:"txid,omitempty"`
	Status   string    `json:"status,omitempty"` // the payout's final status

	// AmountSat is the signed change to the balance; BalanceSat the balance after it.
	AmountSat  int64 `json:"amount_sat"`
	BalanceSat int64 `json:"balance_sat"`

	// Event is the stored event the line comes from, with every field its
	// chain hash covers (events.ChainHash), so anyone can recompute the
	// hash and read the amounts from the event itself.
	Event *StatementEvent `json:"event,omitempty"`
	// Proof shows the event's chain hash in the log under the latest
	// anchored head (the last of Statement.Anchors). Nil for a line after
	// that head: Unanchored, and Note says why.
	Proof      *InclusionProof `json:"proof,omitempty"`
	Unanchored bool            `json:"unanchored,omitempty"`
	Note       string          `json:"note,omitempty"`
}

// StatementEvent is a stored event as events.ChainHash reads it: Data is
// the stored JSON byte for byte (a string, so no encoder reformats it),
// PrevHash the previous event's chain hash, ChainHash this event's (which
// the verifier recomputes rather than trusts).
type StatementEvent struct {
	Position      uint64          `json:"position"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"version"`
	ID            uuid.UUID       `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"` // UTC, microseconds
	Data          string          `json:"data"`
	Metadata      events.Metadata `json:"metadata"`
	PrevHash      string          `json:"prev_hash"`
	ChainHash     string          `json:"chain_hash"`
}

// Envelope is the stored event again (with its PrevHash, without its Hash).
func (e *StatementEvent) Envelope() (events.Envelope, error) {
	prev, err := hex.DecodeString(e.PrevHash)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("prev_hash %q: %w", e.PrevHash, err)
	}
	return events.Envelope{ID: e.ID, Stream: e.Stream, Version: e.Version, Position: e.Position, Type: e.Type,
		SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt, Data: []byte(e.Data), Metadata: e.Metadata, PrevHash: prev}, nil
}

func statementEvent(env *events.Envelope, chainHash []byte) *StatementEvent {
	return &StatementEvent{Position: env.Position, Stream: env.Stream, Version: env.Version, ID: env.ID, Type: env.Type,
		SchemaVersion: env.SchemaVersion, RecordedAt: env.RecordedAt.UTC(), Data: string(env.Data), Metadata: env.Metadata,
		PrevHash: hex.EncodeToString(env.PrevHash), ChainHash: hex.EncodeToString(chainHash)}
}

// InclusionProof is an RFC 6962 audit path: leaf LeafIndex (the event's
// position − 1; the leaf is the event's chain hash) of the log's Merkle
// tree of TreeSize leaves (anchor.VerifyInclusion). Hex hashes.
type InclusionProof struct {
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// StatementAnchor is a head of the log that a payout transaction carries
// in its data output (package anchor): the Merkle root Root of the first
// Size events. Consistency proves that it extends the anchor before it in
// the statement (RFC 6962 consistency proof; empty for the first).
type StatementAnchor struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
	// Hash is event Size's chain hash (for --anchor; not part of the proof).
	Hash     string    `json:"hash,omitempty"`
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	Position uint64    `json:"position"` // the payout's PayoutPlanned
	TxID     string    `json:"txid"`
	// TxHex is the transaction itself, so its data output can be read
	// without a node; BlockHash, when known, is the block that holds it
	// (a node without -txindex finds the transaction there).
	TxHex       string   `json:"tx_hex,omitempty"`
	BlockHash   string   `json:"block_hash,omitempty"`
	Consistency []string `json:"consistency,omitempty"`
}

// Statement is a miner's account as anyone holding the event log can
// recompute it.
type Statement struct {
	Network     string          `json:"network"`
	Address     string          `json:"address"`
	MinerID     uuid.UUID       `json:"miner_id"`
	Head        uint64          `json:"head"`
	HeadHash    string          `json:"head_hash,omitempty"`
	Lines       []StatementLine `json:"lines"`
	CreditedSat int64           `json:"credited_sat"`
	ReversedSat int64           `json:"reversed_sat"`
	PaidSat     int64           `json:"paid_sat"` // planned payouts that did not fail
	BalanceSat  int64           `json:"balance_sat"`

	// PoolID is the installation whose payout transactions carry the
	// anchors (their data outputs name it).
	PoolID uuid.UUID `json:"pool_id,omitzero"`
	// Anchors are the log's heads published in the chain by payout
	// transactions, by size; every line's proof is under the last one.
	Anchors []StatementAnchor `json:"anchors,omitempty"`
	// ProofNote says what the proofs cover (`purepool verify-statement`
	// checks them).
	ProofNote string `json:"proof_note,omitempty"`
}

type statementCollector struct {
	st        *Statement
	payouts   map[uuid.UUID][]int // lines of each payout
	corrected map[uuid.UUID]uint64
	// env and hash are the event being folded (set by anchorEvent) and its
	// recomputed chain hash: each line carries them.
	env  *events.Envelope
	hash []byte
}

func newStatementCollector(r StatementRequest) *statementCollector {
	return &statementCollector{
		st:        &Statement{Network: r.Network, Address: r.Address, MinerID: events.MinerID(r.Network, r.Address), Lines: []StatementLine{}},
		payouts:   map[uuid.UUID][]int{},
		corrected: map[uuid.UUID]uint64{},
	}
}

func (c *statementCollector) add(l StatementLine) {
	s := c.st
	s.BalanceSat += l.AmountSat
	l.BalanceSat = s.BalanceSat
	if c.env != nil && c.env.Position == l.Position {
		l.Event = statementEvent(c.env, c.hash)
	}
	s.Lines = append(s.Lines, l)
}

func (c *statementCollector) apply(pos uint64, e events.Event, l *aggregates.Ledger) {
	s := c.st
	switch e := e.(type) {
	case events.MinerCredited:
		if e.Network != s.Network || e.MinerID != s.MinerID {
			return
		}
		s.CreditedSat += e.AmountSat
		// The reason says what a credit holds beyond the miner's part of
		// reward − fee: the round's share of the carry account, or, for
		// the finder of a round without shares, the whole miners' part.
		var reason string
		b := l.Network(e.Network).Block(e.BlockHash)
		if b.Empty != nil && b.Empty.Outcome == events.EmptyRoundToFinder {
			reason = "the round had no share: the miners' part goes to the block's finder"
		}
		if b.Round != nil && b.Round.CarriedInSat > 0 {
			if reason != "" {
				reason += "; "
			}
			reason += fmt.Sprintf("the round took %s BBP carried from earlier rounds without shares", FormatBBP(b.Round.CarriedInSat))
		}
		c.add(StatementLine{
			Position: pos, At: e.At, Kind: LineCredit, BlockHeight: e.Height, BlockHash: e.BlockHash,
			RewardSat: e.RewardSat, FeeSat: e.FeeSat, RoundShares: e.RoundShares, RoundDifficulty: e.RoundDifficulty,
			MinerShares: e.MinerShares, MinerDifficulty: e.MinerDifficulty,
			SharePercent: sharePercent(e), Reason: reason, AmountSat: e.AmountSat,
		})
	case events.CreditReversed:
		if e.Network != s.Network || e.AccountID != s.MinerID {
			return
		}
		s.ReversedSat += e.AmountSat
		c.add(StatementLine{Position: pos, At: e.At, Kind: LineReversal, BlockHash: e.BlockHash, Reason: e.Reason, AmountSat: -e.AmountSat})
	case events.PayoutPlanned:
		if e.Network != s.Network {
			return
		}
		for _, it := range e.Items {
			if it.MinerID != s.MinerID {
				continue
			}
			s.PaidSat += it.AmountSat
			c.payouts[e.PayoutID] = append(c.payouts[e.PayoutID], len(s.Lines))
			c.add(StatementLine{Position: pos, At: e.At, Kind: LinePayout, PayoutID: e.PayoutID, AmountSat: -it.AmountSat,
				Status: aggregates.PayoutPlanned})
		}
	case events.PayoutFailed:
		if e.Network == s.Network {
			c.returned(StatementLine{Position: pos, At: e.At, Kind: LinePayoutFailed, PayoutID: e.PayoutID, Reason: e.Reason})
		}
	case events.PayoutConflicted:
		if e.Network == s.Network {
			c.returned(StatementLine{Position: pos, At: e.At, Kind: LinePayoutConflicted, PayoutID: e.PayoutID, TxID: e.TxID, Reason: e.Reason})
		}
	case events.PayoutCorrected:
		// The ledger (folded before this) returns the amounts of a sent
		// payout once.
		if p := l.Network(e.Network).Payouts[e.PayoutID]; e.Network == s.Network && c.corrected[e.PayoutID] == 0 &&
			p != nil && p.Status == aggregates.PayoutCorrectedStatus {
			c.corrected[e.PayoutID] = pos
			c.returned(StatementLine{Position: pos, At: e.At, Kind: LinePayoutCorrected, PayoutID: e.PayoutID, TxID: e.TxID, Reason: e.Reason})
		}
	}
}

// returned adds the line that gives the miner back its part of a payout
// that paid nothing (failed or conflicted); line names the payout.
func (c *statementCollector) returned(line StatementLine) {
	s := c.st
	for _, i := range c.payouts[line.PayoutID] {
		line.AmountSat = -s.Lines[i].AmountSat
		s.PaidSat -= line.AmountSat
		c.add(line)
	}
}

// finish fills in each payout's final status and transaction.
func (c *statementCollector) finish(l *aggregates.Ledger) *Statement {
	s := c.st
	if n, ok := l.Networks[s.Network]; ok {
		for id, lines := range c.payouts {
			p, ok := n.Payouts[id]
			if !ok {
				continue
			}
			for _, i := range lines {
				s.Lines[i].Status, s.Lines[i].TxID = p.Status, p.TxID
			}
		}
	}
	return s
}

func sharePercent(e events.MinerCredited) string {
	if e.RoundDifficulty > 0 {
		return FormatPercent(e.MinerDifficulty, e.RoundDifficulty, PercentDecimals)
	}
	return FormatPercent(e.MinerShares, e.RoundShares, PercentDecimals)
}

// WriteJSON writes the statement as JSON.
func (s *Statement) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteCSV writes one row per line, amounts in BBP with eight decimals.
func (s *Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"position", "at", "kind", "block_height", "block_hash", "reward_bbp", "fee_bbp",
		"round_shares", "round_difficulty", "miner_shares", "miner_difficulty", "share_percent",
		"payout_id", "txid", "status", "reason", "amount_bbp", "balance_bbp"})
	for _, l := range s.Lines {
		row := []string{strconv.FormatUint(l.Position, 10), l.At.UTC().Format(time.RFC3339), l.Kind, "", l.BlockHash, "", "", "", "", "", "", l.SharePercent,
			"", l.TxID, l.Status, l.Reason, FormatBBP(l.AmountSat), FormatBBP(l.BalanceSat)}
		if l.Kind == LineCredit {
			row[3] = strconv.FormatInt(l.BlockHeight, 10)
			row[5], row[6] = FormatBBP(l.RewardSat), FormatBBP(l.FeeSat)
			row[7], row[8] = strconv.FormatInt(l.RoundShares, 10), strconv.FormatInt(l.RoundDifficulty, 10)
			row[9], row[10] = strconv.FormatInt(l.MinerShares, 10), strconv.FormatInt(l.MinerDifficulty, 10)
		}
		if l.PayoutID != uuid.Nil {
			row[12] = l.PayoutID.String()
		}
		_ = cw.Write(row)
	}
	_ = cw.Write([]string{"", "", "balance", "", "", "", "", "", "", "", "", "", "", "", "", "", "", FormatBBP(s.BalanceSat)})
	cw.Flush()
	return cw.Error()
}

// WriteText writes the statement for a person.
func (s *Statement) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Statement of %s on %s (miner %s)\n", s.Address, s.Network, s.MinerID)
	fmt.Fprintf(&b, "Derived from the event log up to position %d", s.Head)
	if s.HeadHash != "" {
		fmt.Fprintf(&b, " (chain hash %s)", s.HeadHash)
	}
	b.WriteString("; `purepool audit statement` on the same log reproduces it.\n")
	if n := len(s.Anchors); n > 0 {
		h := s.Anchors[n-1]
		fmt.Fprintf(&b, "Anchored in the BiblePay chain: the log's head at size %d (root %s) is in the data output of payout transaction %s;\n", h.Size, h.Root, h.TxID)
		fmt.Fprintf(&b, "%d of %d lines carry a proof under it (--format json; check with `purepool verify-statement FILE --node URL`).\n",
			s.proven(), len(s.Lines))
	}
	if s.ProofNote != "" {
		fmt.Fprintf(&b, "%s\n", s.ProofNote)
	}
	b.WriteString("\n")
	for _, l := range s.Lines {
		fmt.Fprintf(&b, "%10d  %s  ", l.Position, l.At.UTC().Format("2006-01-02 15:04:05"))
		switch l.Kind {
		case LineCredit:
			fmt.Fprintf(&b, "credit    block %d %s: reward %s, pool fee %s; round %d shares (difficulty %d), miner %d shares (difficulty %d) = %s",
				l.BlockHeight, l.BlockHash, FormatBBP(l.RewardSat), FormatBBP(l.FeeSat), l.RoundShares, l.RoundDifficulty,
				l.MinerShares, l.MinerDifficulty, l.SharePercent)
			if l.Reason != "" {
				fmt.Fprintf(&b, "; %s", l.Reason)
			}
		case LineReversal:
			fmt.Fprintf(&b, "reversal  block %s: %s", l.BlockHash, l.Reason)
		case LinePayout:
			fmt.Fprintf(&b, "payout    %s %s", l.PayoutID, l.Status)
			if l.TxID != "" {
				fmt.Fprintf(&b, " txid %s", l.TxID)
			}
		case LinePayoutFailed:
			fmt.Fprintf(&b, "returned  payout %s failed: %s", l.PayoutID, l.Reason)
		case LinePayoutConflicted:
			fmt.Fprintf(&b, "returned  payout %s: transaction %s conflicted: %s", l.PayoutID, l.TxID, l.Reason)
		case LinePayoutCorrected:
			fmt.Fprintf(&b, "returned  payout %s: transaction %s does not pay it (corrected): %s", l.PayoutID, l.TxID, l.Reason)
		}
		fmt.Fprintf(&b, "  %s BBP  balance %s BBP", signedBBP(l.AmountSat), FormatBBP(l.BalanceSat))
		if l.Unanchored {
			b.WriteString("  (unanchored)")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\ncredited %s, reversed %s, paid %s BBP\nbalance  %s BBP\n",
		FormatBBP(s.CreditedSat), FormatBBP(s.ReversedSat), FormatBBP(s.PaidSat), FormatBBP(s.BalanceSat))
	_, err := w.Write(b.Bytes())
	return err
}

// proven counts the lines with an inclusion proof.
func (s *Statement) proven() int {
	n := 0
	for _, l := range s.Lines {
		if l.Proof != nil {
			n++
		}
	}
	return n
}

func signedBBP(sat int64) string {
	if sat >= 0 {
		return "+" + FormatBBP(sat)
	}
	return FormatBBP(sat)
}
