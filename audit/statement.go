package audit

import (
	"bytes"
	"encoding/csv"
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
}

type statementCollector struct {
	st      *Statement
	payouts map[uuid.UUID][]int // lines of each payout
}

func newStatementCollector(r StatementRequest) *statementCollector {
	return &statementCollector{
		st:      &Statement{Network: r.Network, Address: r.Address, MinerID: events.MinerID(r.Network, r.Address), Lines: []StatementLine{}},
		payouts: map[uuid.UUID][]int{},
	}
}

func (c *statementCollector) add(l StatementLine) {
	s := c.st
	s.BalanceSat += l.AmountSat
	l.BalanceSat = s.BalanceSat
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
	b.WriteString("; `purepool audit statement` on the same log reproduces it.\n\n")
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
		}
		fmt.Fprintf(&b, "  %s BBP  balance %s BBP\n", signedBBP(l.AmountSat), FormatBBP(l.BalanceSat))
	}
	fmt.Fprintf(&b, "\ncredited %s, reversed %s, paid %s BBP\nbalance  %s BBP\n",
		FormatBBP(s.CreditedSat), FormatBBP(s.ReversedSat), FormatBBP(s.PaidSat), FormatBBP(s.BalanceSat))
	_, err := w.Write(b.Bytes())
	return err
}

func signedBBP(sat int64) string {
	if sat >= 0 {
		return "+" + FormatBBP(sat)
	}
	return FormatBBP(sat)
}
