package http

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/projections"
)

// ReadModelMiners is the MinerDirectory over the projected read model
// (table miners); it only runs SELECTs, so the frontend's read-only role
// suffices.
type ReadModelMiners struct {
	Reader *projections.Reader
}

// Miner looks the miner up by network and address.
func (d ReadModelMiners) Miner(ctx context.Context, network, address string) (Miner, bool, error) {
	m, err := d.Reader.Miner(ctx, network, address)
	if errors.Is(err, projections.ErrNotFound) {
		return Miner{}, false, nil
	}
	if err != nil {
		return Miner{}, false, err
	}
	target := m.Target
	if _, err := biblepay.ParseHash(target); err != nil {
		target = "" // none set yet (or unusable): the network's default
	}
	return Miner{Target: target, Disabled: !m.Enabled}, true, nil
}

// ChainFreshness is the node half of Health, read from the read model: a
// network whose newest recorded block is older than MaxAge(network) cannot
// take work (the node, the chain follower or the projector is stuck), so
// wallets are sent to solo mining instead of working on stale blocks. Before
// the first block is recorded the network counts as healthy.
//
// The tip is read at most once per TipCache per network (default 2 s), not
// on every wallet request: the limit is many block spacings, so a tip a
// second or two old changes nothing.
type ChainFreshness struct {
	Reader   *projections.Reader
	MaxAge   func(network string) time.Duration
	Now      func() time.Time // time.Now when nil
	TipCache time.Duration    // 0: 2 s; negative: read every time

	mu   sync.Mutex
	tips map[string]chainTip
}

type chainTip struct {
	height int64
	at     time.Time
	found  bool
	read   time.Time // monotonic: when it was read
}

// ErrChainStale is returned by ChainFreshness for a network whose chain tip is too old.
var ErrChainStale = errors.New("no new block recorded for too long")

// CanTakeWork implements Health.
func (c *ChainFreshness) CanTakeWork(ctx context.Context, network string) error {
	tip, err := c.tip(ctx, network)
	if err != nil || !tip.found {
		return err
	}
	height, at := tip.height, tip.at
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if age := now().Sub(at); age > c.MaxAge(network) {
		return fmt.Errorf("%w: block %d is %s old", ErrChainStale, height, age.Round(time.Second))
	}
	return nil
}

// tip is the network's chain tip, read again once TipCache has passed.
func (c *ChainFreshness) tip(ctx context.Context, network string) (chainTip, error) {
	ttl := c.TipCache
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	c.mu.Lock()
	t, ok := c.tips[network]
	c.mu.Unlock()
	if ok && ttl > 0 && time.Since(t.read) < ttl {
		return t, nil
	}
	read := time.Now()
	height, at, found, err := c.Reader.ChainTip(ctx, network)
	if err != nil {
		return chainTip{}, err
	}
	t = chainTip{height: height, at: at, found: found, read: read}
	c.mu.Lock()
	if c.tips == nil {
		c.tips = map[string]chainTip{}
	}
	c.tips[network] = t
	c.mu.Unlock()
	return t, nil
}

// StaleAfter is the default MaxAge: 15 block spacings of the network (on
// main, 105 minutes without a block happens about once in three million
// blocks).
func StaleAfter(network string) time.Duration {
	if n, ok := biblepay.LookupNetwork(network); ok {
		return 15 * n.BlockSpacing
	}
	return time.Hour
}
