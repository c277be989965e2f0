// Package backend is Purepool's only writer of events. It consumes the
// commands the frontend and admins publish (IssueWork, SubmitSolution and the
// admin commands), validates shares against the node, follows each
// network's chain to discover, confirm, mature and orphan pool blocks,
// credits rounds, retargets miners (vardiff), checks the wallet's funding and
// sends payouts exactly once. Every decision is made by package aggregates;
// this package gathers the facts, appends the events with optimistic
// concurrency and performs the I/O.
//
// Concurrency: command handlers may run in parallel (each appends with
// expected versions and retries on conflict). The periodic jobs (Jobs) run as
// oklog/run actors; those that must not run twice at once across backends
// (the chain follower and the payer of a network) hold a Locker lock while
// they work, and every write they make is also guarded by expected versions.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// ShareNode is what share validation asks the node (spec §1.9, §3).
type ShareNode interface {
	ExecBibleHash(ctx context.Context, blockHash string, blockTime, prevBlockTime, prevHeight int64, nonce uint32) (string, error)
	ExecHexBlockToCoinbase(ctx context.Context, blockHex, txHex string) (*rpcclient.HexBlockCoinbase, error)
	ExecPinfo(ctx context.Context) (*rpcclient.Pinfo, error)
}

// ShareChecker is a node that answers shares' questions (each share's exec
// biblehash and exec hexblocktocoinbase and, when withPinfo, one exec
// pinfo) in one round trip, as a JSON-RPC batch; *rpcclient.Client is one.
// Share validation uses it when the network's Node has it, and ShareNode's
// three calls otherwise, with the same outcome.
type ShareChecker interface {
	CheckShares(ctx context.Context, sols []biblepay.Solution, withPinfo bool) ([]*rpcclient.ShareCheck, error)
}

// ChainNode is what the chain follower asks the node.
type ChainNode interface {
	GetBlockCount(ctx context.Context) (int64, error)
	GetBlockHash(ctx context.Context, height int64) (string, error)
	ExecSubsidy(ctx context.Context, height int64) (*rpcclient.Subsidy, error)
	// BlockCoinbase reads the coinbase of the block at a height exactly
	// (exec subsidy truncates the reward to whole BBP).
	BlockCoinbase(ctx context.Context, height int64) (*rpcclient.Coinbase, error)
}

// Wallet is what payouts and the funding check ask the node's wallet.
type Wallet interface {
	SendMany(ctx context.Context, amounts map[string]int64, minConf int, comment string, subtractFeeFrom []string) (string, error)
	ListTransactions(ctx context.Context, account string, count, from int) ([]rpcclient.TransactionEntry, error)
	GetTransaction(ctx context.Context, txid string) (*rpcclient.Transaction, error)
	GetWalletInfo(ctx context.Context) (*rpcclient.WalletInfo, error)
	RawWallet
}

// Node is everything the backend asks one network's node; *rpcclient.Client
// satisfies it.
type Node interface {
	ShareNode
	ChainNode
	Wallet
}

var (
	_ Node         = (*rpcclient.Client)(nil)
	_ ShareChecker = (*rpcclient.Client)(nil)
)

// NetworkConfig configures the pool on one network.
type NetworkConfig struct {
	Name        string // main, test or regtest
	PoolAddress string
	Node        Node
	// Scheme is PROP (default), PPLNS or SOLO.
	Scheme      string
	PPLNSWindow int   // shares counted by PPLNS (default 10,000)
	FeeBps      int64 // pool fee in basis points
	// Maturity is the confirmations after which a pool block is credited
	// (default the network's coinbase maturity, 101).
	Maturity int64
	// ConfirmStep: a BlockConfirmed is recorded every ConfirmStep
	// confirmations (default 10).
	ConfirmStep int64
	// FollowFrom is the first height the chain follower records when the
	// chain stream is empty (0: the node's tip at that moment).
	FollowFrom int64
	// ReorgDepth bounds how far back the follower looks for a fork (default 200).
	ReorgDepth     int64
	StaleTolerance int64
	// PinfoTTL lets share validation reuse `exec pinfo` for this long
	// (0: ask for every share). pinfo's max nonce only grows between
	// blocks, so a reused one is stricter, never looser; a new block within
	// the TTL makes fresh shares look one block ahead, so use it with
	// StaleTolerance ≥ 1.
	PinfoTTL time.Duration
	// Payouts.
	MinPayoutSat        int64
	MaxRecipients       int           // per transaction (default 50)
	PayoutInterval      time.Duration // 0: only on TriggerPayout
	PayoutConfirmations int64         // a sent payout is confirmed at this depth (default 6)
	// DefaultTarget is the share target of a miner without one of its own:
	// what the frontend hands out (its network's default_target), so that
	// vardiff starts from the difficulty the miner really works at
	// (default biblepay.DefaultTarget).
	DefaultTarget string
	// Vardiff.
	Vardiff       aggregates.VardiffPolicy
	VardiffWindow time.Duration // 0 disables miner evaluation
}

func (n NetworkConfig) withDefaults() (NetworkConfig, error) {
	net, ok := biblepay.LookupNetwork(n.Name)
	if !ok {
		return n, fmt.Errorf("backend: unknown network %q", n.Name)
	}
	if err := net.ValidateAddress(n.PoolAddress); err != nil {
		return n, fmt.Errorf("backend: %s pool address: %w", n.Name, err)
	}
	if n.Node == nil {
		return n, fmt.Errorf("backend: %s: no node", n.Name)
	}
	if n.Scheme == "" {
		n.Scheme = events.SchemePROP
	}
	switch n.Scheme {
	case events.SchemePROP, events.SchemePPLNS, events.SchemeSOLO:
	default:
		return n, fmt.Errorf("backend: %s: unknown scheme %q", n.Name, n.Scheme)
	}
	if n.FeeBps < 0 || n.FeeBps > aggregates.MaxFeeBps {
		return n, fmt.Errorf("backend: %s: fee of %d basis points", n.Name, n.FeeBps)
	}
	if n.Maturity <= 0 {
		n.Maturity = net.Maturity
	}
	if n.ConfirmStep <= 0 {
		n.ConfirmStep = 10
	}
	if n.ReorgDepth <= 0 {
		n.ReorgDepth = 200
	}
	if n.MinPayoutSat <= 0 {
		n.MinPayoutSat = 10 * biblepay.Coin
	}
	if n.MaxRecipients <= 0 {
		n.MaxRecipients = 50
	}
	if n.DefaultTarget == "" {
		n.DefaultTarget = biblepay.DefaultTarget
	}
	if n.PayoutConfirmations <= 0 {
		n.PayoutConfirmations = 6
	}
	return n, nil
}

// Config configures a Backend.
type Config struct {
	Networks []NetworkConfig
	// WorkWait is how long a solution whose work is not recorded yet is
	// retried before it is rejected UNKNOWN_WORK (default 1 min). It counts
	// from when this backend first found the work missing, not from the
	// frontend's ReceivedAt, so a command queue that lags (heavy load, a
	// backend restart) does not turn honest shares into rejections.
	WorkWait time.Duration
	// WorkCacheAge is how long a recorded work stays in memory after it was
	// recorded or last used (default WorkWait + the longer of 10 min, the
	// time a wallet mines on one work, and the stale window of the slowest
	// network). Older works are read again from their streams.
	WorkCacheAge time.Duration
	// WorkCacheMax bounds the works held in memory (default 200,000).
	WorkCacheMax int
	// ResendGrace is how long a payout that an earlier process planned but
	// never recorded a send for is left alone before it is looked up again
	// and sent (default 10 s): the process may have died with its sendmany
	// in flight, and the node may still be executing it. Payouts planned by
	// this process do not wait: its sends are synchronous.
	ResendGrace time.Duration
	// ConflictWatch is how long after its confirmation a payout is still
	// watched for a conflict (default 24 h): a reorganisation deeper than
	// payout_confirmations could still double spend it. Sent payouts are
	// watched until they are confirmed or conflicted.
	ConflictWatch time.Duration
	// RoundWait bounds how long a pool block's crediting waits, from when
	// this process first held it back, for the command queue to reach the
	// shares received before its round closed (default 10 min): after an
	// outage the queue holds shares of rounds about to be credited. Past it
	// the block is credited, and shares handled later count in the next
	// round (LateSharesCounted).
	RoundWait time.Duration
	// IntakeIdle is how long the consumers must have had nothing to do for
	// the queue to count as drained (default 2 s).
	IntakeIdle time.Duration
	// MaxBlockHex bounds a solution's block hex (default 2 MiB of hex).
	MaxBlockHex int
	// PollInterval is the chain follower's period (default 5 s).
	PollInterval time.Duration
	// BatchAppends is the most commands stored per append by the group
	// commit of the SubmitSolution and IssueWork handlers (default 64; 1
	// appends each on its own).
	BatchAppends int
	// Locker serialises singleton jobs across backends (default: in-process only).
	Locker Locker
	// StepWrites stores every decision one stream at a time (see
	// Backend.storeWrites) even on a store that writes several streams
	// atomically. It is what a store without atomic multi-stream writes
	// (EventStoreDB) gets anyway, found out from its first ErrNotAtomic;
	// tests set it to prove the stepwise path on every store.
	StepWrites bool
	Now        func() time.Time
	Logger     *slog.Logger
}

// Backend handles commands and runs the periodic jobs.
type Backend struct {
	store  events.Store
	cfg    Config
	nets   map[string]*NetworkConfig
	view   *View
	log    *slog.Logger
	now    func() time.Time
	locker Locker

	miners *cache[minerEntry]
	works  *workCache
	waits  *workWaits
	pinfo  map[string]*pinfoCache

	payMu map[string]*sync.Mutex // one payout cycle per network in this process

	group        *groupAppender
	groupRunning atomic.Bool
	// stepwise: store decisions one stream at a time (Config.StepWrites,
	// or the store answered ErrNotAtomic).
	stepwise atomic.Bool

	checks map[string]*shareCheckGroup // by network, for nodes that are ShareCheckers

	// points caches blocks read from the node to judge shares by.
	points chainPoints
	// intake tracks the consumers' progress through the command queue;
	// roundWaits is when this process first held back a round for it
	// (network:height → time.Time, monotonic: a wait, not a fact).
	intake     intake
	roundWaits sync.Map
	// walletChecked is when the wallet check of a network last found the
	// wallet and the ledger agreeing (network → time.Time); futurePayouts
	// caches the payout ids it recognises (network → ids by count).
	walletChecked sync.Map
	// markers caches the payout marker of wallet transactions (txid →
	// anchor.Data, or false for a transaction without one).
	markers       sync.Map
	futurePayouts sync.Map

	// orphanSeen is when
	// it first saw an unsettled payout of an earlier process (monotonic
	// wall time: waits, not facts of the ledger).
	payoutsMu  sync.Mutex
	orphanSeen map[uuid.UUID]time.Time
	// conflictSeen is the chain height at which this process first saw a
	// sent payout's transaction conflicted, for conflicts whose depth the
	// wallet does not tell (-1 confirmations, no conflicting transaction).
	conflictSeen map[uuid.UUID]int64

	// Handlers lists what the backend does on each command.
	Handlers Handlers
}

// New builds a backend over a store. Call Run to start it.
func New(store events.Store, cfg Config) (*Backend, error) {
	if store == nil {
		return nil, fmt.Errorf("backend: no event store")
	}
	if len(cfg.Networks) == 0 {
		return nil, fmt.Errorf("backend: no network configured")
	}
	if cfg.WorkWait <= 0 {
		cfg.WorkWait = time.Minute
	}
	if cfg.MaxBlockHex <= 0 {
		cfg.MaxBlockHex = 2 << 20
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchAppends <= 0 {
		cfg.BatchAppends = 64
	}
	if cfg.Locker == nil {
		cfg.Locker = NewLocalLocker()
	}
	b := &Backend{
		store: store, cfg: cfg, nets: map[string]*NetworkConfig{}, log: cfg.Logger,
		now:    func() time.Time { return cfg.Now().UTC() },
		locker: cfg.Locker, miners: newCache[minerEntry](100_000), waits: newWorkWaits(2 * cfg.WorkWait),
		payMu: map[string]*sync.Mutex{}, pinfo: map[string]*pinfoCache{}, checks: map[string]*shareCheckGroup{},
	}
	lc := aggregates.LedgerConfig{PPLNSWindow: map[string]int{}}
	for _, n := range cfg.Networks {
		n, err := n.withDefaults()
		if err != nil {
			return nil, err
		}
		if _, dup := b.nets[n.Name]; dup {
			return nil, fmt.Errorf("backend: network %s configured twice", n.Name)
		}
		b.nets[n.Name] = &n
		b.payMu[n.Name] = &sync.Mutex{}
		b.pinfo[n.Name] = &pinfoCache{}
		if sc, ok := n.Node.(ShareChecker); ok {
			b.checks[n.Name] = newShareCheckGroup(sc, shareCheckBatch)
		}
		lc.PPLNSWindow[n.Name] = n.PPLNSWindow
	}
	if cfg.WorkCacheAge <= 0 {
		cfg.WorkCacheAge = cfg.WorkWait + walletWorkLifetime
		for _, n := range b.nets {
			stale := time.Duration(n.StaleTolerance+1) * biblepay.Networks[n.Name].BlockSpacing
			cfg.WorkCacheAge = max(cfg.WorkCacheAge, cfg.WorkWait+stale)
		}
	}
	if cfg.RoundWait <= 0 {
		cfg.RoundWait = 10 * time.Minute
	}
	if cfg.IntakeIdle <= 0 {
		cfg.IntakeIdle = 2 * time.Second
	}
	if cfg.WorkCacheMax <= 0 {
		cfg.WorkCacheMax = 200_000
	}
	b.cfg = cfg
	b.works = newWorkCache(cfg.WorkCacheAge, cfg.WorkCacheMax)
	b.view = NewView(lc)
	b.group = newGroupAppender(store, cfg.BatchAppends)
	b.stepwise.Store(cfg.StepWrites)
	b.Handlers = newHandlers(b)
	return b, nil
}

// walletWorkLifetime is about how long a wallet mines on one work: it
// forces new work after 7 min and submits its share within ~15 s (spec §1.6).
const walletWorkLifetime = 10 * time.Minute

// View is the backend's in-memory ledger.
func (b *Backend) View() *View { return b.view }

// network returns a configured network.
func (b *Backend) network(name string) (*NetworkConfig, bool) {
	n, ok := b.nets[name]
	return n, ok
}

// cache is a bounded map; when full it is emptied (entries are only ever
// re-read from the store, so forgetting is always safe).
type cache[V any] struct {
	mu  sync.Mutex
	m   map[string]V
	max int
}

func newCache[V any](max int) *cache[V] { return &cache[V]{m: map[string]V{}, max: max} }

func (c *cache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *cache[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string]V{}
	}
	c.m[k] = v
}

func (c *cache[V]) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
