package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
)

// DirectorySource is the part of the read model a Directory polls:
// projections.Reader satisfies it.
type DirectorySource interface {
	// MinerDirectory returns the miners whose target or state changed
	// after a position (all with a target or state of their own for a
	// negative one) and the highest position read.
	MinerDirectory(ctx context.Context, after int64) ([]projections.DirectoryEntry, int64, error)
	// ChainTip returns the newest recorded block of a network.
	ChainTip(ctx context.Context, network string) (height int64, at time.Time, found bool, err error)
}

// Defaults of Directory.
const (
	DefaultDirectoryPoll     = time.Second
	DefaultDirectoryMaxStale = 5 * time.Second
)

// Directory is the frontend's in-memory copy of what it hands work by: the
// miners with a target or state of their own, and every network's chain
// tip. It is both the MinerDirectory and the node half of Health
// (ChainFreshness's rule), and answers from memory: no request waits for
// the database while the copy is fresh.
//
// Freshness: Run polls the read model every Poll (default 1 s): the chain
// tips, and the miners changed since the last position read (column
// miners.directory_pos, read-model shape 5). A copy older than 1.5 Poll
// is refreshed in the background by the next request, even without Run; one
// older than MaxStale (default 5 s) is not used: the request waits for a
// read, and answers HEALTH_DOWN if the read model does not answer, as it
// did when every request read it. So an answer reflects the read model as
// it was at most MaxStale ago (Poll plus one query's time while the read
// model is healthy). A miner not in memory has no target or state of its
// own: it gets the network's default target, as the read model gives it.
type Directory struct {
	source   DirectorySource
	networks []string // whose chain tips to hold, under mu
	poll     time.Duration
	maxStale time.Duration
	maxAge   func(network string) time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu     sync.RWMutex
	miners map[uuid.UUID]Miner // by events.MinerID(network, address)
	tips   map[string]chainTip
	pos    int64     // the position the miners were read up to (-1: none read)
	readAt time.Time // monotonic: when the read of the current copy started

	reading chan struct{} // a token: one read at a time
}

// DirectoryConfig configures NewDirectory.
type DirectoryConfig struct {
	Networks []string                           // whose chain tips to hold
	Poll     time.Duration                      // DefaultDirectoryPoll when 0
	MaxStale time.Duration                      // DefaultDirectoryMaxStale when 0; at least Poll
	MaxAge   func(network string) time.Duration // StaleAfter when nil
	Now      func() time.Time                   // the clock of the chain tip's age; time.Now when nil
	Logger   *slog.Logger                       // failed background reads; nil discards
}

// NewDirectory makes a Directory over the read model. Start Run to keep it
// fresh ahead of the requests.
func NewDirectory(source DirectorySource, cfg DirectoryConfig) *Directory {
	d := &Directory{
		source: source, networks: append([]string(nil), cfg.Networks...),
		poll: cfg.Poll, maxStale: cfg.MaxStale, maxAge: cfg.MaxAge, now: cfg.Now, log: cfg.Logger,
		miners: map[uuid.UUID]Miner{}, tips: map[string]chainTip{}, pos: -1,
		reading: make(chan struct{}, 1),
	}
	if d.poll <= 0 {
		d.poll = DefaultDirectoryPoll
	}
	if d.maxStale <= 0 {
		d.maxStale = DefaultDirectoryMaxStale
	}
	d.maxStale = max(d.maxStale, d.poll)
	if d.maxAge == nil {
		d.maxAge = StaleAfter
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Run reads the read model every Poll until ctx ends; a failed read is
// logged and tried again at the next tick. It returns nil when ctx ends.
func (d *Directory) Run(ctx context.Context) error {
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		if err := d.read(ctx); err != nil && ctx.Err() == nil {
			d.log.LogAttrs(ctx, slog.LevelWarn, "miner directory: read model", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Miner implements MinerDirectory from memory.
func (d *Directory) Miner(ctx context.Context, network, address string) (Miner, bool, error) {
	return d.MinerByID(ctx, events.MinerID(network, address))
}

// MinerByID is Miner for a miner id the caller already derived
// (events.MinerID of its network and address): the handler has it, and
// deriving it again costs a SHA-1 per request.
func (d *Directory) MinerByID(ctx context.Context, id uuid.UUID) (Miner, bool, error) {
	if err := d.fresh(ctx); err != nil {
		return Miner{}, false, err
	}
	d.mu.RLock()
	m, ok := d.miners[id]
	d.mu.RUnlock()
	return m, ok, nil
}

// CanTakeWork implements Health as ChainFreshness does, from memory: a
// network whose newest recorded block is older than MaxAge cannot take
// work; before its first block it can.
func (d *Directory) CanTakeWork(ctx context.Context, network string) error {
	if err := d.fresh(ctx); err != nil {
		return err
	}
	d.mu.RLock()
	tip, ok := d.tips[network]
	d.mu.RUnlock()
	if !ok {
		// A network not configured in NewDirectory: held from now on.
		d.mu.Lock()
		if !slices.Contains(d.networks, network) {
			d.networks = append(d.networks, network)
		}
		d.mu.Unlock()
		if err := d.read(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrDirectoryStale, err)
		}
		d.mu.RLock()
		tip = d.tips[network]
		d.mu.RUnlock()
	}
	if !tip.found {
		return nil
	}
	if age := d.now().Sub(tip.at); age > d.maxAge(network) {
		return fmt.Errorf("%w: block %d is %s old", ErrChainStale, tip.height, age.Round(time.Second))
	}
	return nil
}

// ErrDirectoryStale is returned when the copy is older than MaxStale and
// the read model does not answer.
var ErrDirectoryStale = errors.New("miner directory: read model not read recently")

// fresh makes sure the copy is usable: younger than 1.5 Poll as is; younger
// than MaxStale too, while a background read renews it; older, only after
// a read (the request waits for it).
func (d *Directory) fresh(ctx context.Context) error {
	d.mu.RLock()
	readAt, loaded := d.readAt, d.pos >= 0
	d.mu.RUnlock()
	age := time.Since(readAt)
	// Half a poll of slack, so that requests leave the reads to Run when
	// it runs.
	if loaded && age < d.poll+d.poll/2 {
		return nil
	}
	if loaded && age < d.maxStale {
		d.readInBackground()
		return nil
	}
	if err := d.waitRead(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectoryStale, err)
	}
	return nil
}

// readInBackground starts a read unless one is under way.
func (d *Directory) readInBackground() {
	select {
	case d.reading <- struct{}{}:
	default:
		return // under way
	}
	go func() {
		defer func() { <-d.reading }()
		ctx, cancel := context.WithTimeout(context.Background(), d.maxStale)
		defer cancel()
		if err := d.readLocked(ctx); err != nil {
			d.log.LogAttrs(ctx, slog.LevelWarn, "miner directory: read model", slog.String("error", err.Error()))
		}
	}()
}

// waitRead reads, unless a read that was under way meanwhile made the copy
// usable; it gives up when ctx ends.
func (d *Directory) waitRead(ctx context.Context) error {
	select {
	case d.reading <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.reading }()
	d.mu.RLock()
	readAt, loaded := d.readAt, d.pos >= 0
	d.mu.RUnlock()
	if loaded && time.Since(readAt) < d.maxStale {
		return nil
	}
	return d.readLocked(ctx)
}

// read renews the copy, after the read under way if there is one.
func (d *Directory) read(ctx context.Context) error {
	select {
	case d.reading <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.reading }()
	return d.readLocked(ctx)
}

// readLocked reads the tips and the changed miners; the caller holds
// d.reading.
func (d *Directory) readLocked(ctx context.Context) error {
	start := time.Now()
	d.mu.RLock()
	after, networks := d.pos, slices.Clone(d.networks)
	d.mu.RUnlock()
	tips := make(map[string]chainTip, len(networks))
	for _, n := range networks {
		height, at, found, err := d.source.ChainTip(ctx, n)
		if err != nil {
			return fmt.Errorf("chain tip of %s: %w", n, err)
		}
		tips[n] = chainTip{height: height, at: at, found: found, read: start}
	}
	changed, pos, err := d.source.MinerDirectory(ctx, after)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range changed {
		target := strings.ToLower(e.Target)
		if _, err := biblepay.ParseHash(target); err != nil {
			target = "" // none set yet (or unusable): the network's default, as ReadModelMiners does
		}
		m := Miner{Target: target, Disabled: !e.Enabled}
		if m == (Miner{}) {
			delete(d.miners, e.MinerID) // nothing of its own any more
			continue
		}
		d.miners[e.MinerID] = m
	}
	d.tips, d.pos, d.readAt = tips, pos, start
	return nil
}
