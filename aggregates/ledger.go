package aggregates

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// LedgerConfig is what folding needs beyond the events themselves.
type LedgerConfig struct {
	// PPLNSWindow is, per network, how many of the latest accepted shares a
	// PPLNS round counts (default 10,000).
	PPLNSWindow map[string]int
}

// DefaultPPLNSWindow is the PPLNS window when none is configured.
const DefaultPPLNSWindow = 10_000

// ShareEntry is one accepted share as rounds count it.
type ShareEntry struct {
	Position   uint64
	SolutionID uuid.UUID
	MinerID    uuid.UUID
	Address    string
	Difficulty int64
	BlockHash  string // the block the share solved (a pool block if it met the network target)
	// MinedHeight is the height the share's block would have had: its
	// previous height + 1. Rounds by height count shares by it.
	MinedHeight int64
}

// ChainPoint is what the ledger knows of the block recorded at a height.
type ChainPoint struct {
	Height int64
	Hash   string
	Time   time.Time // the block's header time
	SeenAt time.Time // when the follower first recorded it (zero: unknown)
}

// Appeared is when the block is taken to have been on the chain: its
// header time, but no later than the follower first saw it. BiblePay's
// nonce rule pays a miner to date a block late, not early, so the header
// time is an upper bound of when the block existed unless the follower saw
// it before.
func (c ChainPoint) Appeared() time.Time {
	if !c.SeenAt.IsZero() && c.SeenAt.Before(c.Time) {
		return c.SeenAt
	}
	return c.Time
}

// MinerInfo is what the ledger knows of a miner.
type MinerInfo struct {
	Address  string
	Disabled bool
	Target   string
	Accepted int64     // accepted shares, all time
	LastAt   time.Time // time of the latest accepted share
}

// NetworkLedger is one network's part of the ledger.
type NetworkLedger struct {
	Name   string
	Miners map[uuid.UUID]*MinerInfo
	// Open holds the shares accepted since the last closed round (PROP).
	Open []ShareEntry
	// LastClose is the ToPosition of the latest closed round.
	LastClose uint64
	// Window holds the latest accepted shares (PPLNS), oldest first.
	Window []ShareEntry
	// Carry holds rounds of blocks orphaned before maturity that the next
	// closed round must include, in orphaning order.
	Carry  []events.RoundClosed
	Blocks map[string]*PoolBlock
	// Chain is the hash recorded at each height; TipHeight the highest one.
	Chain     map[int64]string
	TipHeight int64
	// ChainPoints dates the block recorded at each height.
	ChainPoints map[int64]ChainPoint
	// Policy is the crediting policy last recorded (PoolPolicySet); nil
	// before the first.
	Policy *events.PoolPolicySet
	// Balances: credited − reversed − planned for payout (+ failed payouts),
	// per miner id or fee account.
	Balances map[uuid.UUID]int64
	// Paid is what went out in sent payouts, per miner.
	Paid      map[uuid.UUID]int64
	Payouts   map[uuid.UUID]*Payout
	Unsettled map[uuid.UUID]bool // planned or halted payouts
	// PayoutCount counts planned payouts; payout ids are sequential (PayoutID).
	PayoutCount int64
	Schedule    PayoutSchedule
	window      int
	// windowTrimAt is the Window length at which it is trimmed next.
	windowTrimAt int
}

// HasShareFor reports whether the share that solved blockHash is among the
// shares a round closed now would count (the open round, or the PPLNS
// window): the chain follower waits for it so the finder is paid for the
// block it found.
func (n *NetworkLedger) HasShareFor(blockHash string) bool {
	for i := len(n.Open) - 1; i >= 0; i-- {
		if n.Open[i].BlockHash == blockHash {
			return true
		}
	}
	for i := len(n.Window) - 1; i >= 0; i-- {
		if n.Window[i].BlockHash == blockHash {
			return true
		}
	}
	return false
}

// Ledger is the fold of the whole global log. Apply must be given every
// envelope in position order. It is not safe for concurrent use.
type Ledger struct {
	Position uint64
	// PoolID is the installation's id (the first PoolInstalled); nil in a
	// store migrated by a release before signed payouts.
	PoolID   uuid.UUID
	Networks map[string]*NetworkLedger
	versions map[string]int64
	cfg      LedgerConfig
}

// NewLedger returns an empty ledger.
func NewLedger(cfg LedgerConfig) *Ledger {
	return &Ledger{Networks: map[string]*NetworkLedger{}, versions: map[string]int64{}, cfg: cfg}
}

// Network returns a network's part, creating it empty.
func (l *Ledger) Network(name string) *NetworkLedger {
	n, ok := l.Networks[name]
	if !ok {
		w := l.cfg.PPLNSWindow[name]
		if w <= 0 {
			w = DefaultPPLNSWindow
		}
		n = &NetworkLedger{
			Name: name, Miners: map[uuid.UUID]*MinerInfo{}, Blocks: map[string]*PoolBlock{},
			Chain: map[int64]string{}, ChainPoints: map[int64]ChainPoint{}, Balances: map[uuid.UUID]int64{}, Paid: map[uuid.UUID]int64{},
			Payouts: map[uuid.UUID]*Payout{}, Unsettled: map[uuid.UUID]bool{},
			Schedule: PayoutSchedule{Network: name}, window: w,
		}
		l.Networks[name] = n
	}
	return n
}

// tracked reports the streams whose versions the ledger keeps for
// optimistic concurrency: the chain, pool blocks and payouts. (Miner,
// work, solution and bible-hash streams are read by the handlers directly.)
func tracked(stream string) bool {
	return strings.HasPrefix(stream, "chain-") || strings.HasPrefix(stream, "block-") || strings.HasPrefix(stream, "payout") ||
		strings.HasPrefix(stream, "policy-")
}

// Version is the version of a tracked stream's last folded event, or -1.
func (l *Ledger) Version(stream string) int64 {
	if v, ok := l.versions[stream]; ok {
		return v
	}
	return -1
}

// Expected is the expected version for the next append to a tracked stream.
func (l *Ledger) Expected(stream string) events.ExpectedVersion {
	if v := l.Version(stream); v >= 0 {
		return events.Exact(v)
	}
	return events.NoStream
}

// Apply folds one stored event. Envelopes at or below the ledger's position
// are ignored (a redelivered batch); an unknown event type is an error.
func (l *Ledger) Apply(env events.Envelope) error {
	if env.Position != 0 && env.Position <= l.Position {
		return nil
	}
	e, err := events.Decode(env)
	if err != nil {
		return err
	}
	if tracked(env.Stream) {
		l.versions[env.Stream] = env.Version
	}
	if env.Position != 0 {
		l.Position = env.Position
	}
	l.ApplyEvent(env.Position, e)
	return nil
}

// ApplyEvent folds one decoded event stored at position.
func (l *Ledger) ApplyEvent(position uint64, e events.Event) {
	switch e := e.(type) {
	case events.MinerRegistered:
		n := l.Network(e.Network)
		n.miner(e.MinerID).Address = e.Address
	case events.MinerDisabled:
		l.Network(e.Network).miner(e.MinerID).Disabled = true
	case events.MinerEnabled:
		l.Network(e.Network).miner(e.MinerID).Disabled = false
	case events.MinerTargetChanged:
		l.Network(e.Network).miner(e.MinerID).Target = e.Target
	case events.SolutionAccepted:
		n := l.Network(e.Network)
		m := n.miner(e.MinerID)
		if m.Address == "" {
			m.Address = e.Address
		}
		m.Accepted++
		m.LastAt = e.At
		s := ShareEntry{Position: position, SolutionID: e.SolutionID, MinerID: e.MinerID, Address: e.Address,
			Difficulty: e.Difficulty, BlockHash: e.BlockHash, MinedHeight: e.PrevHeight + 1}
		n.Open = append(n.Open, s)
		n.Window = append(n.Window, s)
		if len(n.Window) > max(2*n.pplnsWindow(), n.windowTrimAt) { // trim in amortised O(1)
			n.Window = n.trimWindow()
			n.windowTrimAt = 2 * len(n.Window)
		}
	case events.ChainBlockRecorded:
		n := l.Network(e.Network)
		n.Chain[e.Height] = e.Hash
		n.ChainPoints[e.Height] = ChainPoint{Height: e.Height, Hash: e.Hash, Time: e.Time, SeenAt: e.SeenAt}
		n.TipHeight = max(n.TipHeight, e.Height)
	case events.BlockDiscovered:
		n := l.Network(e.Network)
		b := n.applyBlock(e.Hash, e)
		if n.Policy != nil {
			b.FeeBps, b.FeeKnown = n.Policy.FeeBps, true
		}
	case events.RoundClosed:
		n := l.Network(e.Network)
		n.applyBlock(e.BlockHash, e)
		switch e.Rule {
		case events.RoundRuleHeight:
			if e.Scheme == events.SchemePROP {
				n.Open = countedOut(n.Open, e.ToPosition, e.Height)
			}
			n.Balances[events.CarryAccountID(e.Network)] -= e.CarriedInSat
		default:
			i := sort.Search(len(n.Open), func(i int) bool { return n.Open[i].Position > e.ToPosition })
			n.Open = append([]ShareEntry(nil), n.Open[i:]...)
			n.LastClose = max(n.LastClose, e.ToPosition)
		}
		if len(e.CarriedOver) > 0 {
			carried := map[string]bool{}
			for _, h := range e.CarriedOver {
				carried[h] = true
			}
			kept := n.Carry[:0:0]
			for _, r := range n.Carry {
				if !carried[r.BlockHash] {
					kept = append(kept, r)
				}
			}
			n.Carry = kept
		}
	case events.LateSharesCounted:
		l.Network(e.Network).applyBlock(e.BlockHash, e)
	case events.RoundEmpty:
		n := l.Network(e.Network)
		n.applyBlock(e.BlockHash, e)
		if e.Outcome == events.EmptyRoundCarried {
			n.Balances[events.CarryAccountID(e.Network)] += e.AmountSat
		}
	case events.PoolPolicySet:
		p := e
		l.Network(e.Network).Policy = &p
	case events.BlockConfirmed:
		n := l.Network(e.Network)
		n.applyBlock(e.Hash, e)
	case events.BlockMatured:
		n := l.Network(e.Network)
		n.applyBlock(e.Hash, e)
	case events.MinerCredited:
		n := l.Network(e.Network)
		n.applyBlock(e.BlockHash, e)
		n.Balances[e.MinerID] += e.AmountSat
		if m := n.miner(e.MinerID); m.Address == "" {
			m.Address = e.Address
		}
	case events.FeeCredited:
		n := l.Network(e.Network)
		n.applyBlock(e.BlockHash, e)
		n.Balances[e.AccountID] += e.AmountSat
	case events.BlockOrphaned:
		n := l.Network(e.Network)
		b := n.applyBlock(e.Hash, e)
		if !e.AfterMaturity && b.Round != nil && b.Round.Scheme == events.SchemePROP {
			n.Carry = append(n.Carry, *b.Round)
		}
	case events.CreditReversed:
		n := l.Network(e.Network)
		n.applyBlock(e.BlockHash, e)
		n.Balances[e.AccountID] -= e.AmountSat
	case events.PayoutPlanned:
		n := l.Network(e.Network)
		p := Payout{}.Apply(e)
		n.Payouts[e.PayoutID] = &p
		n.Unsettled[e.PayoutID] = true
		n.PayoutCount++
		for _, it := range e.Items {
			n.Balances[it.MinerID] -= it.AmountSat
		}
	case events.PayoutSent:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
			for _, it := range p.Items {
				n.Paid[it.MinerID] += it.AmountSat
			}
		}
		delete(n.Unsettled, e.PayoutID)
	case events.PayoutFailed:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
			for _, it := range p.Items {
				n.Balances[it.MinerID] += it.AmountSat
			}
		}
		delete(n.Unsettled, e.PayoutID)
	case events.PayoutConflicted:
		// The transaction will never pay: what was counted as paid goes
		// back to the balances, to be paid by a later payout.
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok && (p.Status == PayoutSent || p.Status == PayoutConfirmed) {
			*p = p.Apply(e)
			for _, it := range p.Items {
				n.Paid[it.MinerID] -= it.AmountSat
				n.Balances[it.MinerID] += it.AmountSat
			}
		}
	case events.PayoutHalted:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
		}
	case events.PayoutSigned:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
		}
	case events.PayoutTxDead:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
		}
	case events.PayoutCorrected:
		// The payout was recorded as sent in a transaction that does not
		// pay it: nothing was paid, the amounts go back to the balances.
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok && (p.Status == PayoutSent || p.Status == PayoutConfirmed) {
			*p = p.Apply(e)
			for _, it := range p.Items {
				n.Paid[it.MinerID] -= it.AmountSat
				n.Balances[it.MinerID] += it.AmountSat
			}
		}
	case events.PoolInstalled:
		if l.PoolID == uuid.Nil {
			l.PoolID = e.PoolID
		}
	case events.PayoutConfirmed:
		n := l.Network(e.Network)
		if p, ok := n.Payouts[e.PayoutID]; ok {
			*p = p.Apply(e)
		}
	case events.PayoutsPaused:
		n := l.Network(e.Network)
		n.Schedule = n.Schedule.Apply(e)
	case events.PayoutsResumed:
		n := l.Network(e.Network)
		n.Schedule = n.Schedule.Apply(e)
	}
}

// pplnsWindow is the PPLNS window in force: the recorded policy's, else
// the configured one.
func (n *NetworkLedger) pplnsWindow() int {
	if n.Policy != nil && n.Policy.PPLNSWindow > 0 {
		return n.Policy.PPLNSWindow
	}
	return n.window
}

// trimWindow keeps the shares a PPLNS round may still count: a round by
// height counts the last N shares mined at or below its block's height,
// decided when the block matures, so the shares below the lowest pending
// pool block's height are kept until N of them are, with every share
// above it.
func (n *NetworkLedger) trimWindow() []ShareEntry {
	w := n.pplnsWindow()
	low := int64(-1)
	for _, b := range n.Blocks {
		if b.Pending() && b.RoundRule == events.RoundRuleHeight && (low < 0 || b.Height < low) {
			low = b.Height
		}
	}
	if low < 0 {
		return append([]ShareEntry(nil), n.Window[len(n.Window)-w:]...)
	}
	below := 0
	cut := 0
	for i := len(n.Window) - 1; i >= 0; i-- {
		if n.Window[i].MinedHeight <= low {
			below++
			if below == w {
				cut = i
				break
			}
		}
	}
	kept := make([]ShareEntry, 0, len(n.Window)-cut)
	for i, s := range n.Window {
		if i >= cut || s.MinedHeight > low { // a share of a later height stored early is kept too
			kept = append(kept, s)
		}
	}
	return kept
}

func (n *NetworkLedger) miner(id uuid.UUID) *MinerInfo {
	m, ok := n.Miners[id]
	if !ok {
		m = &MinerInfo{}
		n.Miners[id] = m
	}
	return m
}

// applyBlock folds e into a block's state in place. The ledger owns the
// state, so a credit or reversal is appended to its list; PoolBlock.Apply,
// being pure, copies the list each time, which made a block crediting n
// miners cost n²/2 copies. A reader's earlier copy keeps its own length,
// so appending in place never changes what it sees.
func (n *NetworkLedger) applyBlock(hash string, e events.Event) *PoolBlock {
	b, ok := n.Blocks[hash]
	if !ok {
		b = &PoolBlock{}
		n.Blocks[hash] = b
	}
	switch e := e.(type) {
	case events.MinerCredited:
		b.Credits = append(b.Credits, e)
	case events.CreditReversed:
		b.Reversals = append(b.Reversals, e)
	default:
		*b = b.Apply(e)
	}
	return b
}

func (n *NetworkLedger) block(hash string) PoolBlock {
	if b, ok := n.Blocks[hash]; ok {
		return *b
	}
	return PoolBlock{}
}

// Block returns a pool block's state (zero if unknown).
func (n *NetworkLedger) Block(hash string) PoolBlock { return n.block(hash) }

// UnsettledPayouts lists the payouts planned or halted but not settled,
// ordered by id.
func (n *NetworkLedger) UnsettledPayouts() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(n.Unsettled))
	for id := range n.Unsettled {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// FeeFor is the fee a pool block is credited with: the policy in force
// when it was discovered; for a block found before any policy was recorded,
// the policy in force now, else fallback (the configuration).
func (n *NetworkLedger) FeeFor(b *PoolBlock, fallback int64) int64 {
	switch {
	case b.FeeKnown:
		return b.FeeBps
	case n.Policy != nil:
		return n.Policy.FeeBps
	}
	return fallback
}

// PayoutCandidates lists the miners with a positive balance.
func (n *NetworkLedger) PayoutCandidates() []PayoutCandidate {
	fee, carry := events.FeeAccountID(n.Name), events.CarryAccountID(n.Name)
	var out []PayoutCandidate
	for id, bal := range n.Balances {
		if bal <= 0 || id == fee || id == carry {
			continue
		}
		addr := ""
		if m, ok := n.Miners[id]; ok {
			addr = m.Address
		}
		out = append(out, PayoutCandidate{MinerID: id, Address: addr, BalanceSat: bal})
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].MinerID[:], out[j].MinerID[:]) < 0 })
	return out
}

// PayoutID is the id of a network's n-th payout (0-based). Ids are
// sequential so that two backends planning "the next payout" at once write
// the same stream and one of them loses on its expected version.
func PayoutID(network string, n int64) uuid.UUID {
	return uuid.NewSHA1(events.Namespace, fmt.Appendf(nil, "payout:%s:%d", network, n))
}

// PayoutIDFor is the id of an installation's n-th payout of a network:
// two installations (two pool ids) never share one, so neither can take
// the other's wallet send for its own. A store without a pool id (migrated
// by an earlier release and not since) keeps PayoutID.
func PayoutIDFor(poolID uuid.UUID, network string, n int64) uuid.UUID {
	if poolID == uuid.Nil {
		return PayoutID(network, n)
	}
	return uuid.NewSHA1(poolID, fmt.Appendf(nil, "payout:%s:%d", network, n))
}

// RoundID is the id of the round a pool block closes.
func RoundID(network, blockHash string) uuid.UUID {
	return uuid.NewSHA1(events.Namespace, []byte("round:"+network+":"+blockHash))
}

// CloseRound builds the round a newly found pool block pays for, from the
// ledger as folded so far (up to l.Position):
//
//   - PROP: every share accepted since the previous round closed, plus the
//     rounds of blocks orphaned before maturity (CarriedOver).
//   - PPLNS: the last PPLNSWindow accepted shares, whatever round they were in.
//   - SOLO: the finder alone; a block whose finder is not a known miner of
//     the network falls back to PROP.
//
// Shares are weighted by difficulty; the tallies are merged per miner and
// ordered by miner id. The result goes to DecideDiscover.
func (l *Ledger) CloseRound(scheme string, d events.BlockDiscovered, at time.Time) (events.RoundClosed, error) {
	n := l.Network(d.Network)
	r := events.RoundClosed{
		Network: d.Network, RoundID: RoundID(d.Network, d.Hash), BlockHash: d.Hash, Height: d.Height,
		Scheme: scheme, FromPosition: n.LastClose, ToPosition: l.Position, At: at,
	}
	var tallies []events.ShareTally
	add := func(s ShareEntry) {
		tallies = append(tallies, events.ShareTally{MinerID: s.MinerID, Address: s.Address, Shares: 1, Difficulty: s.Difficulty})
	}
	finder, known := n.Miners[d.FinderMinerID]
	if scheme == events.SchemeSOLO && (!known || finder.Address == "") {
		scheme = events.SchemePROP
		r.Scheme = scheme
	}
	switch scheme {
	case events.SchemePROP:
		for _, s := range n.Open {
			add(s)
		}
		for _, c := range n.Carry {
			tallies = append(tallies, c.Shares...)
			r.CarriedOver = append(r.CarriedOver, c.BlockHash)
		}
	case events.SchemePPLNS:
		w := n.Window
		if len(w) > n.window {
			w = w[len(w)-n.window:]
		}
		for _, s := range w {
			add(s)
		}
		if len(w) > 0 {
			r.FromPosition = w[0].Position - 1
		}
	case events.SchemeSOLO:
		tallies = []events.ShareTally{{MinerID: d.FinderMinerID, Address: finder.Address, Shares: 1, Difficulty: 1}}
	default:
		return events.RoundClosed{}, fmt.Errorf("%w: scheme %q", ErrInvalid, scheme)
	}
	merged, err := MergeTallies(tallies)
	if err != nil {
		return events.RoundClosed{}, err
	}
	r.Shares = merged
	r.TotalShares, r.TotalDifficulty, err = RoundTotals(merged)
	if err != nil {
		return events.RoundClosed{}, err
	}
	return r, nil
}
