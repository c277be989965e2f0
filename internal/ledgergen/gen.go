package ledgergen

import (
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
	miners     []aggregates.Miner // state of each miner's stream, for the miner decisions
	minerIndex map[uuid.UUID]int
	works      []events.WorkIssued // recent work, for injections
	bible      []string            // recent accepted bible hashes, for injections
	pending    []string            // discovered, not matured or orphaned
	young      map[string]bool     // pending blocks that will leave the chain before maturity
	youngSeen  bool                // a block left the chain young once crediting began
	workers    [][]string          // each miner's worker names
	credited   bool                // a block has matured
	matured    []string            // matured blocks still on the chain
	reorgs     int
	halted     []uuid.UUID
	lastTxID   string
	payouts    int
	done       map[Injection]bool
}

// Generate builds a history.
func Generate(cfg Config) *History {
	cfg = cfg.Defaults()
	net, ok := biblepay.LookupNetwork(cfg.Network)
	if !ok {
		panic(fmt.Sprintf("ledgergen: unknown network %q", cfg.Network))
	}
	g := &gen{
		cfg: cfg, net: net,
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		h:          &History{Config: cfg, Network: cfg.Network},
		ledger:     aggregates.NewLedger(aggregates.LedgerConfig{}),
		versions:   map[string]int64{},
		now:        cfg.Start,
		height:     100000,
		young:      map[string]bool{},
		done:       map[Injection]bool{},
		minerIndex: map[uuid.UUID]int{},
	}
	g.h.Ledger = g.ledger
	g.h.Expected = Expected{
		Miners: map[uuid.UUID]*Miner{}, Blocks: map[string]*Block{}, Payouts: map[uuid.UUID]*Payout{},
		SharesByDay: map[time.Time]int64{}, RejectedByReason: map[string]int64{},
	}
	for range cfg.Miners {
		var pkh [20]byte
		for j := range pkh {
			pkh[j] = byte(g.rng.UintN(256))
		}
		addr := net.Address(pkh)
		m := &Miner{ID: events.MinerID(cfg.Network, addr), Address: addr}
		workers := []string{biblepay.DefaultWorker}
		for w := 1; w < 1+g.rng.IntN(cfg.WorkersPerMiner); w++ {
			workers = append(workers, fmt.Sprintf("rig%02d", w))
		}
		g.workers = append(g.workers, workers)
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

// emit stores one decision's events atomically, each in the stream
// aggregates.StreamFor names.
func (g *gen) emit(evs ...events.Event) { g.emitIn("", evs...) }

// emitIn is emit with every event put in stream instead (for WrongStream).
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
			panic(fmt.Sprintf("ledgergen: encode %s: %v", e.EventType(), err))
		}
		ne := events.NewEvent{ID: g.uuid(), Type: e.EventType(), SchemaVersion: events.SchemaVersion, Data: data}
		v := g.versions[s]
		g.versions[s] = v + 1
		pos := uint64(len(g.h.Envelopes) + 1)
		env := events.Envelope{
			ID: ne.ID, Stream: s, Version: v, Position: pos, Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, RecordedAt: events.Timestamp(g.now), Data: data, PrevHash: g.prevHash,
		}
		env.Hash = events.ChainHash(env.PrevHash, env)
		g.prevHash = env.Hash
		g.h.Envelopes = append(g.h.Envelopes, env)
		// The backend's fold; the event is the one just encoded, so it
		// need not be decoded again.
		g.ledger.Position = pos
		g.ledger.ApplyEvent(pos, e)
		if i, ok := g.minerIndex[minerOf(e)]; ok {
			g.miners[i] = g.miners[i].Apply(e)
		}
		g.expect(e)
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("ledgergen: a decision failed: %v", err))
	}
	return v
}

func must2[T, U any](t T, u U, err error) (T, U) {
	if err != nil {
		panic(fmt.Sprintf("ledgergen: send: %v", err))
	}
	return t, u
}

func (g *gen) network() *aggregates.NetworkLedger { return g.ledger.Network(g.cfg.Network) }

func (g *gen) block(b int) {
	blockStart := g.cfg.Start.Add(time.Duration(b) * g.cfg.Spacing)
	if g.now.Before(blockStart) {
		g.now = blockStart
	}
	g.shares()
	g.admin()
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
	// A matured block whose credits its miners still hold leaves the chain:
	// a late reorganisation. The first once a third of the history is
	// written (so even a short history has one), later ones rarely.
	third := b > g.cfg.ChainBlocks/3
	if g.cfg.Events > 0 {
		third = len(g.h.Envelopes) > g.cfg.Events/3
	}
	if (g.reorgs == 0 && third) || (g.reorgs > 0 && g.rng.IntN(150) == 0) {
		g.lateReorg()
	}
}

var rejectReasons = []string{
	events.RejectHighHash, events.RejectStale, events.RejectDuplicate, events.RejectBibleHashWrong,
	events.RejectNonceTooHigh, events.RejectHighHash,
}

func (g *gen) shares() {
	cfg := g.cfg
	n := g.rng.IntN(2*cfg.SharesPerBlock + 1)
	for range n {
		i := g.rng.IntN(len(g.h.Miners))
		m := g.h.Miners[i]
		worker := g.workers[i][g.rng.IntN(len(g.workers[i]))]
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
		reject := ""
		switch {
		case g.miners[i].Disabled:
			reject = events.RejectMinerDisabled
		case g.rng.IntN(20) == 0:
			reject = rejectReasons[g.rng.IntN(len(rejectReasons))]
		}
		if reject != "" {
			g.emit(events.SolutionRejected{Network: cfg.Network, SolutionID: solID, WorkID: workID, MinerID: m.ID,
				Address: m.Address, Worker: worker, BibleHash: g.hex64(), Reason: reject, Detail: "generated", At: g.now})
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

// admin now and then has the operator disable or enable a miner, change
// its target, or pause payouts (resumed at the next payout run).
func (g *gen) admin() {
	cfg := g.cfg
	i := g.rng.IntN(len(g.h.Miners))
	m, st := g.h.Miners[i], g.miners[i]
	switch g.rng.IntN(200) {
	case 0:
		if !st.Registered {
			return
		}
		if st.Disabled {
			g.emit(must(aggregates.DecideEnableMiner(st, commands.EnableMiner{ID: g.uuid(), Network: cfg.Network, Address: m.Address, At: g.now}))...)
		} else {
			g.emit(must(aggregates.DecideDisableMiner(st, commands.DisableMiner{ID: g.uuid(), Network: cfg.Network, Address: m.Address,
				Reason: "generated abuse", At: g.now}))...)
		}
	case 1:
		if !st.Registered {
			return
		}
		g.emit(must(aggregates.DecideTarget(st, biblepay.DefaultTarget, biblepay.TargetForDifficulty(int64(2000+g.rng.IntN(8000))), "vardiff", g.now))...)
	case 2:
		g.emit(must(aggregates.DecidePausePayouts(g.network().Schedule, commands.PausePayouts{ID: g.uuid(), Network: cfg.Network,
			Reason: "maintenance", At: g.now}))...)
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
	g.emit(must(aggregates.DecideDiscover(g.network().Block(hash), d, &r))...)
	g.pending = append(g.pending, hash)
	// The first block found once crediting began leaves the chain young
	// (so every history has one), and about one in fifteen others.
	first := g.credited && !g.youngSeen
	if first || g.rng.IntN(15) == 0 {
		g.young[hash] = true
		g.youngSeen = g.youngSeen || first
	}
}

// advance confirms, matures or orphans the pending pool blocks.
func (g *gen) advance() {
	cfg := g.cfg
	var still []string
	for _, hash := range g.pending {
		b := g.network().Block(hash)
		conf := g.height - b.Height + 1
		if g.young[hash] && conf >= 3 {
			delete(g.young, hash)
			replaced := g.hex64()
			g.emit(events.ChainBlockRecorded{Network: cfg.Network, Height: b.Height, Hash: replaced, Time: g.now})
			g.emit(must(aggregates.DecideOrphan(b, replaced, g.now))...)
			if b.Round != nil && len(b.Round.Shares) > 0 && g.inject(CreditAfterOrphan) {
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
	policy := aggregates.MaturityPolicy{Maturity: g.cfg.Maturity, FeeBps: g.cfg.FeeBps}
	evs := must(aggregates.DecideMature(b, conf, policy, aggregates.Maturing{}, g.now))
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
		evs = must(aggregates.DecideMature(b, conf, policy, aggregates.Maturing{}, g.now))
	}
	g.emit(evs...)
	g.credited = true
	g.matured = append(g.matured, b.Hash)
}

// lateReorg orphans a matured block whose credits every account still holds
// in full (so no balance goes negative: the backend pays out only what is
// there), reversing them with DecideOrphan.
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
		g.matured = append(g.matured[:i], g.matured[i+1:]...)
		g.reorgs++
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

// payoutOutcomes is the cycle of payout fates, so that even a short
// history has every kind.
var payoutOutcomes = []string{"confirmed", "failed", "halted", "confirmed", "sent", "conflicted"}

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
	if n.Schedule.Paused {
		// The operator resumes; this run is skipped.
		g.emit(must(aggregates.DecideResumePayouts(n.Schedule, commands.ResumePayouts{ID: g.uuid(), Network: cfg.Network, At: g.now}))...)
		return
	}
	id := aggregates.PayoutID(cfg.Network, n.PayoutCount)
	evs, err := aggregates.DecidePlanPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(),
		aggregates.PayoutPolicy{MinPayoutSat: cfg.MinPayoutSat, MaxRecipients: cfg.MaxRecipients}, id, g.now)
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
	outcome := payoutOutcomes[g.payouts%len(payoutOutcomes)]
	g.payouts++
	fee := 2260 * int64(len(plan.Items))
	if outcome == "conflicted" && cfg.Send != nil && cfg.Conflict == nil {
		outcome = "sent" // a real wallet's send that cannot be double spent
	}
	switch outcome {
	case "confirmed", "sent", "conflicted":
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
		if outcome == "conflicted" && sent[0].(events.PayoutSent).TxID != "" {
			conflicts := []string{g.hex64()}
			if cfg.Conflict != nil {
				conflicts = must(cfg.Conflict(cfg.Network, txid))
			}
			g.emit(must(aggregates.DecidePayoutConflicted(*n.Payouts[id], txid, conflicts, "double spent by the chain", g.now))...)
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
