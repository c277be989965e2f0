package commands

import (
	"time"

	"github.com/google/uuid"
)

// Command names: the stored contract between frontend, admin tools and backend.
const (
	NameIssueWork         = "IssueWork"
	NameSubmitSolution    = "SubmitSolution"
	NameDisableMiner      = "DisableMiner"
	NameEnableMiner       = "EnableMiner"
	NamePausePayouts      = "PausePayouts"
	NameResumePayouts     = "ResumePayouts"
	NameTriggerPayout     = "TriggerPayout"
	NameReconcilePayout   = "ReconcilePayout"
	NameCorrectPayout     = "CorrectPayout"
	NameAdoptWalletPayout = "AdoptWalletPayout"
)

// IssueWork records work the frontend handed out in answer to readytomine2.
// It also registers the miner and the worker on first contact.
type IssueWork struct {
	ID       uuid.UUID `json:"id"`
	Network  string    `json:"network"`
	MinerID  uuid.UUID `json:"miner_id"`
	Address  string    `json:"address"`
	Worker   string    `json:"worker"`
	WorkID   uuid.UUID `json:"work_id"`
	Target   string    `json:"target"` // 64 hex digits, as answered
	ThreadID int       `json:"thread_id"`
	Agent    string    `json:"agent"`
	OS       string    `json:"os"`
	RemoteIP string    `json:"remote_ip"`
	IssuedAt time.Time `json:"issued_at"`
}

// SubmitSolution carries a share the frontend parsed and answered "ok" to.
// Solution is the 16-field string exactly as the wallet sent it.
type SubmitSolution struct {
	ID         uuid.UUID `json:"id"` // also the solution id
	Network    string    `json:"network"`
	MinerID    uuid.UUID `json:"miner_id"`
	Address    string    `json:"address"`
	Worker     string    `json:"worker"`
	Solution   string    `json:"solution"`
	ThreadID   int       `json:"thread_id"`
	Agent      string    `json:"agent"`
	OS         string    `json:"os"`
	RemoteIP   string    `json:"remote_ip"`
	ReceivedAt time.Time `json:"received_at"`
}

// DisableMiner stops a miner from getting work (admin).
type DisableMiner struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	Address string    `json:"address"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// EnableMiner lets a disabled miner work again (admin).
type EnableMiner struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	Address string    `json:"address"`
	At      time.Time `json:"at"`
}

// PausePayouts stops a network's payout schedule (admin).
type PausePayouts struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// ResumePayouts restarts a network's payout schedule (admin).
type ResumePayouts struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

// TriggerPayout runs a network's payout now instead of at its scheduled time (admin).
type TriggerPayout struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

// ReconcilePayout settles a halted payout whose outcome was unknown, after
// the backend (or the operator, with TxID) established what happened.
type ReconcilePayout struct {
	ID       uuid.UUID `json:"id"`
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	// TxID, when an operator gives it, asserts the payout went out in that
	// transaction; empty lets the backend ask the wallet.
	TxID string    `json:"txid,omitempty"`
	At   time.Time `json:"at"`
}

// CorrectPayout undoes a payout recorded as sent (or confirmed) in a
// transaction that does not pay it, e.g. a wrong ReconcilePayout of an
// earlier release (admin). The backend checks the transaction first; the
// correction is an event (PayoutCorrected), never an edit, and returns the
// amounts to the balances.
type CorrectPayout struct {
	ID       uuid.UUID `json:"id"`
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	// TxID is the transaction the payout is wrongly recorded in.
	TxID   string    `json:"txid"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// AdoptWalletPayout records in the ledger a payout transaction this
// installation sent that the ledger does not know: after a restore from a
// backup behind the wallet (admin). The transaction must carry this pool's
// marker with the ledger's next payout id; the payout is recorded as
// planned, signed and sent in it, taking what it paid off the balances.
type AdoptWalletPayout struct {
	ID      uuid.UUID `json:"id"`
	Network string    `json:"network"`
	TxID    string    `json:"txid"`
	At      time.Time `json:"at"`
}

func (c AdoptWalletPayout) CommandName() string  { return NameAdoptWalletPayout }
func (c AdoptWalletPayout) CommandID() uuid.UUID { return c.ID }

func (c CorrectPayout) CommandName() string  { return NameCorrectPayout }
func (c CorrectPayout) CommandID() uuid.UUID { return c.ID }

func (c IssueWork) CommandName() string       { return NameIssueWork }
func (c SubmitSolution) CommandName() string  { return NameSubmitSolution }
func (c DisableMiner) CommandName() string    { return NameDisableMiner }
func (c EnableMiner) CommandName() string     { return NameEnableMiner }
func (c PausePayouts) CommandName() string    { return NamePausePayouts }
func (c ResumePayouts) CommandName() string   { return NameResumePayouts }
func (c TriggerPayout) CommandName() string   { return NameTriggerPayout }
func (c ReconcilePayout) CommandName() string { return NameReconcilePayout }

func (c IssueWork) CommandID() uuid.UUID       { return c.ID }
func (c SubmitSolution) CommandID() uuid.UUID  { return c.ID }
func (c DisableMiner) CommandID() uuid.UUID    { return c.ID }
func (c EnableMiner) CommandID() uuid.UUID     { return c.ID }
func (c PausePayouts) CommandID() uuid.UUID    { return c.ID }
func (c ResumePayouts) CommandID() uuid.UUID   { return c.ID }
func (c TriggerPayout) CommandID() uuid.UUID   { return c.ID }
func (c ReconcilePayout) CommandID() uuid.UUID { return c.ID }
