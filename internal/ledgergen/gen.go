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
	poolID     uuid.UUID
	done       map[Injection]bool
	// Rounds by height.
	winners     map[string]events.SolutionAccepted // pool block → its winning share
	lastPool    int64                              // height of the last pool block found
	lastEmpty   int64                              // height of the last pool block found without shares
	emptyBlocks map[string]bool                    // pool blocks found without shares
	empties     int                                // pool blocks found without shares
	lastMatured int64                              // height of the last pool block credited
	backlogs    int                                // batches of late shares stored
	lastRound   []events.ShareTally                // one share of the last PROP round by height, for DoubleCount
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
		rng:         rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		h:           &History{Config: cfg, Network: cfg.Network},
		ledger:      aggregates.NewLedger(aggregates.LedgerConfig{}),
		versions:    map[string]int64{},
		now:         cfg.Start,
		height:      100000,
		young:       map[string]bool{},
		done:        map[Injection]bool{},
		minerIndex:  map[uuid.UUID]int{},
		winners:     map[string]events.SolutionAccepted{},
		emptyBlocks: map[string]bool{},
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
	// The installation's id, as migrate writes it first.
	g.poolID = uuid.NewSHA1(events.Namespace, fmt.Appendf(nil, "ledgergen-pool:%d", cfg.Seed)) // not from rng: the rest of the history stays as it was
	g.emit(events.PoolInstalled{PoolID: g.poolID, At: g.now})
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
	if g.cfg.OldRule {
		// With EmptyRoundToFee, one chain block right after a pool block
		// has no share and is the pool's: the release before the rounds by
		// height closed such an empty round when the follower recorded two
		// pool blocks in one pass, and gave its whole reward to the fee.
		quiet := g.cfg.Inject == EmptyRoundToFee && g.empties == 0 && g.credited && g.lastPool == g.height
		if quiet {
			g.empties++
		} else {
			g.shares()
		}
		g.admin()
		g.height++
		hash := g.hex64()
		g.emit(events.ChainBlockRecorded{Network: g.cfg.Network, Height: g.height, Hash: hash, Time: g.now})
		switch {
		case g.rng.IntN(g.cfg.PoolBlockEvery) == 0 && len(g.network().Open) > 0:
			g.discover(hash, nil)
		case quiet && len(g.network().Open) == 0:
			g.discover(hash, nil)
		}
	} else {
		g.blockByHeight()
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
			Address: m.Address, Worker: worker, BlockHash: g.hex64(), BibleHash: bible, PrevHeight: g.prevHeight(),
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

// discover records the pool block hash at the current height. Rule by
// position: its round is closed now (finder: a miner of the round, or
// none); rule by height: finder is the winning share's miner (uuid.Nil:
// the coinbase names no known miner) and the round waits for maturity.
func (g *gen) discover(hash string, finder *uuid.UUID) {
	cfg := g.cfg
	reward := int64(5000+g.rng.IntN(15000))*biblepay.Coin + g.rng.Int64N(biblepay.Coin)
	d := events.BlockDiscovered{Network: cfg.Network, Height: g.height, Hash: hash,
		Recipient: "pool", RewardSat: reward, BlockTime: g.now, At: g.now}
	if cfg.OldRule {
		if open := g.network().Open; len(open) > 0 {
			d.FinderMinerID = open[g.rng.IntN(len(open))].MinerID
		}
		r := must(g.ledger.CloseRound(events.SchemePROP, d, g.now))
		g.emit(must(aggregates.DecideDiscover(g.network().Block(hash), d, &r))...)
	} else {
		d.FinderMinerID, d.RoundRule = *finder, events.RoundRuleHeight
		g.emit(must(aggregates.DecideDiscover(g.network().Block(hash), d, nil))...)
	}
	g.lastPool = g.height
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
			if t, ok := g.someoneOf(b); ok && g.inject(CreditAfterOrphan) {
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
	var m aggregates.Maturing
	if !g.cfg.OldRule {
		g.recordPolicy()
		m = must(g.ledger.MaturingOf(g.cfg.Network, b.Hash, events.SchemePROP, g.now))
		if g.tamperRound(b, &m) {
			policy.FeeBps = g.cfg.FeeBps // the fee stays right; the round is wrong
		} else if m.Round.TotalShares > 0 && g.inject(FeeNotConfigured) {
			policy.FeeBps = g.cfg.FeeBps + 50
		}
	}
	evs := must(aggregates.DecideMature(b, conf, policy, m, g.now))
	if g.cfg.Inject == EmptyRoundToFee && g.emptyToFee(b, m, &evs) {
		g.emit(evs...)
		g.credited = true
		g.matured = append(g.matured, b.Hash)
		return
	}
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
		evs = must(aggregates.DecideMature(b, conf, policy, m, g.now))
	}
	g.emit(evs...)
	g.credited = true
	g.matured = append(g.matured, b.Hash)
	if m.Round != nil {
		g.lastMatured = max(g.lastMatured, b.Height)
		if len(m.Round.Shares) > 0 {
			g.lastRound = m.Round.Shares
		}
		if m.Round.CarriedInSat == 0 && g.inject(RoundRewritten) {
			// The round is written again after its credits, one share
			// moved to another miner; the credits stay.
			r := *m.Round
			r.Shares = append([]events.ShareTally(nil), r.Shares...)
			r.Shares[0].Shares++
			r.Shares[0].Difficulty++
			r.TotalShares++
			r.TotalDifficulty++
			g.emit(r)
		}
	}
}

// lateReorg orphans a matured block whose credits every account still holds
// in full (so no balance goes negative: the backend pays out only what is
// there), reversing them with DecideOrphan.
func (g *gen) lateReorg() {
	n := g.network()
	for i := len(g.matured) - 1; i >= 0; i-- {
		b := n.Block(g.matured[i])
		if b.Orphaned || len(b.Credits) == 0 || b.Empty != nil || (b.Round != nil && b.Round.CarriedInSat > 0) {
			continue // (what a block moved through the carry account is not reversed by DecideOrphan)
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
var payoutOutcomes = []string{"confirmed", "failed", "halted", "conflicted", "corrected", "sent", "confirmed"}

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
	outcome := payoutOutcomes[g.payouts%len(payoutOutcomes)]
	// A real wallet (cfg.Send) pays by sendmany, as releases before signed
	// payouts did, and so do halted and corrected payouts (only those can
	// halt, or be wrongly reconciled); the rest are signed payouts of this
	// installation.
	signed := cfg.Send == nil && outcome != "halted" && outcome != "corrected"
	id := aggregates.PayoutID(cfg.Network, n.PayoutCount)
	ident := aggregates.PlanIdentity{PayoutID: id}
	if signed {
		id = aggregates.PayoutIDFor(g.poolID, cfg.Network, n.PayoutCount)
		ident = aggregates.PlanIdentity{PayoutID: id, PoolID: g.poolID}
	}
	evs, err := aggregates.DecidePlanAnchoredPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(),
		aggregates.PayoutPolicy{MinPayoutSat: cfg.MinPayoutSat, MaxRecipients: cfg.MaxRecipients}, ident, g.now)
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
	g.payouts++
	fee := 2260 * int64(len(plan.Items))
	if outcome == "conflicted" && cfg.Send != nil && cfg.Conflict == nil {
		outcome = "sent" // a real wallet's send that cannot be double spent
	}
	switch outcome {
	case "corrected":
		// An earlier release recorded it in the previous payout's
		// transaction; an admin corrected that, the amounts came back.
		if g.lastTxID == "" {
			g.emit(must(aggregates.DecidePayoutFailed(p, "insufficient funds", false, g.now))...)
			break
		}
		g.emit(must(aggregates.DecidePayoutSent(p, g.lastTxID, fee, true, g.now))...)
		g.emit(must(aggregates.DecidePayoutCorrected(*n.Payouts[id], g.lastTxID, "reconciled with another payout's transaction", g.now))...)
	case "confirmed", "sent", "conflicted":
		txid := g.hex64()
		if cfg.Send != nil {
			txid, fee = must2(cfg.Send(cfg.Network, plan.Items))
		}
		if signed {
			if g.payouts%3 == 0 {
				// A first transaction someone else's spend made dead.
				dead := g.signed(p, fee)
				g.emit(must(aggregates.DecidePayoutTxDead(*n.Payouts[id], dead, dead+":0", "input spent by another transaction", g.now))...)
			}
			reuse := ""
			if g.lastTxID != "" && g.inject(TxIDReused) {
				reuse = g.lastTxID // a signed record naming another payout's transaction
			}
			txid = g.signedAs(*n.Payouts[id], fee, reuse)
			p = *n.Payouts[id]
		}
		var sent []events.Event
		if !signed && g.lastTxID != "" && g.inject(TxIDReused) {
			txid = g.lastTxID // written by hand: no decision would take it
			sent = []events.Event{events.PayoutSent{Network: cfg.Network, PayoutID: id, TxID: txid, FeeSat: fee, At: g.now}}
		} else {
			sent = must(aggregates.DecidePayoutSent(p, txid, fee, false, g.now))
		}
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

// signed emits a PayoutSigned of a made-up transaction for p and returns
// its txid.
func (g *gen) signed(p aggregates.Payout, fee int64) string { return g.signedAs(p, fee, "") }

// signedAs is signed with the given txid ("" for a made-up one).
func (g *gen) signedAs(p aggregates.Payout, fee int64, txid string) string {
	if txid == "" {
		txid = g.hex64()
	}
	sends, err := aggregates.SplitFee(p.Items, fee)
	if err != nil {
		panic(err)
	}
	g.emit(must(aggregates.DecidePayoutSigned(p, events.PayoutSigned{TxID: txid, Hex: "0100" + txid, FeeSat: fee, Sends: sends,
		Inputs: []events.OutPoint{{TxID: g.hex64(), Vout: 0}}, At: g.now}))...)
	return txid
}

// prevHeight is the previous height of a share stored now: the tip, or
// (rounds by height) now and then a height behind, as a share validated
// after the next block arrived but judged as of its receipt. A height
// behind is not taken while it would put a share into an empty round.
func (g *gen) prevHeight() int64 {
	if !g.cfg.OldRule && g.rng.IntN(10) == 0 && g.height != g.lastEmpty && g.height-1 != g.lastEmpty {
		return g.height - 1
	}
	return g.height
}

// blockByHeight writes one chain block under the rounds by height: the
// shares mined on it, perhaps a backlog of late shares, the block, and when
// it is the pool's, its discovery and winning share. A chain block right
// after a pool block is now and then found by the pool with no share at
// all (an empty round): its finder known or not, alternately.
func (g *gen) blockByHeight() {
	cfg := g.cfg
	empty := g.lastPool == g.height && g.credited && g.height > 0 && (g.empties < 2 || g.rng.IntN(8) == 0)
	if !empty {
		g.shares()
		g.backlog()
	}
	g.admin()
	g.height++
	hash := g.hex64()
	pool := empty || g.rng.IntN(cfg.PoolBlockEvery) == 0
	var win *events.SolutionAccepted
	after := false
	if pool && !empty {
		win = g.winningShare(hash)
		after = win != nil && g.rng.IntN(4) == 0 // validated after the follower recorded the block
		if win != nil && !after {
			g.emitShare(*win)
		}
	}
	g.emit(events.ChainBlockRecorded{Network: cfg.Network, Height: g.height, Hash: hash, Time: g.now, SeenAt: g.now})
	if !pool {
		return
	}
	finder := uuid.Nil
	switch {
	case win != nil:
		finder = win.MinerID
		g.winners[hash] = *win
	case empty && g.empties%2 == 1:
		// The coinbase names a known miner whose winning share was lost.
		for i, st := range g.miners {
			if st.Registered {
				finder = g.h.Miners[i].ID
				break
			}
		}
	}
	if empty {
		g.empties++
		g.emptyBlocks[hash] = true
		g.lastEmpty = g.height
	}
	g.discover(hash, &finder)
	if after {
		g.emitShare(*win)
	}
}

// winningShare is a share that solves the block hash, mined on the height
// being recorded, by a registered miner that is not disabled (nil: none).
func (g *gen) winningShare(hash string) *events.SolutionAccepted {
	var cand []int
	for i, st := range g.miners {
		if st.Registered && !st.Disabled {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	acc := g.newShare(cand[g.rng.IntN(len(cand))], hash, g.height-1)
	return &acc
}

// newShare issues work to miner i and returns the share it accepts (not
// stored yet) on previous height prev.
func (g *gen) newShare(i int, hash string, prev int64) events.SolutionAccepted {
	m := g.h.Miners[i]
	worker := g.workers[i][g.rng.IntN(len(g.workers[i]))]
	target := biblepay.TargetForDifficulty(int64(1000 + g.rng.IntN(9000)))
	workID := g.uuid()
	evs := must(aggregates.DecideIssueWork(g.miners[i], commands.IssueWork{
		ID: g.uuid(), Network: g.cfg.Network, MinerID: m.ID, Address: m.Address, Worker: worker, WorkID: workID,
		Target: target, ThreadID: g.rng.IntN(8), Agent: "1.1.4.1", OS: "LIN", IssuedAt: g.now,
	}))
	g.emit(evs...)
	return events.SolutionAccepted{Network: g.cfg.Network, SolutionID: g.uuid(), WorkID: workID, MinerID: m.ID,
		Address: m.Address, Worker: worker, BlockHash: hash, BibleHash: g.hex64(), PrevHeight: prev,
		Nonce: g.rng.Uint32(), Target: target, Difficulty: must(biblepay.Difficulty(target)), HashrateHPS: int64(100 + g.rng.IntN(900)), At: g.now}
}

// emptyPending counts the pool blocks found without shares still pending.
func (g *gen) emptyPending() int {
	n := 0
	for _, h := range g.pending {
		if g.emptyBlocks[h] {
			n++
		}
	}
	return n
}

func (g *gen) emitShare(acc events.SolutionAccepted) {
	g.emit(acc, events.BibleHashReserved{Network: acc.Network, BibleHash: acc.BibleHash, SolutionID: acc.SolutionID})
}

// backlog now and then stores a few shares mined on a height whose pool
// block was credited already (a backlog after an outage): the next round
// counts them late (LateSharesCounted). The first once crediting began.
func (g *gen) backlog() {
	if g.lastMatured == 0 || g.emptyPending() > 0 || (g.backlogs > 0 && g.rng.IntN(30) != 0) {
		return
	}
	g.backlogs++
	for range 1 + g.rng.IntN(3) {
		i := g.rng.IntN(len(g.h.Miners))
		if st := g.miners[i]; !st.Registered || st.Disabled {
			continue
		}
		g.emitShare(g.newShare(i, g.hex64(), g.lastMatured-1-g.rng.Int64N(3)))
	}
}

// recordPolicy writes the crediting policy before the first block is
// credited under it, as the backend does.
func (g *gen) recordPolicy() {
	p := g.network().Policy
	if p != nil && p.FeeBps == g.cfg.FeeBps && p.Scheme == events.SchemePROP {
		return
	}
	g.emit(events.PoolPolicySet{Network: g.cfg.Network, FeeBps: g.cfg.FeeBps, Scheme: events.SchemePROP, At: g.now})
}

// tamperRound applies the injections that change a round by height before
// it is credited (the credits then follow the wrong round). It reports
// whether it did.
func (g *gen) tamperRound(b aggregates.PoolBlock, m *aggregates.Maturing) bool {
	r := m.Round
	win, ok := g.winners[b.Hash]
	switch {
	case ok && r.TotalShares > 1 && g.inject(WinningShareOutside):
		// The winning share counted nowhere (the old release counted it in
		// the round before).
		shares := append([]events.ShareTally(nil), r.Shares...)
		for i := range shares {
			if shares[i].MinerID == win.MinerID {
				shares[i].Shares--
				shares[i].Difficulty -= win.Difficulty
			}
		}
		setTallies(r, shares)
		return true
	case len(g.lastRound) > 0 && r.TotalShares > 0 && r.CarriedInSat == 0 && g.inject(DoubleCount):
		// One share of the previous round counted again.
		var t events.ShareTally
		for _, c := range g.lastRound {
			if c.Shares == 1 {
				t = c
				break
			}
		}
		if t.Shares != 1 {
			g.done[DoubleCount] = false // no single share to name: later
			return false
		}
		setTallies(r, append(append([]events.ShareTally(nil), r.Shares...), t))
		return true
	}
	return false
}

func setTallies(r *events.RoundClosed, shares []events.ShareTally) {
	kept := shares[:0]
	for _, t := range shares {
		if t.Shares > 0 {
			kept = append(kept, t)
		}
	}
	r.Shares = must(aggregates.MergeTallies(kept))
	r.TotalShares, r.TotalDifficulty, _ = aggregates.RoundTotals(r.Shares)
}

// emptyToFee replaces the credits of a round without shares by the old
// release's: the whole reward to the fee account. It reports whether it did.
func (g *gen) emptyToFee(b aggregates.PoolBlock, m aggregates.Maturing, evs *[]events.Event) bool {
	if b.Round != nil { // rule by position: the round closed at discovery
		if b.Round.TotalShares != 0 || !g.inject(EmptyRoundToFee) {
			return false
		}
	} else if m.Round.TotalShares != 0 || m.Round.CarriedInSat != 0 || !g.inject(EmptyRoundToFee) {
		return false
	}
	var out []events.Event
	for _, e := range *evs {
		switch e := e.(type) {
		case events.RoundEmpty, events.MinerCredited:
			continue
		case events.FeeCredited:
			e.AmountSat = b.RewardSat
			out = append(out, e)
			continue
		}
		out = append(out, e)
	}
	*evs = out
	return true
}

// someoneOf is a miner to credit wrongly for block b: one of its round, or
// its finder.
func (g *gen) someoneOf(b aggregates.PoolBlock) (events.ShareTally, bool) {
	if b.Round != nil && len(b.Round.Shares) > 0 {
		return b.Round.Shares[0], true
	}
	if m, ok := g.network().Miners[b.Finder]; ok && m.Address != "" {
		return events.ShareTally{MinerID: b.Finder, Address: m.Address}, true
	}
	return events.ShareTally{}, false
}
