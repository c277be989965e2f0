// Package audittest generates event logs for testing and benchmarking the
// auditor: histories decided by the backend's own rules (the aggregates
// package: DecideIssueWork, Ledger.CloseRound, DecideDiscover, DecideConfirm,
// DecideMature with its exact Split, DecideOrphan, DecidePlanPayout and the
// payout decisions), so that a correct history passes the audit, and the
// same histories with exactly one kind of violation injected.
//
// A history holds miners and workers asking for work, accepted and rejected
// shares, the chain advancing, pool blocks found and their rounds closed,
// confirmations, maturity with credits, one block orphaned before maturity
// (its round carried into the next) and one late reorganisation that
// orphans a matured block and reverses its credits, and payouts that are
// sent and confirmed, fail, or halt and get reconciled.
//
// internal/ledgergen (the projections' generator) is not used here: it
// splits rewards by its own rounding rule rather than aggregates.Split, and
// its late orphans may reverse credits already paid out, so its histories do
// not pass the audit's split and negative-balance checks.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// Injection is one kind of violation a history can carry.
type Injection string

// The violations the generator can inject, each once.
const (
	None               Injection = ""
	OverCredit         Injection = "over_credit"          // a credit 1 sat too large: credits + fee > reward
	SplitShift         Injection = "split_shift"          // 1 sat moved between two miners' credits
	RewardMismatch     Injection = "reward_mismatch"      // matured with another reward than discovered
	CreditAfterOrphan  Injection = "credit_after_orphan"  // a credit for a block orphaned before maturity
	UnreversedCredit   Injection = "unreversed_credit"    // the late reorg forgets one reversal
	ReorgWithoutOrphan Injection = "reorg_without_orphan" // the chain replaces a credited block, nothing reversed
	OverReversal       Injection = "over_reversal"        // a reversal larger than the credit
	OverPayout         Injection = "over_payout"          // a payout item 1 sat above the balance
	UnknownWork        Injection = "unknown_work"         // an accepted solution names no issued work
	WorkOfOtherMiner   Injection = "work_of_other_miner"  // an accepted solution on another miner's work
	DuplicateBibleHash Injection = "duplicate_bible_hash" // a bible hash accepted twice
	PayoutWithoutTxID  Injection = "payout_without_txid"  // a payout sent with no transaction id
	TxIDReused         Injection = "txid_reused"          // two payouts name one transaction
	PayoutTotal        Injection = "payout_total"         // a payout's total is not the sum of its items
	SentAfterFailed    Injection = "sent_after_failed"    // a failed payout later recorded as sent
	WrongStream        Injection = "wrong_stream"         // an event stored in another stream
)

// Injections lists every injection.
var Injections = []Injection{
	OverCredit, SplitShift, RewardMismatch, CreditAfterOrphan, UnreversedCredit, ReorgWithoutOrphan, OverReversal,
	OverPayout, UnknownWork, WorkOfOtherMiner, DuplicateBibleHash, PayoutWithoutTxID, TxIDReused, PayoutTotal,
	SentAfterFailed, WrongStream,
}

// Config shapes a history. Zero fields take defaults.
type Config struct {
	Seed    uint64
	Network string // default "test"
	Miners  int    // default 8
	// ChainBlocks the history spans (default 120); with Events set, the
	// history instead grows until it holds at least Events events.
	ChainBlocks int
	Events      int
	// SharesPerBlock is the mean number of shares per chain block (default 8).
	SharesPerBlock int
	// PoolBlockEvery: about one chain block in n is the pool's (default 3).
	PoolBlockEvery int
	Maturity       int64 // confirmations to maturity (default 6)
	PayoutEvery    int   // chain blocks between payout runs (default 10)
	MinPayoutSat   int64 // default 1 BBP
	FeeBps         int64 // default 150
	Inject         Injection
	Start          time.Time // default 2026-11-01 UTC
	// Send, if set, really sends each payout the history records as sent
	// (e.g. through a simulated node's wallet) and returns its transaction
	// id and network fee; by default both are made up.
	Send func(network string, items []events.PayoutItem) (txid string, feeSat int64, err error)
}

func (c Config) withDefaults() Config {
	if c.Network == "" {
		c.Network = "test"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Miners, 8)
	def(&c.ChainBlocks, 120)
	def(&c.SharesPerBlock, 8)
	def(&c.PoolBlockEvery, 3)
	def(&c.PayoutEvery, 10)
	if c.Maturity <= 0 {
		c.Maturity = 6
	}
	if c.MinPayoutSat <= 0 {
		c.MinPayoutSat = biblepay.Coin
	}
	if c.FeeBps <= 0 {
		c.FeeBps = 150
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	return c
}

// Miner is a generated miner.
type Miner struct {
	ID      uuid.UUID
	Address string
	Workers []string
}

// History is a generated event log.
type History struct {
	Config Config
	Miners []Miner
	// Envelopes carry positions, versions and the hash chain as a store
	// would have written them.
	Envelopes []events.Envelope
	// Appends groups the log into the atomic writes the backend made
	// (expected version Any), in order: appending them to an empty store
	// reproduces the positions.
	Appends [][]events.StreamWrite
	// Injected tells whether the injection found its opportunity.
	Injected bool
	// Ledger is the backend's fold of the whole history.
	Ledger *aggregates.Ledger
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

// AppendTo writes the history to a store, one append per backend decision,
// batched up to perAppend events (0: as decided).
func (h *History) AppendTo(ctx context.Context, s events.Store, perAppend int) error {
	var batch []events.StreamWrite
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// A stream may appear once per append: merge consecutive writes.
		merged := make([]events.StreamWrite, 0, len(batch))
		idx := map[string]int{}
		for _, w := range batch {
			if i, ok := idx[w.Stream]; ok {
				merged[i].Events = append(merged[i].Events, w.Events...)
				continue
			}
			idx[w.Stream] = len(merged)
			merged = append(merged, events.StreamWrite{Stream: w.Stream, Expected: events.Any, Events: append([]events.NewEvent(nil), w.Events...)})
		}
		if _, err := s.Append(ctx, merged...); err != nil {
			return err
		}
		batch, n = nil, 0
		return nil
	}
	for _, ap := range h.Appends {
		// Merging reorders events across streams, so only decisions whose
		// streams are all new to the batch join it.
		if perAppend > 0 && n > 0 && (n+countEvents(ap) > perAppend || sharesStream(batch, ap)) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, ap...)
		n += countEvents(ap)
		if perAppend <= 0 {
			if err := flush(); err != nil {
				return err
			}
		}
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

func sharesStream(batch, next []events.StreamWrite) bool {
	for _, a := range batch {
		for _, b := range next {
			if a.Stream == b.Stream {
				return true
			}
		}
	}
	return false
}

type gen struct {
	cfg        Config
	net        biblepay.Network
	rng        *rand.Rand
	h          *History
	ledger     *aggregates.Ledger
	versions   map[string]int64
	prevHash   []byte
	now        time.Time
	height     int64
	miners     []aggregates.Miner // state of each miner's stream, for DecideIssueWork
	minerIndex map[uuid.UUID]int
	works      []events.WorkIssued // recent work, for injections
	bible      []string            // accepted bible hashes
	pending    []string            // discovered, not matured or orphaned
	matured    []string
	orphanAt   string // the block to orphan before maturity
	reorged    bool
	halted     []uuid.UUID
	lastTxID   string
	failedID   uuid.UUID
	payouts    int
	done       map[Injection]bool
}

// Generate builds a history.
func Generate(cfg Config) *History {
	cfg = cfg.withDefaults()
	net, ok := biblepay.LookupNetwork(cfg.Network)
	if !ok {
		panic(fmt.Sprintf("audittest: unknown network %q", cfg.Network))
	}
	g := &gen{
		cfg: cfg, net: net,
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5deece66d)),
		h:          &History{Config: cfg},
		ledger:     aggregates.NewLedger(aggregates.LedgerConfig{}),
		versions:   map[string]int64{},
		now:        cfg.Start,
		height:     1000,
		done:       map[Injection]bool{},
		minerIndex: map[uuid.UUID]int{},
	}
	g.h.Ledger = g.ledger
	for range cfg.Miners {
		var pkh [20]byte
		for j := range pkh {
			pkh[j] = byte(g.rng.UintN(256))
		}
		addr := net.Address(pkh)
		m := Miner{ID: events.MinerID(cfg.Network, addr), Address: addr, Workers: []string{biblepay.DefaultWorker}}
		for w := 1; w < 1+g.rng.IntN(3); w++ {
			m.Workers = append(m.Workers, fmt.Sprintf("rig%02d", w))
		}
		g.minerIndex[m.ID] = len(g.h.Miners)
		g.h.Miners = append(g.h.Miners, m)
		g.miners = append(g.miners, aggregates.Miner{})
	}
	for b := 0; ; b++ {
		if cfg.Events > 0 {
			if len(g.h.Envelopes) >= cfg.Events {
				break
			}
		} else if b >= cfg.ChainBlocks {
			break
		}
		g.block(b)
	}
	g.h.Injected = cfg.Inject == None || g.done[cfg.Inject]
	return g.h
}

// inject reports whether the configured injection is kind and has not
// happened yet, and marks it done.
func (g *gen) inject(kind Injection) bool {
	if g.cfg.Inject != kind || g.done[kind] {
		return false
	}
	g.done[kind] = true
	return true
}

func (g *gen) uuid() uuid.UUID {
	var u uuid.UUID
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
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
		for j := range 16 {
			b[i+j] = digits[v&15]
			v >>= 4
		}
	}
	return string(b)
}

// emit stores one decision's events atomically: each in the stream
// aggregates.StreamFor names (or stream, when given, for WrongStream).
func (g *gen) emit(evs ...events.Event) { g.emitIn("", evs...) }

func (g *gen) emitIn(stream string, evs ...events.Event) {
	if len(evs) == 0 {
		return
	}
	var ap []events.StreamWrite
	for _, e := range evs {
		s := stream
		if s == "" {
			s = aggregates.StreamFor(e)
		}
		data, err := json.Marshal(e)
		if err != nil {
			panic(fmt.Sprintf("audittest: encode %s: %v", e.EventType(), err))
		}
		ne := events.NewEvent{ID: g.uuid(), Type: e.EventType(), SchemaVersion: events.SchemaVersion, Data: data}
		v := g.versions[s]
		g.versions[s] = v + 1
		env := events.Envelope{
			ID: ne.ID, Stream: s, Version: v, Position: uint64(len(g.h.Envelopes) + 1), Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, RecordedAt: events.Timestamp(g.now), Data: data, PrevHash: g.prevHash,
		}
		env.Hash = events.ChainHash(env.PrevHash, env)
		g.prevHash = env.Hash
		g.h.Envelopes = append(g.h.Envelopes, env)
		if err := g.ledger.Apply(env); err != nil {
			panic(fmt.Sprintf("audittest: fold: %v", err))
		}
		if i, ok := g.minerIndex[minerOf(e)]; ok {
			g.miners[i] = g.miners[i].Apply(e)
		}
		if n := len(ap); n > 0 && ap[n-1].Stream == s {
			ap[n-1].Events = append(ap[n-1].Events, ne)
		} else {
			ap = append(ap, events.StreamWrite{Stream: s, Expected: events.Any, Events: []events.NewEvent{ne}})
		}
	}
	g.h.Appends = append(g.h.Appends, ap)
	g.now = g.now.Add(time.Millisecond)
}

// minerOf is the miner whose stream e belongs to (uuid.Nil: none).
func minerOf(e events.Event) uuid.UUID {
	switch e := e.(type) {
	case events.MinerRegistered:
		return e.MinerID
	case events.WorkerRegistered:
		return e.MinerID
	case events.MinerDisabled:
		return e.MinerID
	case events.MinerEnabled:
		return e.MinerID
	case events.MinerTargetChanged:
		return e.MinerID
	}
	return uuid.Nil
}

func must2[T, U any](t T, u U, err error) (T, U) {
	if err != nil {
		panic(fmt.Sprintf("audittest: send: %v", err))
	}
	return t, u
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("audittest: a decision failed: %v", err))
	}
	return v
}

func (g *gen) network() *aggregates.NetworkLedger { return g.ledger.Network(g.cfg.Network) }

func (g *gen) block(b int) {
	blockStart := g.cfg.Start.Add(time.Duration(b) * g.net.BlockSpacing)
	if g.now.Before(blockStart) {
		g.now = blockStart
	}
	g.shares()
	g.height++
	hash := g.hex64()
	g.emit(events.ChainBlockRecorded{Network: g.cfg.Network, Height: g.height, Hash: hash, Time: g.now})
	if g.rng.IntN(g.cfg.PoolBlockEvery) == 0 && len(g.network().Open) > 0 {
		g.discover(hash)
	}
	g.advance()
	if (b+1)%g.cfg.PayoutEvery == 0 {
		g.payout()
	}
	// After a third of the history, now and then, a matured block whose
	// credits its miners still hold leaves the chain: a late reorganisation.
	if !g.reorged && b > g.cfg.ChainBlocks/3 && (g.cfg.Events == 0 || len(g.h.Envelopes) > g.cfg.Events/3) {
		g.lateReorg()
	}
}

func (g *gen) shares() {
	cfg := g.cfg
	n := g.rng.IntN(2*cfg.SharesPerBlock + 1)
	for range n {
		i := g.rng.IntN(len(g.h.Miners))
		m := g.h.Miners[i]
		worker := m.Workers[g.rng.IntN(len(m.Workers))]
		target := biblepay.TargetForDifficulty(int64(1000 + g.rng.IntN(9000)))
		diff := must(biblepay.Difficulty(target))
		workID := g.uuid()
		evs := must(aggregates.DecideIssueWork(g.miners[i], commands.IssueWork{
			ID: g.uuid(), Network: cfg.Network, MinerID: m.ID, Address: m.Address, Worker: worker, WorkID: workID,
			Target: target, ThreadID: g.rng.IntN(8), Agent: "1.1.4.1", OS: "LIN", IssuedAt: g.now,
		}))
		g.emit(evs...)
		work := evs[len(evs)-1].(events.WorkIssued)
		g.works = append(g.works[max(0, len(g.works)-63):], work)
		solID := g.uuid()
		if g.rng.IntN(15) == 0 {
			g.emit(events.SolutionRejected{Network: cfg.Network, SolutionID: solID, WorkID: workID, MinerID: m.ID,
				Address: m.Address, Worker: worker, BibleHash: g.hex64(), Reason: events.RejectHighHash, Detail: "generated", At: g.now})
			continue
		}
		bible := g.hex64()
		acc := events.SolutionAccepted{Network: cfg.Network, SolutionID: solID, WorkID: workID, MinerID: m.ID,
			Address: m.Address, Worker: worker, BlockHash: g.hex64(), BibleHash: bible, PrevHeight: g.height,
			Nonce: g.rng.Uint32(), Target: target, Difficulty: diff, HashrateHPS: int64(100 + g.rng.IntN(900)), At: g.now}
		switch {
		case len(g.bible) > 10 && g.inject(DuplicateBibleHash):
			acc.BibleHash = g.bible[0]
			g.emit(acc) // the reservation stream already exists: no second reservation
			continue
		case g.inject(UnknownWork):
			acc.WorkID = g.uuid()
		case len(g.works) > 1 && g.works[0].MinerID != m.ID && g.inject(WorkOfOtherMiner):
			acc.WorkID = g.works[0].WorkID
		}
		g.bible = append(g.bible[:min(len(g.bible), 16)], bible)
		g.emit(acc, events.BibleHashReserved{Network: cfg.Network, BibleHash: bible, SolutionID: solID})
	}
}

func (g *gen) discover(hash string) {
	cfg := g.cfg
	open := g.network().Open
	finder := open[g.rng.IntN(len(open))].MinerID
	reward := int64(5000+g.rng.IntN(15000))*biblepay.Coin + g.rng.Int64N(biblepay.Coin)
	d := events.BlockDiscovered{Network: cfg.Network, Height: g.height, Hash: hash, FinderMinerID: finder,
		Recipient: "pool", RewardSat: reward, BlockTime: g.now, At: g.now}
	r := must(g.ledger.CloseRound(events.SchemePROP, d, g.now))
	g.emit(must(aggregates.DecideDiscover(g.network().Block(hash), d, r))...)
	g.pending = append(g.pending, hash)
	if g.orphanAt == "" && len(g.matured) > 0 {
		g.orphanAt = hash // the first block found once crediting began will be orphaned young
	}
}

// advance confirms, matures or orphans the pending pool blocks.
func (g *gen) advance() {
	cfg := g.cfg
	var still []string
	for _, hash := range g.pending {
		b := g.network().Block(hash)
		conf := g.height - b.Height + 1
		if hash == g.orphanAt && conf >= 3 {
			replaced := g.hex64()
			g.emit(events.ChainBlockRecorded{Network: cfg.Network, Height: b.Height, Hash: replaced, Time: g.now})
			g.emit(must(aggregates.DecideOrphan(b, replaced, g.now))...)
			if g.inject(CreditAfterOrphan) && b.Round != nil && len(b.Round.Shares) > 0 {
				t := b.Round.Shares[0]
				g.emit(events.MinerCredited{Network: cfg.Network, MinerID: t.MinerID, Address: t.Address, BlockHash: hash,
					Height: b.Height, RewardSat: b.RewardSat, AmountSat: biblepay.Coin, At: g.now})
			}
			continue
		}
		if conf >= cfg.Maturity {
			g.mature(b, conf)
			continue
		}
		g.emit(must(aggregates.DecideConfirm(b, conf, 2, g.now))...)
		still = append(still, hash)
	}
	g.pending = still
}

func (g *gen) mature(b aggregates.PoolBlock, conf int64) {
	evs := must(aggregates.DecideMature(b, conf, aggregates.MaturityPolicy{Maturity: g.cfg.Maturity, FeeBps: g.cfg.FeeBps}, g.now))
	var credits []int
	for i, e := range evs {
		if _, ok := e.(events.MinerCredited); ok {
			credits = append(credits, i)
		}
	}
	switch {
	case len(credits) > 0 && g.inject(OverCredit):
		c := evs[credits[0]].(events.MinerCredited)
		c.AmountSat++
		evs[credits[0]] = c
	case len(credits) > 1 && g.inject(SplitShift):
		c0, c1 := evs[credits[0]].(events.MinerCredited), evs[credits[1]].(events.MinerCredited)
		c0.AmountSat++
		c1.AmountSat--
		evs[credits[0]], evs[credits[1]] = c0, c1
	case g.inject(RewardMismatch):
		// Matured and split as if the coinbase paid 1 BBP more than it did.
		b.RewardSat += biblepay.Coin
		evs = must(aggregates.DecideMature(b, conf, aggregates.MaturityPolicy{Maturity: g.cfg.Maturity, FeeBps: g.cfg.FeeBps}, g.now))
	}
	g.emit(evs...)
	g.matured = append(g.matured, b.Hash)
}

// lateReorg orphans a matured block whose credits every miner still holds
// in full (so no balance goes negative), reversing them.
func (g *gen) lateReorg() {
	n := g.network()
	for i := len(g.matured) - 1; i >= 0; i-- {
		b := n.Block(g.matured[i])
		if b.Orphaned || len(b.Credits) == 0 {
			continue
		}
		covered := true
		for _, c := range b.Credits {
			if n.Balances[c.MinerID] < c.AmountSat {
				covered = false
			}
		}
		if b.Fee != nil && n.Balances[b.Fee.AccountID] < b.Fee.AmountSat {
			covered = false
		}
		if !covered {
			continue
		}
		g.reorged = true
		replaced := g.hex64()
		g.emit(events.ChainBlockRecorded{Network: g.cfg.Network, Height: b.Height, Hash: replaced, Time: g.now})
		if g.inject(ReorgWithoutOrphan) {
			return
		}
		evs := must(aggregates.DecideOrphan(b, replaced, g.now))
		switch {
		case g.inject(UnreversedCredit):
			evs = append(evs[:1], evs[2:]...) // drop the first miner's reversal
		case g.inject(OverReversal):
			r := evs[1].(events.CreditReversed)
			r.AmountSat++
			evs[1] = r
		}
		g.emit(evs...)
		return
	}
}

var outcomes = []string{"confirmed", "failed", "halted", "confirmed", "sent"}

func (g *gen) payout() {
	cfg := g.cfg
	n := g.network()
	for _, id := range g.halted { // reconcile: the wallet shows the send went out
		p := *n.Payouts[id]
		txid, fee := g.hex64(), 2260*int64(len(p.Items))
		if cfg.Send != nil {
			txid, fee = must2(cfg.Send(cfg.Network, p.Items))
		}
		evs := must(aggregates.DecidePayoutSent(p, txid, fee, true, g.now))
		g.emit(evs...)
		g.lastTxID = evs[0].(events.PayoutSent).TxID
	}
	g.halted = nil
	id := aggregates.PayoutID(cfg.Network, n.PayoutCount)
	evs, err := aggregates.DecidePlanPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(),
		aggregates.PayoutPolicy{MinPayoutSat: cfg.MinPayoutSat, MaxRecipients: 5}, id, g.now)
	if err != nil {
		return // nothing to pay
	}
	plan := evs[0].(events.PayoutPlanned)
	switch {
	case g.inject(OverPayout):
		plan.Items[0].AmountSat++
		plan.TotalSat++
	case g.inject(PayoutTotal):
		plan.TotalSat += 7
	}
	g.emit(plan)
	p := *n.Payouts[id]
	outcome := outcomes[g.payouts%len(outcomes)]
	g.payouts++
	fee := 2260 * int64(len(plan.Items))
	switch outcome {
	case "confirmed", "sent":
		txid := g.hex64()
		if cfg.Send != nil {
			txid, fee = must2(cfg.Send(cfg.Network, plan.Items))
		}
		if g.lastTxID != "" && g.inject(TxIDReused) {
			txid = g.lastTxID
		}
		sent := must(aggregates.DecidePayoutSent(p, txid, fee, false, g.now))
		if g.inject(PayoutWithoutTxID) {
			s := sent[0].(events.PayoutSent)
			s.TxID = ""
			sent[0] = s
		}
		if g.inject(WrongStream) {
			g.emitIn(events.StreamPayout(g.uuid()), sent...)
		} else {
			g.emit(sent...)
		}
		g.lastTxID = txid
		if outcome == "confirmed" && sent[0].(events.PayoutSent).TxID != "" {
			g.emit(must(aggregates.DecidePayoutConfirmed(*n.Payouts[id], 6, g.now))...)
		}
	case "failed":
		g.emit(must(aggregates.DecidePayoutFailed(p, "insufficient funds", false, g.now))...)
		if g.inject(SentAfterFailed) {
			g.emit(events.PayoutSent{Network: cfg.Network, PayoutID: id, TxID: g.hex64(), FeeSat: fee, At: g.now})
		}
	default:
		g.emit(must(aggregates.DecidePayoutHalted(p, "send timed out", g.now))...)
		g.halted = append(g.halted, id)
	}
}
