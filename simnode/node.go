// The node's lifecycle: its configuration, New, Close, the network's hash
// rate and target, Pause and Resume, and Run, which mines network blocks.

package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// DefaultBlockReward is vout[0] of every simulated block: the coinbase of the
// Feb 2018 testnet pool block of spec §7 (16235.85745354 BBP), deliberately
// not a whole number of BBP so that truncation by `exec subsidy` shows.
const DefaultBlockReward int64 = 1623585745354

// DefaultFeePerKB is the wallet's fee rate (0.0001 BBP per 1000 bytes).
const DefaultFeePerKB int64 = 10_000

// MinFee is the smallest fee a send pays.
const MinFee int64 = 1_000

// Dust is the smallest change output kept; less goes to the fee.
const Dust int64 = 546

// Version is the wallet version written into coinbase messages (<VER>).
const Version = "1.1.4.1"

// Config configures a simulated node.
type Config struct {
	Network  biblepay.Network // default: test
	User     string           // RPC basic-auth user; empty user and password disable auth
	Password string
	// BlockTime is the interval at which the network mines a block while
	// Run is running; 0 means blocks come only from sim_generate and
	// submitblock.
	BlockTime time.Duration
	// Maturity is the number of confirmations after which a coinbase is
	// spendable and listed as "generate"; default the network's (101).
	Maturity int64
	// BlockReward is vout[0] of every block in satoshis; default DefaultBlockReward.
	BlockReward int64
	// FeePerKB is the wallet's fee rate in satoshis; default DefaultFeePerKB.
	FeePerKB int64
	// NetworkHashRate (hashes/s of the whole network) sets the block target:
	// difficulty = NetworkHashRate × block spacing. Default 1,000,000.
	NetworkHashRate float64
	// WalletAddresses are addresses the wallet owns in addition to the one
	// derived from Seed (e.g. a pool address named in a test's config).
	WalletAddresses []string
	// StateFile, if set, is loaded at start and rewritten after every change.
	StateFile string
	// Seed makes the wallet and network addresses deterministic.
	Seed int64
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Node is a simulated biblepayd. Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	log     *slog.Logger
	spacing time.Duration

	mu       sync.Mutex
	chain    []*block
	blocks   map[string]*block // display hash → block, orphans included
	utxo     map[biblepay.OutPoint]coin
	txBlock  map[string]*block // txid → main-chain block
	mempool  []*mempoolTx
	wallet   wallet
	hashRate float64
	target   *big.Int
	bits     uint32
	paused   bool
	nextSend sendMode
	netCount uint64 // network blocks mined, for recipient addresses
	// locks are the wallet's locked coins (lockunspent): memory only, a
	// restart forgets them.
	locks map[biblepay.OutPoint]bool
	// unbroadcast are wallet sends a Restart without rebroadcast dropped
	// from the mempool: still the wallet's (confirmations 0, their inputs
	// spent for the wallet) until broadcast again or conflicted.
	unbroadcast map[string]bool
	// restarted is closed by Restart: calls in flight (a delayed or hanging
	// send) die with the old process.
	restarted chan struct{}
	closed    chan struct{}
	closeMu   sync.Once
}

// New creates a node: it loads cfg.StateFile if it exists, otherwise it
// starts a chain with a genesis block.
func New(cfg Config) (*Node, error) {
	if cfg.Network.Name == "" {
		cfg.Network = biblepay.Networks["test"]
	}
	if cfg.Maturity <= 0 {
		cfg.Maturity = cfg.Network.Maturity
	}
	if cfg.BlockReward <= 0 {
		cfg.BlockReward = DefaultBlockReward
	}
	if cfg.FeePerKB <= 0 {
		cfg.FeePerKB = DefaultFeePerKB
	}
	if cfg.NetworkHashRate <= 0 {
		cfg.NetworkHashRate = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		spacing: cfg.BlockTime,
		blocks:  map[string]*block{},
		utxo:    map[biblepay.OutPoint]coin{},
		txBlock: map[string]*block{},
		closed:  make(chan struct{}),

		locks:       map[biblepay.OutPoint]bool{},
		unbroadcast: map[string]bool{},
		restarted:   make(chan struct{}),
	}
	if n.spacing <= 0 {
		n.spacing = cfg.Network.BlockSpacing
	}
	n.wallet = newWallet(cfg.Network, cfg.Seed)
	for _, a := range cfg.WalletAddresses {
		if err := cfg.Network.ValidateAddress(a); err != nil {
			return nil, fmt.Errorf("simnode: wallet address %q: %w", a, err)
		}
		n.wallet.keys[a] = true
	}
	n.setHashRate(cfg.NetworkHashRate)
	if cfg.StateFile != "" {
		loaded, err := n.load()
		if err != nil {
			return nil, err
		}
		if loaded {
			return n, nil
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.mineNetworkBlock(); err != nil {
		return nil, err
	}
	return n, n.save()
}

// Close stops Run and any send held by sim_sendthentimeout.
func (n *Node) Close() error {
	n.closeMu.Do(func() { close(n.closed) })
	return nil
}

// Network is the node's network.
func (n *Node) Network() biblepay.Network { return n.cfg.Network }

// Maturity is the number of confirmations after which a coinbase matures.
func (n *Node) Maturity() int64 { return n.cfg.Maturity }

// WalletAddress is the wallet's default address: use it as the pool address.
func (n *Node) WalletAddress() string { return n.wallet.defaultAddr }

// Height is the tip height.
func (n *Node) Height() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tip().height
}

func (n *Node) tip() *block { return n.chain[len(n.chain)-1] }

func (n *Node) now() int64 { return n.cfg.Now().Unix() }

// setHashRate sets the network target from a hash rate: difficulty (the
// expected hashes per block) = rate × block spacing.
func (n *Node) setHashRate(rate float64) {
	d := rate * n.spacing.Seconds()
	if d < 1 {
		d = 1
	}
	if d > math.MaxInt64/2 {
		d = math.MaxInt64 / 2
	}
	t, _ := biblepay.ParseHash(biblepay.TargetForDifficulty(int64(d)))
	n.hashRate = rate
	n.bits = biblepay.TargetToCompact(t)
	n.target = biblepay.CompactToTarget(n.bits)
}

// SetHashRate sets the network's hash rate, and so the target of the next
// blocks (sim_sethashrate).
func (n *Node) SetHashRate(rate float64) error {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return errors.New("hash rate must be positive")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setHashRate(rate)
	return n.save()
}

// Target is the current network target as 64 hex digits.
func (n *Node) Target() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return biblepay.FormatHash(n.target)
}

// Pause stops the network from mining blocks (sim_pause).
func (n *Node) Pause() { n.mu.Lock(); n.paused = true; n.mu.Unlock() }

// Resume lets the network mine blocks again (sim_resume).
func (n *Node) Resume() { n.mu.Lock(); n.paused = false; n.mu.Unlock() }

// Run mines a network block every BlockTime until ctx ends or Close is
// called. Without a BlockTime it only waits.
func (n *Node) Run(ctx context.Context) {
	done := ctx.Done()
	if n.cfg.BlockTime <= 0 {
		select {
		case <-done:
		case <-n.closed:
		}
		return
	}
	t := time.NewTicker(n.cfg.BlockTime)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-n.closed:
			return
		case <-t.C:
			n.mu.Lock()
			if !n.paused {
				if _, err := n.mineNetworkBlock(); err != nil {
					n.log.Error("simnode: mine block", "err", err)
				} else if err := n.save(); err != nil {
					n.log.Error("simnode: save state", "err", err)
				}
			}
			n.mu.Unlock()
		}
	}
}
