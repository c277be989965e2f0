package backend

import (
	"context"
	"errors"
	"fmt"
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
			if errors.Is(err, errAwaitFinderShare) {
				break // heights are recorded in order: the rest waits for the next pass
			}
			return err
		}
	}
	return b.ripen(ctx, net, tip)
}

// errAwaitFinderShare stops a follower pass at a pool block whose winning
// share has not been stored yet.
var errAwaitFinderShare = errors.New("backend: pool block waits for its winning share")

// holdBack reports whether a pool block should still wait for its winning
// share: true until FinderShareWait has passed since it was first held back.
func (b *Backend) holdBack(hash string) bool {
	if b.cfg.FinderShareWait <= 0 {
		return false
	}
	b.heldBackMu.Lock()
	defer b.heldBackMu.Unlock()
	if b.heldBack == nil {
		b.heldBack = map[string]time.Time{}
	}
	first, ok := b.heldBack[hash]
	if !ok {
		b.heldBack[hash] = time.Now()
		return true
	}
	if time.Since(first) < b.cfg.FinderShareWait {
		return true
	}
	delete(b.heldBack, hash)
	b.log.Warn("pool block recorded without its winning share: the finder's share arrived late or never", "hash", hash)
	return false
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
		evs = append(evs, events.ChainBlockRecorded{Network: net.Name, Height: h, Hash: hash, Time: blockTime})
		if old != "" {
			if pb := n.Block(old); pb.Discovered && !pb.Orphaned {
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
				if finder != uuid.Nil && !n.HasShareFor(hash) && b.holdBack(hash) {
					err = errAwaitFinderShare
					return
				}
				d := events.BlockDiscovered{
					Network: net.Name, Height: h, Hash: hash, FinderMinerID: finder, Recipient: cb.Recipient,
					RewardSat: cb.ValueSat, BlockTime: blockTime, At: now,
				}
				r, err2 := l.CloseRound(net.Scheme, d, now)
				if err2 != nil {
					err = err2
					return
				}
				disc, err2 := aggregates.DecideDiscover(pb, d, r)
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
	res, err := appendDecided(ctx, b.store, key, events.Metadata{CorrelationID: key, CausationID: key}, evs, expect)
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

// ripen confirms and matures the pending pool blocks still on the chain.
func (b *Backend) ripen(ctx context.Context, net *NetworkConfig, tip int64) error {
	type step struct {
		key    string
		evs    []events.Event
		stream string
		exp    events.ExpectedVersion
	}
	var steps []step
	now := b.now()
	var err error
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(net.Name)
		for hash, pb := range n.Blocks {
			if !pb.Pending() || n.Chain[pb.Height] != hash {
				continue
			}
			conf := tip - pb.Height + 1
			evs, e := aggregates.DecideMature(*pb, conf, aggregates.MaturityPolicy{Maturity: net.Maturity, FeeBps: net.FeeBps}, now)
			kind := "mature"
			if e == nil && len(evs) == 0 {
				evs, e = aggregates.DecideConfirm(*pb, conf, net.ConfirmStep, now)
				kind = "confirm:" + strconv.FormatInt(conf, 10)
			}
			if e != nil {
				err = errors.Join(err, e)
				continue
			}
			if len(evs) > 0 {
				s := events.StreamBlock(net.Name, hash)
				steps = append(steps, step{key: "block:" + net.Name + ":" + hash + ":" + kind, evs: evs, stream: s, exp: l.Expected(s)})
			}
		}
	})
	for _, s := range steps {
		res, aerr := appendDecided(ctx, b.store, s.key, events.Metadata{CorrelationID: s.key, CausationID: s.key}, s.evs,
			func(string) events.ExpectedVersion { return s.exp })
		if aerr != nil {
			err = errors.Join(err, aerr)
			continue
		}
		if m, ok := s.evs[0].(events.BlockMatured); ok {
			b.log.Info("pool block matured and credited", "network", net.Name, "height", m.Height, "hash", m.Hash, "reward_sat", m.RewardSat, "credits", len(s.evs)-2)
		}
		if werr := b.view.WaitForAppend(ctx, res); werr != nil {
			return werr
		}
	}
	return err
}
