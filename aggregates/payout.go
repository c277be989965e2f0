package aggregates

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// Payout statuses.
const (
	PayoutNone      = ""
	PayoutPlanned   = "planned"
	PayoutSent      = "sent"
	PayoutFailed    = "failed"
	PayoutHalted    = "halted"
	PayoutConfirmed = "confirmed"
	// PayoutConflicted: its transaction can no longer confirm; nothing was
	// paid and the amounts went back to the balances.
	PayoutConflicted = "conflicted"
	// PayoutSignedStatus: its transaction is signed and recorded; it may or
	// may not have been broadcast. Broadcasting it again is safe.
	PayoutSignedStatus = "signed"
	// PayoutCorrectedStatus: it was recorded as sent in a transaction that
	// does not pay it; an admin corrected that, the amounts went back.
	PayoutCorrectedStatus = "corrected"
)

// Payout is the state of a payout-{id} stream.
type Payout struct {
	Network  string
	ID       uuid.UUID
	Items    []events.PayoutItem
	TotalSat int64
	Status   string
	TxID     string
	FeeSat   int64
	Reason   string
	// ConfirmedAt is when the payout was recorded as confirmed.
	ConfirmedAt time.Time
	// PoolID and Anchor are the planning installation and log head
	// (zero in payouts of earlier releases).
	PoolID uuid.UUID
	Anchor *events.LogAnchor
	// Adopted: recorded from a wallet transaction after the fact
	// (AdoptWalletPayout).
	Adopted bool
	// Signed is the payout's live signed transaction (nil before it is
	// signed, after it was recorded dead, and in sendmany payouts of
	// earlier releases). It stays set once the payout is sent.
	Signed *events.PayoutSigned
	// Dead lists the payout's signed transactions recorded dead.
	Dead []string
}

// Settled reports a payout whose outcome is known (sent, confirmed, failed
// or conflicted).
func (p Payout) Settled() bool {
	switch p.Status {
	case PayoutSent, PayoutConfirmed, PayoutFailed, PayoutConflicted, PayoutCorrectedStatus:
		return true
	}
	return false
}

// Attempts counts the payout's signed transactions so far.
func (p Payout) Attempts() int {
	n := len(p.Dead)
	if p.Signed != nil {
		n++
	}
	return n
}

// Apply folds one event of the payout's stream.
func (p Payout) Apply(e events.Event) Payout {
	switch e := e.(type) {
	case events.PayoutPlanned:
		p.Network, p.ID, p.Items, p.TotalSat, p.Status = e.Network, e.PayoutID, e.Items, e.TotalSat, PayoutPlanned
		p.PoolID, p.Anchor, p.Adopted = e.PoolID, e.Anchor, e.Adopted
	case events.PayoutSigned:
		p.Status, p.TxID, p.FeeSat, p.Signed = PayoutSignedStatus, e.TxID, e.FeeSat, &e
	case events.PayoutTxDead:
		p.Status, p.TxID, p.FeeSat, p.Signed, p.Reason = PayoutPlanned, "", 0, nil, e.Reason
		p.Dead = append(append([]string(nil), p.Dead...), e.TxID)
	case events.PayoutCorrected:
		p.Status, p.Reason = PayoutCorrectedStatus, e.Reason
	case events.PayoutSent:
		p.Status, p.TxID, p.FeeSat = PayoutSent, e.TxID, e.FeeSat
	case events.PayoutFailed:
		p.Status, p.Reason = PayoutFailed, e.Reason
	case events.PayoutHalted:
		p.Status, p.Reason = PayoutHalted, e.Reason
	case events.PayoutConfirmed:
		p.Status, p.ConfirmedAt = PayoutConfirmed, e.At
	case events.PayoutConflicted:
		p.Status, p.Reason = PayoutConflicted, e.Reason
	}
	return p
}

// PayoutCandidate is a miner with money owed.
type PayoutCandidate struct {
	MinerID    uuid.UUID
	Address    string
	BalanceSat int64
}

// PayoutPolicy is a network's payout configuration.
type PayoutPolicy struct {
	MinPayoutSat  int64 // a miner is paid once its balance reaches this (at least 1)
	MaxRecipients int   // recipients per transaction (at least 1)
}

// ErrPayoutsBlocked: the network's payouts are paused, or an earlier payout's
// outcome is not settled yet.
var ErrPayoutsBlocked = fmt.Errorf("%w: payouts are blocked", ErrConflict)

// ErrNothingToPay: no miner's balance reaches the minimum payout.
var ErrNothingToPay = errors.New("no balance reaches the minimum payout")

// DecidePlanPayout plans the next payout of a network: the miners whose
// balance reaches the minimum, largest balances first (ties by miner id), at
// most MaxRecipients, each paid its whole balance. It refuses while payouts
// are paused or while any earlier payout (unsettled) has no known outcome:
// payouts of a network go out one at a time, so a halted one stops the rest.
func DecidePlanPayout(s PayoutSchedule, unsettled []uuid.UUID, candidates []PayoutCandidate, p PayoutPolicy, payoutID uuid.UUID, at time.Time) ([]events.Event, error) {
	return DecidePlanAnchoredPayout(s, unsettled, candidates, p, PlanIdentity{PayoutID: payoutID}, at)
}

// PlanIdentity is who plans a payout and on which log head: the payout's
// id, the installation's id and the head (nil on a store without a hash
// chain).
type PlanIdentity struct {
	PayoutID uuid.UUID
	PoolID   uuid.UUID
	Anchor   *events.LogAnchor
}

// DecidePlanAnchoredPayout is DecidePlanPayout recording the planning
// installation and the log head the payout's transaction will carry.
func DecidePlanAnchoredPayout(s PayoutSchedule, unsettled []uuid.UUID, candidates []PayoutCandidate, p PayoutPolicy, id PlanIdentity, at time.Time) ([]events.Event, error) {
	payoutID := id.PayoutID
	if s.Paused {
		return nil, fmt.Errorf("%w: paused (%s)", ErrPayoutsBlocked, s.Reason)
	}
	if len(unsettled) > 0 {
		return nil, fmt.Errorf("%w: payout %s is not settled", ErrPayoutsBlocked, unsettled[0])
	}
	if payoutID == uuid.Nil || s.Network == "" {
		return nil, fmt.Errorf("%w: payout without id or network", ErrInvalid)
	}
	minimum := max(p.MinPayoutSat, 1)
	var eligible []PayoutCandidate
	for _, c := range candidates {
		if c.BalanceSat >= minimum && c.Address != "" && c.MinerID != events.FeeAccountID(s.Network) {
			eligible = append(eligible, c)
		}
	}
	if len(eligible) == 0 {
		return nil, ErrNothingToPay
	}
	sort.Slice(eligible, func(i, j int) bool {
		if eligible[i].BalanceSat != eligible[j].BalanceSat {
			return eligible[i].BalanceSat > eligible[j].BalanceSat
		}
		return bytes.Compare(eligible[i].MinerID[:], eligible[j].MinerID[:]) < 0
	})
	if n := max(p.MaxRecipients, 1); len(eligible) > n {
		eligible = eligible[:n]
	}
	items := make([]events.PayoutItem, len(eligible))
	var total int64
	for i, c := range eligible {
		if total > math.MaxInt64-c.BalanceSat {
			return nil, fmt.Errorf("%w: payout total", ErrOverflow)
		}
		total += c.BalanceSat
		items[i] = events.PayoutItem{MinerID: c.MinerID, Address: c.Address, AmountSat: c.BalanceSat}
	}
	return []events.Event{events.PayoutPlanned{Network: s.Network, PayoutID: payoutID, Items: items, TotalSat: total,
		PoolID: id.PoolID, Anchor: id.Anchor, At: at}}, nil
}

// DecidePayoutSent records the wallet's transaction for a planned or halted
// payout. Recording the same transaction again changes nothing; anything that
// contradicts a known outcome is ErrConflict (and must be looked at by a human).
func DecidePayoutSent(p Payout, txid string, feeSat int64, reconciled bool, at time.Time) ([]events.Event, error) {
	if txid == "" {
		return nil, fmt.Errorf("%w: no transaction id", ErrInvalid)
	}
	switch p.Status {
	case PayoutSignedStatus:
		// A signed payout is sent only in its own transaction, with its fee.
		if txid != p.Signed.TxID {
			return nil, fmt.Errorf("%w: payout %s is signed as %s, not %s", ErrConflict, p.ID, p.Signed.TxID, txid)
		}
		return []events.Event{events.PayoutSent{Network: p.Network, PayoutID: p.ID, TxID: txid, FeeSat: p.Signed.FeeSat, Reconciled: reconciled, At: at}}, nil
	case PayoutPlanned, PayoutHalted:
		return []events.Event{events.PayoutSent{Network: p.Network, PayoutID: p.ID, TxID: txid, FeeSat: feeSat, Reconciled: reconciled, At: at}}, nil
	case PayoutSent, PayoutConfirmed:
		if p.TxID == txid {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: payout %s was sent in %s, not %s", ErrConflict, p.ID, p.TxID, txid)
	case PayoutFailed:
		return nil, fmt.Errorf("%w: payout %s was recorded as failed, yet %s pays it", ErrConflict, p.ID, txid)
	case PayoutConflicted:
		return nil, fmt.Errorf("%w: payout %s was recorded as conflicted, yet %s pays it", ErrConflict, p.ID, txid)
	case PayoutCorrectedStatus:
		return nil, fmt.Errorf("%w: payout %s was corrected (its amounts went back), yet %s pays it", ErrConflict, p.ID, txid)
	}
	return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
}

// DecidePayoutFailed records that it is certain nothing was sent. A signed
// payout never fails: its transaction exists and can be broadcast by
// anyone who has it; only PayoutTxDead ends it.
func DecidePayoutFailed(p Payout, reason string, reconciled bool, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutSignedStatus:
		return nil, fmt.Errorf("%w: payout %s is signed as %s: it can only be sent, or found dead", ErrConflict, p.ID, p.Signed.TxID)
	case PayoutPlanned, PayoutHalted:
		return []events.Event{events.PayoutFailed{Network: p.Network, PayoutID: p.ID, Reason: reason, Reconciled: reconciled, At: at}}, nil
	case PayoutFailed:
		return nil, nil
	case PayoutSent, PayoutConfirmed, PayoutConflicted, PayoutCorrectedStatus:
		return nil, fmt.Errorf("%w: payout %s was sent in %s", ErrConflict, p.ID, p.TxID)
	}
	return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
}

// DecidePayoutSigned records a payout's signed transaction before it is
// broadcast. It is refused unless the payout is planned (first attempt, or
// after its last transaction was recorded dead), and unless the
// transaction's sends are exactly SplitFee of the payout's items and fee:
// the amounts a payout records are never anything else.
func DecidePayoutSigned(p Payout, s events.PayoutSigned) ([]events.Event, error) {
	switch p.Status {
	case PayoutPlanned:
	case PayoutSignedStatus:
		if p.Signed.TxID == s.TxID {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: payout %s is already signed as %s", ErrConflict, p.ID, p.Signed.TxID)
	case PayoutNone:
		return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
	default:
		return nil, fmt.Errorf("%w: payout %s is %s, not planned", ErrConflict, p.ID, p.Status)
	}
	if s.TxID == "" || s.Hex == "" || len(s.Inputs) == 0 {
		return nil, fmt.Errorf("%w: signed payout without txid, hex or inputs", ErrInvalid)
	}
	want, err := SplitFee(p.Items, s.FeeSat)
	if err != nil {
		return nil, err
	}
	if len(want) != len(s.Sends) {
		return nil, fmt.Errorf("%w: %d sends for %d recipients", ErrInvalid, len(s.Sends), len(want))
	}
	for i := range want {
		if want[i] != s.Sends[i] {
			return nil, fmt.Errorf("%w: send %d is %+v, the fee split says %+v", ErrInvalid, i, s.Sends[i], want[i])
		}
	}
	s.Network, s.PayoutID, s.Attempt = p.Network, p.ID, p.Attempts()+1
	return []events.Event{s}, nil
}

// DecidePayoutTxDead records that a payout's signed transaction can never
// confirm (an input of it is spent by another transaction that is buried
// deep enough); the payout is planned again and a new transaction is
// signed for the same amounts.
func DecidePayoutTxDead(p Payout, txid, spentInput, reason string, at time.Time) ([]events.Event, error) {
	for _, d := range p.Dead {
		if d == txid {
			return nil, nil
		}
	}
	if p.Status != PayoutSignedStatus {
		return nil, fmt.Errorf("%w: payout %s is %q, not signed", ErrConflict, p.ID, p.Status)
	}
	if p.Signed.TxID != txid {
		return nil, fmt.Errorf("%w: payout %s is signed as %s, not %s", ErrConflict, p.ID, p.Signed.TxID, txid)
	}
	return []events.Event{events.PayoutTxDead{Network: p.Network, PayoutID: p.ID, TxID: txid, SpentInput: spentInput, Reason: reason, At: at}}, nil
}

// DecidePayoutCorrected records an admin's correction of a payout recorded
// as sent (or confirmed) in txid, which does not pay it: the amounts go
// back to the balances. The caller has checked the transaction; the reason
// says how.
func DecidePayoutCorrected(p Payout, txid, reason string, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutSent, PayoutConfirmed:
		if p.TxID != txid {
			return nil, fmt.Errorf("%w: payout %s is recorded in %s, not %s", ErrConflict, p.ID, p.TxID, txid)
		}
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%w: a correction needs a reason", ErrInvalid)
		}
		return []events.Event{events.PayoutCorrected{Network: p.Network, PayoutID: p.ID, TxID: txid, Reason: reason, At: at}}, nil
	case PayoutCorrectedStatus:
		return nil, nil
	case PayoutNone:
		return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
	}
	return nil, fmt.Errorf("%w: payout %s is %q: only a sent payout can be corrected", ErrConflict, p.ID, p.Status)
}

// SplitFee is the documented rule by which a payout's network fee comes
// off its recipients: each item bears feeSat × amount / total, rounded
// down, and the satoshis left over go one each to the items with the
// largest remainders (ties: the earlier item). The result lists each
// item with the amount it receives on the chain; those amounts plus
// feeSat equal the payout's total exactly. An item left with nothing (or
// less than nothing) is an error: the fee is larger than the payout can
// bear.
func SplitFee(items []events.PayoutItem, feeSat int64) ([]events.PayoutItem, error) {
	if feeSat < 0 {
		return nil, fmt.Errorf("%w: negative fee %d", ErrInvalid, feeSat)
	}
	var total int64
	for _, it := range items {
		if it.AmountSat <= 0 || total > math.MaxInt64-it.AmountSat {
			return nil, fmt.Errorf("%w: payout item %s of %d", ErrInvalid, it.Address, it.AmountSat)
		}
		total += it.AmountSat
	}
	out := make([]events.PayoutItem, len(items))
	if len(items) == 0 {
		return out, nil
	}
	bigTotal, bigFee := big.NewInt(total), big.NewInt(feeSat)
	rems := make([]int64, len(items))
	var share big.Int
	var rem big.Int
	left := feeSat
	for i, it := range items {
		share.Mul(bigFee, big.NewInt(it.AmountSat))
		share.QuoRem(&share, bigTotal, &rem)
		out[i] = it
		out[i].AmountSat = it.AmountSat - share.Int64()
		rems[i] = rem.Int64()
		left -= share.Int64()
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
	for k := 0; left > 0; k++ {
		out[order[k%len(order)]].AmountSat--
		left--
	}
	for _, it := range out {
		if it.AmountSat <= 0 {
			return nil, fmt.Errorf("%w: the network fee %d leaves %s nothing", ErrInvalid, feeSat, it.Address)
		}
	}
	return out, nil
}

// DecidePayoutHalted records that the send's outcome is unknown. Only a
// payout of an earlier release (sendmany, no signed transaction) can have
// an unknown outcome; a signed one is broadcast again until it is known.
func DecidePayoutHalted(p Payout, reason string, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutPlanned:
		return []events.Event{events.PayoutHalted{Network: p.Network, PayoutID: p.ID, Reason: reason, At: at}}, nil
	case PayoutHalted:
		return nil, nil
	case PayoutNone:
		return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
	}
	return nil, fmt.Errorf("%w: payout %s is already %s", ErrConflict, p.ID, p.Status)
}

// DecidePayoutConfirmed records the confirmations of a sent payout.
func DecidePayoutConfirmed(p Payout, confirmations int64, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutSent:
		return []events.Event{events.PayoutConfirmed{Network: p.Network, PayoutID: p.ID, TxID: p.TxID, Confirmations: confirmations, At: at}}, nil
	case PayoutConfirmed:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: payout %s is %q, not sent", ErrConflict, p.ID, p.Status)
}

// DecidePayoutConflicted records that a sent payout's transaction can no
// longer confirm (the chain spends its inputs), which returns the amounts to
// the balances. The caller has made sure the conflict is buried deep enough
// not to be undone. Only the transaction the payout was sent in can be
// conflicted; recording it again changes nothing. A confirmed payout can
// still be conflicted by a reorganisation deeper than its confirmations.
func DecidePayoutConflicted(p Payout, txid string, conflicts []string, reason string, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutSent, PayoutConfirmed:
		if txid != p.TxID {
			return nil, fmt.Errorf("%w: payout %s was sent in %s, not %s", ErrConflict, p.ID, p.TxID, txid)
		}
		return []events.Event{events.PayoutConflicted{Network: p.Network, PayoutID: p.ID, TxID: txid, Conflicts: conflicts, Reason: reason, At: at}}, nil
	case PayoutConflicted:
		if txid == p.TxID {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: payout %s was sent in %s, not %s", ErrConflict, p.ID, p.TxID, txid)
	case PayoutNone:
		return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
	}
	return nil, fmt.Errorf("%w: payout %s is %q, not sent", ErrConflict, p.ID, p.Status)
}

// PayoutSchedule is the state of a payouts-{net} stream.
type PayoutSchedule struct {
	Network string
	Paused  bool
	Reason  string
}

// Apply folds one event of the schedule's stream.
func (s PayoutSchedule) Apply(e events.Event) PayoutSchedule {
	switch e := e.(type) {
	case events.PayoutsPaused:
		s.Network, s.Paused, s.Reason = e.Network, true, e.Reason
	case events.PayoutsResumed:
		s.Network, s.Paused, s.Reason = e.Network, false, ""
	}
	return s
}

// DecidePausePayouts stops a network's payouts (no event if already paused).
func DecidePausePayouts(s PayoutSchedule, c commands.PausePayouts) ([]events.Event, error) {
	if c.Network == "" {
		return nil, fmt.Errorf("%w: no network", ErrInvalid)
	}
	if s.Paused {
		return nil, nil
	}
	return []events.Event{events.PayoutsPaused{Network: c.Network, Reason: c.Reason, At: c.At}}, nil
}

// DecideResumePayouts restarts a network's payouts (no event if not paused).
func DecideResumePayouts(s PayoutSchedule, c commands.ResumePayouts) ([]events.Event, error) {
	if c.Network == "" {
		return nil, fmt.Errorf("%w: no network", ErrInvalid)
	}
	if !s.Paused {
		return nil, nil
	}
	return []events.Event{events.PayoutsResumed{Network: c.Network, At: c.At}}, nil
}
