// Package ledgergen generates a realistic, self-consistent history of ledger
// events (events/ledger.go) for tests and benchmarks: miners and workers
// asking for work, accepted and rejected shares, the chain advancing, pool
// blocks discovered, rounds closed, blocks confirmed, matured (with exact
// credit splits: credits + fee == reward) or orphaned (before maturity, and
// after it with credit reversals), and payouts that are sent and confirmed,
// fail, or halt and get reconciled; plus admin events.
//
// Alongside the envelopes it keeps Expected: the totals an independent,
// obvious computation gives (balances, shares, block and payout states), so
// a projection or an auditor can be checked against them.
//
// The history is deterministic for a Config (Seed included). Envelopes carry
// positions, stream versions and the tamper-evidence chain (events.ChainHash),
// as a store would have written them; Writes groups them for Store.Append.
package ledgergen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"

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
	// ChainBlocks is how many chain blocks the history spans. Default 300.
	ChainBlocks int
	// SharesPerBlock is the mean number of accepted shares per chain block.
	// Default 20.
	SharesPerBlock int
	// PoolBlockEvery: on average one chain block in n is the pool's. Default 5.
	PoolBlockEvery int
	// Maturity in chain blocks (the real chain uses 101). Default 10.
	Maturity int64
	// PayoutEvery: a payout run every n chain blocks. Default 25.
	PayoutEvery int
	// MinPayoutSat is the least balance paid out. Default 10 BBP.
	MinPayoutSat int64
	FeeBps       int64     // pool fee in basis points. Default 100 (1%).
	Start        time.Time // time of the first block. Default 2026-11-01 UTC.
	// Spacing between chain blocks. Default 7 minutes (main).
	Spacing time.Duration
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
	}
	return c
}

// Miner is a generated miner and its expected totals.
type Miner struct {
	ID      uuid.UUID
	Address string
	Workers []string
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

// Expected is what an obviously correct computation of the history gives.
type Expected struct {
	Miners  map[uuid.UUID]*Miner
	Blocks  map[string]*Block
	Payouts map[uuid.UUID]*Payout
	// Pool totals.
	Shares, Rejected, Difficulty  int64
	FeeSat, FeeReversedSat        int64
	CreditedSat, ReversedSat      int64
	PaidSat                       int64 // planned minus failed
	BlocksFound, Matured, Orphans int64
	SharesByDay                   map[time.Time]int64 // pool accepted shares per UTC day
	RejectedByReason              map[string]int64
	ChainHeight                   int64
	PayoutsPaused                 bool
}

// History is a generated event log.
type History struct {
	Config    Config
	Envelopes []events.Envelope
	Expected  Expected
	// Network is Config.Network.
	Network string
}

// ByType counts the envelopes of each type.
func (h *History) ByType() map[string]int {
	m := map[string]int{}
	for _, e := range h.Envelopes {
		m[e.Type]++
	}
	return m
}

// Writes groups the events into appends of up to perAppend events each
// (expected version Any), in log order, for loading a real store: appending
// them in order reproduces the same positions in an empty store. A stream
// is named at most once per append, as stores require.
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

type pendingBlock struct {
	b        *Block
	round    events.RoundClosed
	matureAt int64
	orphan   bool // will leave the chain before maturity
}

type credit struct {
	miner  uuid.UUID
	addr   string
	amount int64
}

type maturedBlock struct {
	b       *Block
	credits []credit
	fee     int64
}

type gen struct {
	cfg      Config
	rng      *rand.Rand
	h        *History
	versions map[string]int64
	prevHash []byte
	now      time.Time
	miners   []*Miner
	// round accumulates accepted shares since the last round closed.
	round      map[uuid.UUID]*events.ShareTally
	roundOrder []uuid.UUID
	roundFrom  uint64
	pending    []*pendingBlock
	matured    []*maturedBlock
	halted     []*Payout
	payouts    int
	reorged    bool
}

// payoutOutcomes is the cycle of payout fates, so that even a short
// history has every kind.
var payoutOutcomes = []string{"confirmed", "failed", "halted", "confirmed", "sent", "confirmed", "failed", "confirmed", "halted", "confirmed"}

// Generate builds a history.
func Generate(cfg Config) *History {
	cfg = cfg.Defaults()
	g := &gen{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		h:        &History{Config: cfg, Network: cfg.Network},
		versions: map[string]int64{},
		round:    map[uuid.UUID]*events.ShareTally{},
	}
	g.h.Expected = Expected{
		Miners: map[uuid.UUID]*Miner{}, Blocks: map[string]*Block{}, Payouts: map[uuid.UUID]*Payout{},
		SharesByDay: map[time.Time]int64{}, RejectedByReason: map[string]int64{},
	}
	g.run()
	return g.h
}

func (g *gen) uuid() uuid.UUID {
	var u uuid.UUID
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

func (g *gen) hex64() string {
	const digits = "0123456789abcdef"
	b := make([]byte, 64)
	for i := 0; i < 64; i += 16 {
		v := g.rng.Uint64()
		for j := 0; j < 16; j++ {
			b[i+j] = digits[v&15]
			v >>= 4
		}
	}
	return string(b)
}

// emit appends one event to the log as the store would have stored it.
func (g *gen) emit(stream string, e events.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("ledgergen: encode %s: %v", e.EventType(), err))
	}
	v, ok := g.versions[stream]
	if !ok {
		v = 0
	}
	g.versions[stream] = v + 1
	env := events.Envelope{
		ID:            g.uuid(),
		Stream:        stream,
		Version:       v,
		Position:      uint64(len(g.h.Envelopes) + 1),
		Type:          e.EventType(),
		SchemaVersion: events.SchemaVersion,
		RecordedAt:    events.Timestamp(g.now),
		Data:          data,
	}
	env.PrevHash = g.prevHash
	env.Hash = events.ChainHash(g.prevHash, env)
	g.prevHash = env.Hash
	g.h.Envelopes = append(g.h.Envelopes, env)
	g.now = g.now.Add(time.Millisecond)
}

var rejectReasons = []string{
	events.RejectHighHash, events.RejectStale, events.RejectDuplicate, events.RejectBibleHashWrong,
	events.RejectUnknownWork, events.RejectNonceTooHigh,
}

func (g *gen) run() {
	cfg, ex := g.cfg, &g.h.Expected
	net, _ := biblepay.LookupNetwork(cfg.Network)
	if net.Name == "" {
		net = biblepay.Networks["main"]
	}
	g.now = cfg.Start
	for i := 0; i < cfg.Miners; i++ {
		var pkh [20]byte
		for j := range pkh {
			pkh[j] = byte(g.rng.UintN(256))
		}
		addr := net.Address(pkh)
		m := &Miner{ID: events.MinerID(cfg.Network, addr), Address: addr}
		for w := 0; w < 1+g.rng.IntN(cfg.WorkersPerMiner); w++ {
			name := biblepay.DefaultWorker
			if w > 0 {
				name = fmt.Sprintf("rig%02d", w)
			}
			m.Workers = append(m.Workers, name)
		}
		g.miners = append(g.miners, m)
		ex.Miners[m.ID] = m
		g.emit(events.StreamMiner(m.ID), events.MinerRegistered{Network: cfg.Network, MinerID: m.ID, Address: addr, At: g.now})
		for _, w := range m.Workers {
			g.emit(events.StreamMiner(m.ID), events.WorkerRegistered{Network: cfg.Network, MinerID: m.ID, Worker: w, At: g.now})
		}
	}
	height := int64(100000)
	for b := 0; b < cfg.ChainBlocks; b++ {
		blockStart := cfg.Start.Add(time.Duration(b) * cfg.Spacing)
		if g.now.Before(blockStart) {
			g.now = blockStart
		}
		g.shares(height)
		g.admin()
		height++
		hash := g.hex64()
		g.emit(events.StreamChain(cfg.Network), events.ChainBlockRecorded{Network: cfg.Network, Height: height, Hash: hash, Time: g.now})
		ex.ChainHeight = height
		if g.rng.IntN(cfg.PoolBlockEvery) == 0 && len(g.roundOrder) > 0 {
			g.discover(height, hash)
		}
		g.advance(height)
		if (b+1)%cfg.PayoutEvery == 0 {
			g.payout()
		}
	}
}

func (g *gen) shares(height int64) {
	cfg, ex := g.cfg, &g.h.Expected
	n := g.rng.IntN(2*cfg.SharesPerBlock + 1)
	for i := 0; i < n; i++ {
		m := g.miners[g.rng.IntN(len(g.miners))]
		if m.Disabled {
			continue
		}
		worker := m.Workers[g.rng.IntN(len(m.Workers))]
		diff := int64(1000 + g.rng.IntN(9000))
		target := biblepay.TargetForDifficulty(diff)
		workID := g.uuid()
		g.emit(events.StreamWork(workID), events.WorkIssued{Network: cfg.Network, WorkID: workID, MinerID: m.ID, Address: m.Address,
			Worker: worker, Target: target, ThreadID: g.rng.IntN(8), Agent: "1.1.4.1", OS: "LIN", At: g.now})
		solID := g.uuid()
		day := time.Date(g.now.Year(), g.now.Month(), g.now.Day(), 0, 0, 0, 0, time.UTC)
		if g.rng.IntN(20) == 0 {
			reason := rejectReasons[g.rng.IntN(len(rejectReasons))]
			g.emit(events.StreamSolution(solID), events.SolutionRejected{Network: cfg.Network, SolutionID: solID, WorkID: workID,
				MinerID: m.ID, Address: m.Address, Worker: worker, BibleHash: g.hex64(), Reason: reason, Detail: "generated", At: g.now})
			m.Rejected++
			ex.Rejected++
			ex.RejectedByReason[reason]++
			continue
		}
		bible := g.hex64()
		g.emit(events.StreamSolution(solID), events.SolutionAccepted{Network: cfg.Network, SolutionID: solID, WorkID: workID,
			MinerID: m.ID, Address: m.Address, Worker: worker, BlockHash: g.hex64(), BibleHash: bible, PrevHeight: height,
			Nonce: g.rng.Uint32(), Target: target, Difficulty: diff, HashrateHPS: int64(50 + g.rng.IntN(500)), At: g.now})
		pos := uint64(len(g.h.Envelopes))
		g.emit(events.StreamBibleHash(cfg.Network, bible), events.BibleHashReserved{Network: cfg.Network, BibleHash: bible, SolutionID: solID})
		m.Shares++
		m.Difficulty += diff
		ex.Shares++
		ex.Difficulty += diff
		ex.SharesByDay[day]++
		t, ok := g.round[m.ID]
		if !ok {
			t = &events.ShareTally{MinerID: m.ID, Address: m.Address}
			g.round[m.ID] = t
			g.roundOrder = append(g.roundOrder, m.ID)
		}
		t.Shares++
		t.Difficulty += diff
		_ = pos
	}
}

func (g *gen) admin() {
	cfg, ex := g.cfg, &g.h.Expected
	switch g.rng.IntN(200) {
	case 0:
		m := g.miners[g.rng.IntN(len(g.miners))]
		if m.Disabled {
			g.emit(events.StreamMiner(m.ID), events.MinerEnabled{Network: cfg.Network, MinerID: m.ID, At: g.now})
		} else {
			g.emit(events.StreamMiner(m.ID), events.MinerDisabled{Network: cfg.Network, MinerID: m.ID, Reason: "generated abuse", At: g.now})
		}
		m.Disabled = !m.Disabled
	case 1:
		m := g.miners[g.rng.IntN(len(g.miners))]
		g.emit(events.StreamMiner(m.ID), events.MinerTargetChanged{Network: cfg.Network, MinerID: m.ID,
			Target: biblepay.TargetForDifficulty(int64(2000 + g.rng.IntN(8000))), Reason: "vardiff", At: g.now})
	case 2:
		if ex.PayoutsPaused {
			g.emit(events.StreamPayoutSchedule(cfg.Network), events.PayoutsResumed{Network: cfg.Network, At: g.now})
		} else {
			g.emit(events.StreamPayoutSchedule(cfg.Network), events.PayoutsPaused{Network: cfg.Network, Reason: "maintenance", At: g.now})
		}
		ex.PayoutsPaused = !ex.PayoutsPaused
	}
}

func (g *gen) discover(height int64, hash string) {
	cfg, ex := g.cfg, &g.h.Expected
	finder := g.roundOrder[g.rng.IntN(len(g.roundOrder))]
	reward := int64(5000+g.rng.IntN(15000))*biblepay.Coin + int64(g.rng.IntN(int(biblepay.Coin)))
	b := &Block{Hash: hash, Height: height, RewardSat: reward, Status: "pending", Finder: finder}
	ex.Blocks[hash] = b
	ex.BlocksFound++
	stream := events.StreamBlock(cfg.Network, hash)
	g.emit(stream, events.BlockDiscovered{Network: cfg.Network, Height: height, Hash: hash, FinderMinerID: finder,
		Recipient: "pool", RewardSat: reward, BlockTime: g.now, At: g.now})
	rc := events.RoundClosed{Network: cfg.Network, RoundID: g.uuid(), BlockHash: hash, Height: height, Scheme: events.SchemePROP,
		FromPosition: g.roundFrom, ToPosition: uint64(len(g.h.Envelopes)), At: g.now}
	for _, id := range g.roundOrder {
		t := g.round[id]
		rc.Shares = append(rc.Shares, *t)
		rc.TotalShares += t.Shares
		rc.TotalDifficulty += t.Difficulty
	}
	g.emit(stream, rc)
	b.RoundShares = rc.TotalShares
	g.roundFrom = rc.ToPosition
	g.round = map[uuid.UUID]*events.ShareTally{}
	g.roundOrder = nil
	g.pending = append(g.pending, &pendingBlock{b: b, round: rc, matureAt: height + g.cfg.Maturity, orphan: g.rng.IntN(15) == 0})
}

// advance confirms, matures or orphans pending blocks and now and then
// orphans a matured one.
func (g *gen) advance(height int64) {
	cfg, ex := g.cfg, &g.h.Expected
	var still []*pendingBlock
	for _, p := range g.pending {
		stream := events.StreamBlock(cfg.Network, p.b.Hash)
		conf := height - p.b.Height + 1
		switch {
		case p.orphan && conf >= 3:
			g.emit(stream, events.BlockOrphaned{Network: cfg.Network, Hash: p.b.Hash, Height: p.b.Height, ReplacedBy: g.hex64(), At: g.now})
			p.b.Status = "orphaned"
			ex.Orphans++
		case height >= p.matureAt:
			g.mature(p, conf)
		default:
			if conf%3 == 0 {
				g.emit(stream, events.BlockConfirmed{Network: cfg.Network, Hash: p.b.Hash, Height: p.b.Height, Confirmations: conf, At: g.now})
				p.b.Confirmations = conf
			}
			still = append(still, p)
		}
	}
	g.pending = still
	// Now and then a matured block leaves the chain; the first time early,
	// so that even a short history has credit reversals.
	if len(g.matured) >= 3 && (!g.reorged || g.rng.IntN(60) == 0) {
		g.reorged = true
		i := g.rng.IntN(len(g.matured))
		mb := g.matured[i]
		g.matured = append(g.matured[:i], g.matured[i+1:]...)
		g.orphanAfterMaturity(mb)
	}
}

func (g *gen) mature(p *pendingBlock, conf int64) {
	cfg, ex := g.cfg, &g.h.Expected
	stream := events.StreamBlock(cfg.Network, p.b.Hash)
	g.emit(stream, events.BlockMatured{Network: cfg.Network, Hash: p.b.Hash, Height: p.b.Height, RewardSat: p.b.RewardSat, Confirmations: conf, At: g.now})
	p.b.Status = "matured"
	p.b.Confirmations = conf
	ex.Matured++
	fee := p.b.RewardSat * cfg.FeeBps / 10000
	dist := p.b.RewardSat - fee
	mb := &maturedBlock{b: p.b}
	var paid int64
	for _, t := range p.round.Shares {
		amount := dist * t.Difficulty / p.round.TotalDifficulty // no overflow: < 2e12 * 1e5
		paid += amount
		m := ex.Miners[t.MinerID]
		g.emit(stream, events.MinerCredited{Network: cfg.Network, MinerID: t.MinerID, Address: t.Address, BlockHash: p.b.Hash,
			Height: p.b.Height, RoundID: p.round.RoundID, RewardSat: p.b.RewardSat, FeeSat: fee, RoundShares: p.round.TotalShares,
			RoundDifficulty: p.round.TotalDifficulty, MinerShares: t.Shares, MinerDifficulty: t.Difficulty, AmountSat: amount, At: g.now})
		m.CreditedSat += amount
		m.BalanceSat += amount
		ex.CreditedSat += amount
		p.b.CreditedSat += amount
		mb.credits = append(mb.credits, credit{miner: t.MinerID, addr: t.Address, amount: amount})
	}
	fee += dist - paid // rounding dust goes to the pool: credits + fee == reward
	g.emit(stream, events.FeeCredited{Network: cfg.Network, AccountID: events.FeeAccountID(cfg.Network), BlockHash: p.b.Hash,
		Height: p.b.Height, FeeBps: cfg.FeeBps, AmountSat: fee, At: g.now})
	ex.FeeSat += fee
	p.b.FeeSat = fee
	mb.fee = fee
	g.matured = append(g.matured, mb)
}

func (g *gen) orphanAfterMaturity(mb *maturedBlock) {
	cfg, ex := g.cfg, &g.h.Expected
	stream := events.StreamBlock(cfg.Network, mb.b.Hash)
	g.emit(stream, events.BlockOrphaned{Network: cfg.Network, Hash: mb.b.Hash, Height: mb.b.Height, ReplacedBy: g.hex64(), AfterMaturity: true, At: g.now})
	mb.b.Status = "orphaned"
	ex.Orphans++
	for _, c := range mb.credits {
		g.emit(stream, events.CreditReversed{Network: cfg.Network, AccountID: c.miner, Address: c.addr, BlockHash: mb.b.Hash,
			AmountSat: c.amount, Reason: "orphaned after maturity", At: g.now})
		m := ex.Miners[c.miner]
		m.ReversedSat += c.amount
		m.BalanceSat -= c.amount
		ex.ReversedSat += c.amount
	}
	g.emit(stream, events.CreditReversed{Network: cfg.Network, AccountID: events.FeeAccountID(cfg.Network), BlockHash: mb.b.Hash,
		AmountSat: mb.fee, Fee: true, Reason: "orphaned after maturity", At: g.now})
	ex.FeeReversedSat += mb.fee
}

func (g *gen) payout() {
	cfg, ex := g.cfg, &g.h.Expected
	// Settle earlier halted payouts first, as the backend would.
	for _, p := range g.halted {
		stream := events.StreamPayout(p.ID)
		p.TxID = g.hex64()
		g.emit(stream, events.PayoutSent{Network: cfg.Network, PayoutID: p.ID, TxID: p.TxID, FeeSat: 2260, Reconciled: true, At: g.now})
		p.Status = "sent"
	}
	g.halted = nil
	if ex.PayoutsPaused {
		// The operator resumes after one skipped run.
		g.emit(events.StreamPayoutSchedule(cfg.Network), events.PayoutsResumed{Network: cfg.Network, At: g.now})
		ex.PayoutsPaused = false
		return
	}
	ids := make([]uuid.UUID, 0, len(ex.Miners))
	for id := range ex.Miners {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ex.Miners[ids[i]].Address < ex.Miners[ids[j]].Address })
	p := &Payout{ID: g.uuid(), Status: "planned"}
	for _, id := range ids {
		m := ex.Miners[id]
		if m.BalanceSat >= cfg.MinPayoutSat {
			p.Items = append(p.Items, events.PayoutItem{MinerID: id, Address: m.Address, AmountSat: m.BalanceSat})
			p.TotalSat += m.BalanceSat
		}
	}
	if len(p.Items) == 0 {
		return
	}
	ex.Payouts[p.ID] = p
	stream := events.StreamPayout(p.ID)
	g.emit(stream, events.PayoutPlanned{Network: cfg.Network, PayoutID: p.ID, Items: p.Items, TotalSat: p.TotalSat, At: g.now})
	for _, it := range p.Items {
		m := ex.Miners[it.MinerID]
		m.PaidSat += it.AmountSat
		m.BalanceSat -= it.AmountSat
	}
	ex.PaidSat += p.TotalSat
	outcome := payoutOutcomes[g.payouts%len(payoutOutcomes)]
	g.payouts++
	switch outcome {
	case "confirmed", "sent":
		p.TxID = g.hex64()
		g.emit(stream, events.PayoutSent{Network: cfg.Network, PayoutID: p.ID, TxID: p.TxID, FeeSat: 2260, At: g.now})
		p.Status = "sent"
		if outcome == "confirmed" {
			g.emit(stream, events.PayoutConfirmed{Network: cfg.Network, PayoutID: p.ID, TxID: p.TxID, Confirmations: 6, At: g.now})
			p.Status = "confirmed"
		}
	case "failed":
		g.emit(stream, events.PayoutFailed{Network: cfg.Network, PayoutID: p.ID, Reason: "insufficient funds", At: g.now})
		p.Status = "failed"
		for _, it := range p.Items {
			m := ex.Miners[it.MinerID]
			m.PaidSat -= it.AmountSat
			m.BalanceSat += it.AmountSat
		}
		ex.PaidSat -= p.TotalSat
	default:
		g.emit(stream, events.PayoutHalted{Network: cfg.Network, PayoutID: p.ID, Reason: "send timed out", At: g.now})
		p.Status = "halted"
		g.halted = append(g.halted, p)
	}
}
