package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/events"
)

// syncView waits until the view folded everything stored so far, so that a
// job decides from the latest state (its own earlier writes included).
func (b *Backend) syncView(ctx context.Context) error {
	head, err := b.store.Head(ctx)
	if err != nil {
		return err
	}
	return b.view.WaitFor(ctx, head)
}

// SyncChain runs one pass of a network's chain follower: it records every
// block from the last recorded height (or from the fork point of a
// reorganisation) to the node's tip, discovers pool blocks with the round
// they close, orphans pool blocks that left the chain (reversing their
// credits if they had matured), then confirms and matures pending pool
// blocks. It holds the network's chain lock; if another backend holds it,
// the pass does nothing. Writes to chain-{net} carry the expected version,
// so two followers can never both record a height.
func (b *Backend) SyncChain(ctx context.Context, network string) error {
	net, ok := b.network(network)
	if !ok {
		return fmt.Errorf("backend: network %q is not served", network)
	}
	unlock, ok, err := b.locker.TryLock(ctx, "chain-"+network)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	if err := b.syncView(ctx); err != nil {
		return err
	}
	// The policy in force is recorded before any block is discovered under
	// it: a block is credited with the fee in force when it was found.
	if err := b.recordPolicy(ctx, net); err != nil {
		return err
	}
	tip, err := net.Node.GetBlockCount(ctx)
	if err != nil {
		return fmt.Errorf("backend: %s getblockcount: %w", network, err)
	}
	var recTip int64
	var empty bool
	recorded := func(h int64) string {
		var s string
		b.view.Read(func(l *aggregates.Ledger) { s = l.Network(network).Chain[h] })
		return s
	}
	b.view.Read(func(l *aggregates.Ledger) {
		recTip = l.Network(network).TipHeight
		empty = l.Version(events.StreamChain(network)) < 0
	})
	from := recTip + 1
	if empty {
		from = net.FollowFrom
		if from <= 0 {
			from = tip
		}
	} else {
		// Walk back from the highest height both know until the hashes agree.
		for h := min(recTip, tip); h >= 1 && recTip-h <= net.ReorgDepth; h-- {
			hash, err := net.Node.GetBlockHash(ctx, h)
			if err != nil {
				return fmt.Errorf("backend: %s getblockhash %d: %w", network, h, err)
			}
			if hash == recorded(h) {
				break
			}
			from = h
		}
		from = min(from, tip+1)
	}
	for h := max(from, 1); h <= tip; h++ {
		if err := b.recordHeight(ctx, net, h); err != nil {
			return err
		}
	}
	return b.ripen(ctx, net, tip)
}

// recordHeight records the block at one height, with what it means for
// pool blocks, in one atomic append.
func (b *Backend) recordHeight(ctx context.Context, net *NetworkConfig, h int64) error {
	node := net.Node
	hash, err := node.GetBlockHash(ctx, h)
	if err != nil {
		return fmt.Errorf("backend: %s getblockhash %d: %w", net.Name, h, err)
	}
	sub, err := node.ExecSubsidy(ctx, h)
	if err != nil {
		return fmt.Errorf("backend: %s exec subsidy %d: %w", net.Name, h, err)
	}
	cb, err := node.BlockCoinbase(ctx, h)
	if err != nil {
		return fmt.Errorf("backend: %s coinbase of %d: %w", net.Name, h, err)
	}
	if cb.BlockHash != hash {
		return fmt.Errorf("backend: %s height %d changed from %s to %s while reading it; next pass", net.Name, h, hash, cb.BlockHash)
	}
	crashpoint.Hit(crashpoint.ChainAfterRPC)
	now := b.now()
	blockTime := time.Unix(cb.Time, 0).UTC()
	var evs []events.Event
	var paidAlready []string
	var expect func(string) events.ExpectedVersion
	var chainStream = events.StreamChain(net.Name)
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(net.Name)
		old := n.Chain[h]
		if old == hash {
			return // recorded already (by an earlier pass that failed later)
		}
		rec := events.ChainBlockRecorded{Network: net.Name, Height: h, Hash: hash, Time: blockTime, SeenAt: now}
		if cb.Bits != 0 {
			rec.Bits = fmt.Sprintf("%08x", cb.Bits)
		}
		evs = append(evs, rec)
		for _, gone := range replacedAt(n, h, old, hash) {
			if pb := n.Block(gone); pb.Discovered && !pb.Orphaned {
				orphan, err2 := aggregates.DecideOrphan(pb, hash, now)
				if err2 != nil {
					err = err2
					return
				}
				for _, e := range orphan {
					if r, ok := e.(events.CreditReversed); ok && n.Balances[r.AccountID] < r.AmountSat {
						paidAlready = append(paidAlready, fmt.Sprintf("%s (%s): reversing %d sat, balance %d sat", r.AccountID, r.Address, r.AmountSat, n.Balances[r.AccountID]))
					}
				}
				evs = append(evs, orphan...)
			}
		}
		if sub.Recipient == net.PoolAddress && cb.Recipient == net.PoolAddress {
			if pb := n.Block(hash); !pb.Discovered {
				finder, perr := uuid.Parse(sub.MinerGUID)
				if perr != nil || n.Miners[finder] == nil {
					finder = uuid.Nil
				}
				// The round is made by height when the block matures: the
				// winning share, and every other share of the round, may
				// still be in the command queue now.
				d := events.BlockDiscovered{
					Network: net.Name, Height: h, Hash: hash, FinderMinerID: finder, Recipient: cb.Recipient,
					RewardSat: cb.ValueSat, BlockTime: blockTime, RoundRule: events.RoundRuleHeight, At: now,
				}
				disc, err2 := aggregates.DecideDiscover(pb, d, nil)
				if err2 != nil {
					err = err2
					return
				}
				evs = append(evs, disc...)
			}
		}
		versions := map[string]events.ExpectedVersion{chainStream: l.Expected(chainStream)}
		for _, e := range evs {
			s := aggregates.StreamFor(e)
			if _, ok := versions[s]; !ok {
				versions[s] = l.Expected(s)
			}
		}
		expect = func(s string) events.ExpectedVersion { return versions[s] }
	})
	if err != nil || len(evs) == 0 {
		return err
	}
	if len(paidAlready) > 0 {
		b.log.Error("POOL BLOCK ORPHANED AFTER ITS CREDITS WERE PAID OUT: balances go negative; recover the money by hand",
			"network", net.Name, "height", h, "replaced_by", hash, "accounts", paidAlready)
	}
	key := "chain:" + net.Name + ":" + strconv.FormatInt(h, 10) + ":" + hash
	writes, err := plan(key, events.Metadata{CorrelationID: key, CausationID: key}, evs, expect)
	if err != nil {
		return err
	}
	if err := b.holds("chain-" + net.Name); err != nil {
		return fmt.Errorf("backend: %s height %d: %w", net.Name, h, err)
	}
	// Stepwise, the chain height goes last: until it is stored the next
	// pass records this height again, and decides only what is missing
	// (a block already discovered or orphaned is not decided again).
	res, err := b.storeWrites(ctx, b.viaStore, writes, lastStream(chainStream), crashpoint.ChainBetweenWrites)
	if err != nil {
		if errors.Is(err, events.ErrWrongExpectedVersion) {
			return fmt.Errorf("backend: %s height %d: another writer moved the chain; next pass: %w", net.Name, h, err)
		}
		return err
	}
	for _, e := range evs {
		switch e := e.(type) {
		case events.BlockDiscovered:
			b.log.Info("pool block found", "network", net.Name, "height", e.Height, "hash", e.Hash, "reward_sat", e.RewardSat, "finder", e.FinderMinerID)
		case events.BlockOrphaned:
			b.log.Warn("pool block orphaned", "network", net.Name, "height", e.Height, "hash", e.Hash, "after_maturity", e.AfterMaturity)
		}
	}
	return b.view.WaitForAppend(ctx, res)
}

// replacedAt lists the pool blocks at height h that recording hash there
// replaces: the block recorded there (old), then, sorted, any other block
// discovered at h that the chain never recorded. Those exist only after a
// stepwise write (Backend.storeWrites) stored a discovery and stopped before
// its height, and the node had moved to another block by the next pass.
func replacedAt(n *aggregates.NetworkLedger, h int64, old, hash string) []string {
	var out, others []string
	if old != "" && old != hash {
		out = append(out, old)
	}
	for bh, pb := range n.Blocks {
		if pb.Height == h && bh != hash && bh != old && pb.Discovered && !pb.Orphaned {
			others = append(others, bh)
		}
	}
	sort.Strings(others)
	return append(out, others...)
}

// viaStore is the store's Append as an appendFunc.
func (b *Backend) viaStore(ctx context.Context, writes []events.StreamWrite) (events.AppendResult, error) {
	return b.store.Append(ctx, writes...)
}

// ripen confirms and matures the pending pool blocks still on the chain,
// in height order: a round by height is decided from the ledger with its
// predecessors credited, so each block is matured on its own and the view
// catches up before the next one is decided.
func (b *Backend) ripen(ctx context.Context, net *NetworkConfig, tip int64) error {
	var errs error
	for done := map[string]bool{}; ; {
		var s *ripening
		var err error
		b.view.Read(func(l *aggregates.Ledger) { s, err = nextRipening(l, net, tip, b.now(), done, b.roundComplete) })
		if err != nil {
			errs = errors.Join(errs, err)
		}
		if s == nil {
			return errs
		}
		done[s.hash] = true
		if err := b.holds("chain-" + net.Name); err != nil {
			return errors.Join(errs, err)
		}
		res, aerr := appendDecided(ctx, b.store, s.key, events.Metadata{CorrelationID: s.key, CausationID: s.key}, s.evs,
			func(string) events.ExpectedVersion { return s.exp })
		if aerr != nil {
			errs = errors.Join(errs, aerr)
			if s.matures {
				return errs // a higher block must not be credited before this one
			}
			continue
		}
		for _, e := range s.evs {
			if m, ok := e.(events.BlockMatured); ok {
				b.log.Info("pool block matured and credited", "network", net.Name, "height", m.Height, "hash", m.Hash, "reward_sat", m.RewardSat)
			}
			if r, ok := e.(events.RoundEmpty); ok {
				b.log.Warn("pool block matured with an empty round", "network", net.Name, "height", r.Height, "hash", r.BlockHash,
					"outcome", r.Outcome, "amount_sat", r.AmountSat)
			}
		}
		if werr := b.view.WaitForAppend(ctx, res); werr != nil {
			return werr
		}
	}
}

// ripening is one block's confirmation or maturity, decided.
type ripening struct {
	hash, key string
	evs       []events.Event
	exp       events.ExpectedVersion
	matures   bool
}

// roundComplete reports whether a round by height closed at closedAt may be
// decided: the consumers have handled every command received before it, or
// RoundWait has passed.
func (b *Backend) roundComplete(network string, height int64, closedAt time.Time) bool {
	key := network + ":" + strconv.FormatInt(height, 10)
	if b.intake.caughtUp(closedAt, b.cfg.IntakeIdle, time.Now()) {
		b.roundWaits.Delete(key)
		return true
	}
	// RoundWait counts from when this process first waited for the round,
	// not from its close: after a long outage every close is long past,
	// and the queue still holds the round's shares.
	first, _ := b.roundWaits.LoadOrStore(key, time.Now())
	if waited := time.Since(first.(time.Time)); waited > b.cfg.RoundWait {
		b.log.Warn("crediting a pool block before the command queue reached its round's close: shares handled later count in the next round",
			"network", network, "height", height, "closed_at", closedAt, "waited", waited.Round(time.Second))
		b.roundWaits.Delete(key)
		return true
	}
	return false
}

// nextRipening decides the lowest pending pool block on the chain that has
// something to record (not in done), or nil. A round by height is decided
// only once complete(height, close) says the shares received before its
// close have been handled; its close is when a block appeared that makes
// any later share of its heights stale.
func nextRipening(l *aggregates.Ledger, net *NetworkConfig, tip int64, now time.Time, done map[string]bool,
	complete func(network string, height int64, closedAt time.Time) bool) (*ripening, error) {
	n := l.Network(net.Name)
	var pending []*aggregates.PoolBlock
	for hash, pb := range n.Blocks {
		if pb.Pending() && n.Chain[pb.Height] == hash && !done[hash] {
			pending = append(pending, pb)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].Height < pending[j].Height })
	var errs error
	for _, pb := range pending {
		conf := tip - pb.Height + 1
		s := events.StreamBlock(net.Name, pb.Hash)
		r := &ripening{hash: pb.Hash, exp: l.Expected(s)}
		var err error
		if conf >= net.Maturity && pb.Round == nil {
			closedAt := now
			if c, ok := n.ChainPoints[pb.Height+1+net.StaleTolerance]; ok {
				closedAt = c.Appeared().Truncate(time.Second).Add(time.Second)
			}
			if !complete(net.Name, pb.Height, closedAt) {
				return nil, errs // blocks above wait for this one
			}
		}
		if conf >= net.Maturity {
			var m aggregates.Maturing
			m, err = l.MaturingOf(net.Name, pb.Hash, net.Scheme, now)
			if err == nil {
				r.evs, err = aggregates.DecideMature(*pb, conf, aggregates.MaturityPolicy{Maturity: net.Maturity, FeeBps: n.FeeFor(pb, net.FeeBps)}, m, now)
				r.key, r.matures = "block:"+net.Name+":"+pb.Hash+":mature", true
			}
		} else {
			r.evs, err = aggregates.DecideConfirm(*pb, conf, net.ConfirmStep, now)
			r.key = "block:" + net.Name + ":" + pb.Hash + ":confirm:" + strconv.FormatInt(conf, 10)
		}
		if err != nil {
			errs = errors.Join(errs, err)
			if conf >= net.Maturity {
				return nil, errs // blocks above wait for this one
			}
			continue
		}
		if len(r.evs) > 0 {
			return r, errs
		}
	}
	return nil, errs
}

// recordPolicy records the network's crediting policy (fee, scheme) when it
// differs from the last one recorded, before any block is discovered under
// it (aggregates.NetworkLedger.FeeFor).
func (b *Backend) recordPolicy(ctx context.Context, net *NetworkConfig) error {
	p := events.PoolPolicySet{Network: net.Name, FeeBps: net.FeeBps, Scheme: net.Scheme, At: b.now()}
	if net.Scheme == events.SchemePPLNS {
		p.PPLNSWindow = net.PPLNSWindow
		if p.PPLNSWindow <= 0 {
			p.PPLNSWindow = aggregates.DefaultPPLNSWindow
		}
	}
	var exp events.ExpectedVersion
	var same bool
	stream := events.StreamPolicy(net.Name)
	b.view.Read(func(l *aggregates.Ledger) {
		cur := l.Network(net.Name).Policy
		same = cur != nil && cur.FeeBps == p.FeeBps && cur.Scheme == p.Scheme && cur.PPLNSWindow == p.PPLNSWindow
		exp = l.Expected(stream)
	})
	if same {
		return nil
	}
	key := fmt.Sprintf("policy:%s:%d:%s:%d:%d", net.Name, p.FeeBps, p.Scheme, p.PPLNSWindow, p.At.UnixNano())
	res, err := appendDecided(ctx, b.store, key, events.Metadata{CorrelationID: key, CausationID: key}, []events.Event{p},
		func(string) events.ExpectedVersion { return exp })
	if err != nil {
		return fmt.Errorf("backend: %s: record the crediting policy: %w", net.Name, err)
	}
	b.log.Info("crediting policy recorded", "network", net.Name, "fee_bps", p.FeeBps, "scheme", p.Scheme, "pplns_window", p.PPLNSWindow)
	return b.view.WaitForAppend(ctx, res)
}
