// Package ledgergen generates histories of ledger events (events/ledger.go)
// for tests and benchmarks — the project's one generator of such logs, used
// by the projections, the auditor and the website's tests.
//
// A history is decided by the backend's own rules (package aggregates):
// DecideIssueWork registers miners and workers and records work,
// DecideDiscover records pool blocks, DecideConfirm, Ledger.MaturingOf and
// DecideMature close rounds by height at maturity and credit them
// (credits + fee == reward + carried in − carried out, the fee exactly
// FeeOf of the PoolPolicySet written before the first maturity), and
// DecideOrphan (after maturity, every credit reversed) move pool blocks, DecidePlanPayout plans payouts
// from the ledger's balances (never above them) and the payout decisions
// send, confirm, fail, halt and reconcile them; the admin decisions disable
// and enable miners, change targets and pause payouts. So a default history
// passes `purepool audit`, and Config.Inject adds exactly one kind of
// violation the audit must catch. (Shares are the exception: accepting one
// takes a real solution and the node's answers, so SolutionAccepted and
// SolutionRejected are written directly, each on work issued before it.)
//
// Alongside the envelopes a History keeps Expected: totals counted straight
// from the generated events by the generator's own bookkeeping (not by the
// projections' fold), so a projection can be checked against them, and
// Ledger, the backend's fold (aggregates.Ledger) of the whole history.
//
// The history is deterministic for a Config (Seed included). Envelopes carry
// positions, stream versions and the tamper-evidence chain (events.ChainHash)
// as a store would have written them; Writes and AppendTo load them into a
// real store at the same positions.
package ledgergen

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
)

// Config shapes a history. Zero fields take the defaults of Defaults.
type Config struct {
	Seed    uint64
	Network string // default "main"
	Miners  int    // default 12
	// WorkersPerMiner is the most workers a miner runs (1..n each). Default 3.
	WorkersPerMiner int
	// ChainBlocks is how many chain blocks the history spans (default 300);
	// with Events set, the history instead grows until it holds at least
	// Events events.
	ChainBlocks int
	Events      int
	// SharesPerBlock is the mean number of shares per chain block. Default 20.
	SharesPerBlock int
	// PoolBlockEvery: on average one chain block in n is the pool's. Default 5.
	PoolBlockEvery int
	// Maturity in chain blocks (the real chain uses 101). Default 10.
	Maturity int64
	// PayoutEvery: a payout run every n chain blocks. Default 25.
	PayoutEvery int
	// MinPayoutSat is the least balance paid out. Default 10 BBP.
	MinPayoutSat int64
	// MaxRecipients per payout transaction. Default 10.
	MaxRecipients int
	FeeBps        int64     // pool fee in basis points. Default 100 (1%).
	Start         time.Time // time of the first block. Default 2026-11-01 UTC.
	// Spacing between chain blocks. Default: the network's block spacing.
	Spacing time.Duration
	// Inject, if set, adds one violation of that kind (see Injections).
	Inject Injection
	// OldRule generates a history of the release before the rounds by
	// height (events.RoundRulePosition): every share on the tip, rounds
	// closed at discovery by Ledger.CloseRound, no PoolPolicySet, no winning
	// share, no empty or late round. By default a history follows the
	// rounds by height (events.RoundRuleHeight): most shares are mined on
	// the tip, some a height behind, a few stored after their round was
	// credited (late, LateSharesCounted); each pool block's winning share is
	// accepted (sometimes only after the block was recorded); and some
	// rounds are empty (RoundEmpty, to the finder or carried).
	OldRule bool
	// Send, if set, really sends each payout the history records as sent
	// (e.g. through a simulated node's wallet) and returns its transaction
	// id and network fee; by default both are made up.
	Send func(network string, items []events.PayoutItem) (txid string, feeSat int64, err error)
	// Conflict, if set with Send, makes a sent payout's transaction
	// conflicted for the history's conflicted payouts (e.g. a simulated
	// node's double spend) and returns the conflicting transactions;
	// without it, a history with Send has no conflicted payouts.
	Conflict func(network, txid string) (conflicts []string, err error)
}

// Defaults fills the zero fields of c.
func (c Config) Defaults() Config {
	if c.Network == "" {
		c.Network = "main"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Miners, 12)
	def(&c.WorkersPerMiner, 3)
	def(&c.ChainBlocks, 300)
	def(&c.SharesPerBlock, 20)
	def(&c.PoolBlockEvery, 5)
	def(&c.PayoutEvery, 25)
	def(&c.MaxRecipients, 10)
	if c.Maturity <= 0 {
		c.Maturity = 10
	}
	if c.MinPayoutSat <= 0 {
		c.MinPayoutSat = 10 * biblepay.Coin
	}
	if c.FeeBps <= 0 {
		c.FeeBps = 100
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Spacing <= 0 {
		c.Spacing = 7 * time.Minute
		if n, ok := biblepay.LookupNetwork(c.Network); ok && n.BlockSpacing > 0 {
			c.Spacing = n.BlockSpacing
		}
	}
	return c
}

// Miner is a generated miner and its expected totals.
type Miner struct {
	ID      uuid.UUID
	Address string
	Workers []string // registered workers, in order of registration
	// Expected totals.
	CreditedSat, ReversedSat, PaidSat, BalanceSat int64
	Shares, Difficulty, Rejected                  int64
	Disabled                                      bool
}

// Block is a pool block's expected final state.
type Block struct {
	Hash          string
	Height        int64
	RewardSat     int64
	Status        string // pending, matured, orphaned
	Finder        uuid.UUID
	CreditedSat   int64
	FeeSat        int64
	RoundShares   int64
	Confirmations int64
}

// Payout is a payout's expected final state.
type Payout struct {
	ID       uuid.UUID
	Status   string // planned, sent, confirmed, failed, halted
	TxID     string
	TotalSat int64
	Items    []events.PayoutItem
}

// Expected is what an obviously correct count of the history's events gives.
type Expected struct {
	// Miners holds every miner the history registered.
	Miners  map[uuid.UUID]*Miner
	Blocks  map[string]*Block
	Payouts map[uuid.UUID]*Payout
	// Pool totals.
	Shares, Rejected, Difficulty  int64
	FeeSat, FeeReversedSat        int64
	CreditedSat, ReversedSat      int64
	PaidSat                       int64 // planned minus failed
	BlocksFound, Matured, Orphans int64
	// Rounds by height: empty rounds (RoundEmpty), late shares
	// (LateSharesCounted) and the carry account's balance.
	EmptyRounds, LateShares, CarrySat int64
	SharesByDay                       map[time.Time]int64 // pool accepted shares per UTC day
	RejectedByReason                  map[string]int64
	ChainHeight                       int64
	PayoutsPaused                     bool
}

// History is a generated event log.
type History struct {
	Config Config // with defaults filled in
	// Network is Config.Network.
	Network string
	// Miners lists every configured miner, in generation order (the same
	// values as Expected.Miners once registered).
	Miners []*Miner
	// Envelopes carry positions, versions and the hash chain as a store
	// would have written them.
	Envelopes []events.Envelope
	// Appends groups the log into the atomic writes the backend made
	// (expected version Any), in order.
	Appends  [][]events.StreamWrite
	Expected Expected
	// Injected tells whether Config.Inject found its opportunity (true
	// when nothing was to be injected).
	Injected bool
	// Ledger is the backend's fold (aggregates.Ledger) of the whole history.
	Ledger *aggregates.Ledger
}

// ByType counts the envelopes of each type.
func (h *History) ByType() map[string]int {
	m := map[string]int{}
	for _, e := range h.Envelopes {
		m[e.Type]++
	}
	return m
}

// ReadAll serves the history as an event store would (audit.Reader).
func (h *History) ReadAll(_ context.Context, after uint64, max int) ([]events.Envelope, error) {
	if after >= uint64(len(h.Envelopes)) {
		return nil, nil
	}
	end := min(int(after)+max, len(h.Envelopes))
	return h.Envelopes[after:end], nil
}

// Head is the last position.
func (h *History) Head(context.Context) (uint64, error) { return uint64(len(h.Envelopes)), nil }

// Writes groups the events into appends of up to perAppend events each
// (expected version Any), in log order, for loading a real store: appending
// them in order reproduces the same positions in an empty store. A stream
// is named at most once per append, as stores require. It needs only
// Envelopes, so it also serves a slice of a history.
func (h *History) Writes(perAppend int) [][]events.StreamWrite {
	var out [][]events.StreamWrite
	var cur []events.StreamWrite
	named := map[string]bool{}
	n := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, n = nil, 0
		named = map[string]bool{}
	}
	for _, e := range h.Envelopes {
		ne := events.NewEvent{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata}
		if len(cur) > 0 && cur[len(cur)-1].Stream == e.Stream {
			cur[len(cur)-1].Events = append(cur[len(cur)-1].Events, ne)
		} else {
			if named[e.Stream] || n >= perAppend {
				flush()
			}
			named[e.Stream] = true
			cur = append(cur, events.StreamWrite{Stream: e.Stream, Expected: events.Any, Events: []events.NewEvent{ne}})
		}
		n++
	}
	flush()
	return out
}

// AppendTo writes the history to a store in the backend's decisions
// (Appends), batched up to perAppend events (0: one append per decision).
// Appending to an empty store reproduces the positions.
func (h *History) AppendTo(ctx context.Context, s events.Store, perAppend int) error {
	var batch []events.StreamWrite
	inBatch := map[string]int{} // stream -> index in batch after merging
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.Append(ctx, batch...); err != nil {
			return err
		}
		batch, n = nil, 0
		clear(inBatch)
		return nil
	}
	for _, ap := range h.Appends {
		// A stream may appear once per append, and merging a decision's
		// events into an earlier write of the same stream would reorder
		// them, so a decision naming a stream already in the batch starts
		// a new one.
		if n > 0 && (perAppend <= 0 || n+countEvents(ap) > perAppend || sharesStream(inBatch, ap)) {
			if err := flush(); err != nil {
				return err
			}
		}
		for _, w := range ap {
			if i, ok := inBatch[w.Stream]; ok { // the same stream twice in one decision
				batch[i].Events = append(batch[i].Events, w.Events...)
				continue
			}
			inBatch[w.Stream] = len(batch)
			batch = append(batch, events.StreamWrite{Stream: w.Stream, Expected: events.Any, Events: append([]events.NewEvent(nil), w.Events...)})
		}
		n += countEvents(ap)
	}
	return flush()
}

func countEvents(ws []events.StreamWrite) int {
	n := 0
	for _, w := range ws {
		n += len(w.Events)
	}
	return n
}

func sharesStream(in map[string]int, next []events.StreamWrite) bool {
	for _, w := range next {
		if _, ok := in[w.Stream]; ok {
			return true
		}
	}
	return false
}
