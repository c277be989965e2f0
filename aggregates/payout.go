package aggregates

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
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
}

// Settled reports a payout whose outcome is known (sent, confirmed, failed
// or conflicted).
func (p Payout) Settled() bool {
	switch p.Status {
	case PayoutSent, PayoutConfirmed, PayoutFailed, PayoutConflicted:
		return true
	}
	return false
}

// Apply folds one event of the payout's stream.
func (p Payout) Apply(e events.Event) Payout {
	switch e := e.(type) {
	case events.PayoutPlanned:
		p.Network, p.ID, p.Items, p.TotalSat, p.Status = e.Network, e.PayoutID, e.Items, e.TotalSat, PayoutPlanned
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
	return []events.Event{events.PayoutPlanned{Network: s.Network, PayoutID: payoutID, Items: items, TotalSat: total, At: at}}, nil
}

// DecidePayoutSent records the wallet's transaction for a planned or halted
// payout. Recording the same transaction again changes nothing; anything that
// contradicts a known outcome is ErrConflict (and must be looked at by a human).
func DecidePayoutSent(p Payout, txid string, feeSat int64, reconciled bool, at time.Time) ([]events.Event, error) {
	if txid == "" {
		return nil, fmt.Errorf("%w: no transaction id", ErrInvalid)
	}
	switch p.Status {
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
	}
	return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
}

// DecidePayoutFailed records that it is certain nothing was sent.
func DecidePayoutFailed(p Payout, reason string, reconciled bool, at time.Time) ([]events.Event, error) {
	switch p.Status {
	case PayoutPlanned, PayoutHalted:
		return []events.Event{events.PayoutFailed{Network: p.Network, PayoutID: p.ID, Reason: reason, Reconciled: reconciled, At: at}}, nil
	case PayoutFailed:
		return nil, nil
	case PayoutSent, PayoutConfirmed, PayoutConflicted:
		return nil, fmt.Errorf("%w: payout %s was sent in %s", ErrConflict, p.ID, p.TxID)
	}
	return nil, fmt.Errorf("%w: payout %s was never planned", ErrConflict, p.ID)
}

// DecidePayoutHalted records that the send's outcome is unknown.
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
