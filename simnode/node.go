package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sort"
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

// coin is an unspent output.
type coin struct {
	Out      biblepay.TxOut
	Height   int64
	Coinbase bool
}

type spent struct {
	op biblepay.OutPoint
	c  coin
}

// block is a block the node knows, in the main chain or orphaned.
type block struct {
	hash      [32]byte
	hashHex   string
	height    int64
	header    biblepay.Header
	txs       []biblepay.Tx
	txids     []string
	raw       []byte
	submitted bool // came through submitblock
	main      bool
	undo      []spent
	bibleHash string
}

type mempoolTx struct {
	tx   biblepay.Tx
	txid string
	fee  int64
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

// Generate mines count network blocks at once, including the mempool in the
// first (sim_generate). It returns their hashes.
func (n *Node) Generate(count int) ([]string, error) {
	if count < 1 || count > 100_000 {
		return nil, fmt.Errorf("block count %d outside 1..100000", count)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	hashes := make([]string, 0, count)
	for range count {
		b, err := n.mineNetworkBlock()
		if err != nil {
			return hashes, err
		}
		hashes = append(hashes, b.hashHex)
	}
	return hashes, n.save()
}

// Reorg orphans the last depth blocks and replaces them with depth+1
// network blocks (sim_reorg). Transactions of the orphaned blocks return to
// the mempool unless their inputs are gone (e.g. a send that spent an
// orphaned coinbase), in which case the wallet lists them as conflicted. It
// returns the orphaned blocks' hashes.
func (n *Node) Reorg(depth int) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if depth < 1 || depth >= len(n.chain) {
		return nil, fmt.Errorf("reorg depth %d outside 1..%d", depth, len(n.chain)-1)
	}
	orphaned, err := n.reorg(depth, nil)
	if err != nil {
		return orphaned, err
	}
	return orphaned, n.save()
}

// reorg disconnects depth blocks (none for 0), puts the orphaned blocks'
// and the old mempool's transactions that still fit back into the mempool,
// except those first double spends, then first, and mines depth+1 network
// blocks.
func (n *Node) reorg(depth int, first []biblepay.Tx) ([]string, error) {
	var orphaned []string
	var back []biblepay.Tx
	for range depth {
		b := n.tip()
		if err := n.disconnect(b); err != nil {
			return nil, err
		}
		orphaned = append(orphaned, b.hashHex)
		back = append(append([]biblepay.Tx{}, b.txs[1:]...), back...)
	}
	old := n.mempool
	n.mempool = nil
	// What first spends is taken from everything else: a transaction
	// spending it is dropped, and so (its inputs missing) are its
	// descendants. first goes in last, after the parents it may spend.
	taken := map[biblepay.OutPoint]bool{}
	for _, tx := range first {
		for _, i := range tx.Inputs {
			taken[i.PrevOut] = true
		}
	}
	keep := func(tx biblepay.Tx) {
		for _, i := range tx.Inputs {
			if taken[i.PrevOut] {
				return
			}
		}
		n.acceptToMempool(tx)
	}
	for _, tx := range back {
		keep(tx)
	}
	for _, m := range old {
		keep(m.tx)
	}
	for _, tx := range first {
		if !n.acceptToMempool(tx) {
			return orphaned, fmt.Errorf("transaction %s does not fit the chain", tx.TxID())
		}
	}
	for range depth + 1 {
		if _, err := n.mineNetworkBlock(); err != nil {
			return orphaned, err
		}
	}
	return orphaned, nil
}

// DoubleSpend makes a wallet send conflicted, the way a real double spend
// does (sim_doublespend): the rest of the network mines a transaction that
// spends the same inputs to one of its own addresses. The send's block
// (a send still in the mempool is mined first) and those above it are
// orphaned, and the double spend is mined in their place. The send and anything spending its outputs leave the chain and
// the mempool; the wallet then reports it with negative confirmations (the
// conflicting transaction's depth) and the conflicting txid in
// walletconflicts. It returns the conflicting transaction's id.
func (n *Node) DoubleSpend(txid string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	wt, ok := n.wallet.txs[txid]
	if !ok || !wt.FromMe || wt.Tx.IsCoinbase() {
		return "", fmt.Errorf("%s is not a send of this wallet", txid)
	}
	if n.inMempool(txid) {
		// Mined first, so its inputs (perhaps the change of sends still in
		// the mempool) are all in the chain when the double spend replaces it.
		if _, err := n.mineNetworkBlock(); err != nil {
			return "", err
		}
	}
	b, ok := n.txBlock[txid]
	if !ok {
		return "", fmt.Errorf("%s is neither in the chain nor in the mempool", txid)
	}
	depth := int(n.tip().height - b.height + 1)
	if depth >= len(n.chain) {
		return "", fmt.Errorf("%s is in the genesis block", txid)
	}
	// The inputs' values, as the chain had them before the send.
	spentValue := map[biblepay.OutPoint]int64{}
	for _, b := range n.chain {
		for _, tx := range b.txs {
			h := tx.Hash()
			for i, o := range tx.Outputs {
				spentValue[biblepay.OutPoint{Hash: h, Index: uint32(i)}] = o.Value
			}
		}
	}
	var in int64
	inputs := make([]biblepay.TxIn, len(wt.Tx.Inputs))
	for i, txin := range wt.Tx.Inputs {
		v, ok := spentValue[txin.PrevOut]
		if !ok {
			return "", fmt.Errorf("%s spends an output the chain does not hold", txid)
		}
		in += v
		inputs[i] = biblepay.TxIn{PrevOut: txin.PrevOut, Sequence: 0xffffffff}
	}
	const fee = 10_000 // 0.0001 BBP, the network's relay minimum
	if in <= fee {
		return "", fmt.Errorf("%s spends too little to double spend", txid)
	}
	n.netCount++
	conflict := biblepay.Tx{Version: 1, Inputs: inputs, Outputs: []biblepay.TxOut{{
		Value: in - fee, ScriptPubKey: biblepay.PayToPubKeyHashScript(n.networkAddress(n.netCount)),
	}}}
	for i, txin := range wt.Tx.Inputs {
		if src, ok := n.wallet.txs[biblepay.HashString(txin.PrevOut.Hash)]; ok && int(txin.PrevOut.Index) < len(src.Tx.Outputs) {
			conflict.Inputs[i].ScriptSig = simSign(conflict, i, src.Tx.Outputs[txin.PrevOut.Index].ScriptPubKey, sigHashAll)
		}
	}
	if _, err := n.reorg(depth, []biblepay.Tx{conflict}); err != nil {
		return "", err
	}
	return conflict.TxID(), n.save()
}

// Fund has the rest of the network pay the wallet amount satoshis in an
// ordinary transaction, mined at once (sim_fund): an operator topping up
// the pool's wallet. Unlike a pool block it is no coinbase, so the pool
// credits no one for it. It spends a mature coinbase of a network block.
func (n *Node) Fund(amount int64) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	const fee = 10_000
	if amount <= 0 {
		return "", fmt.Errorf("amount %d is not positive", amount)
	}
	view := n.mempoolView()
	for h := int64(0); h <= n.tip().height-n.cfg.Maturity; h++ {
		cb := n.chain[h].txs[0]
		op := biblepay.OutPoint{Hash: cb.Hash(), Index: 0}
		c, ok := view[op]
		if !ok || c.Out.Value < amount+fee {
			continue
		}
		if _, mine := n.wallet.addressOf(c.Out.ScriptPubKey); mine {
			continue
		}
		script, err := n.cfg.Network.ScriptForAddress(n.wallet.defaultAddr)
		if err != nil {
			return "", err
		}
		tx := biblepay.Tx{Version: 1,
			Inputs: []biblepay.TxIn{{PrevOut: op, Sequence: 0xffffffff}},
			Outputs: []biblepay.TxOut{
				{Value: amount, ScriptPubKey: script},
				{Value: c.Out.Value - amount - fee, ScriptPubKey: c.Out.ScriptPubKey},
			}}
		tx.Inputs[0].ScriptSig = simSign(tx, 0, c.Out.ScriptPubKey, sigHashAll)
		if !n.acceptToMempool(tx) {
			return "", errors.New("the funding transaction does not fit the mempool")
		}
		if _, err := n.mineNetworkBlock(); err != nil {
			return "", err
		}
		return tx.TxID(), n.save()
	}
	return "", fmt.Errorf("no mature network coinbase holds %d satoshis", amount+fee)
}

func (n *Node) inMempool(txid string) bool {
	for _, m := range n.mempool {
		if m.txid == txid {
			return true
		}
	}
	return false
}

// conflictOf finds the main-chain transaction that spends one of a wallet
// transaction's inputs, newest block first.
func (n *Node) conflictOf(wt *walletTx) (string, *block) {
	ins := make(map[biblepay.OutPoint]bool, len(wt.Tx.Inputs))
	for _, i := range wt.Tx.Inputs {
		ins[i.PrevOut] = true
	}
	for h := len(n.chain) - 1; h >= 0; h-- {
		b := n.chain[h]
		for j, tx := range b.txs[1:] {
			for _, i := range tx.Inputs {
				if ins[i.PrevOut] {
					return b.txids[j+1], b
				}
			}
		}
	}
	return "", nil
}

// acceptToMempool keeps a transaction whose inputs are all unspent.
func (n *Node) acceptToMempool(tx biblepay.Tx) bool {
	view := n.mempoolView()
	var in int64
	for _, i := range tx.Inputs {
		c, ok := view[i.PrevOut]
		if !ok {
			return false
		}
		in += c.Out.Value
	}
	var out int64
	for _, o := range tx.Outputs {
		out += o.Value
	}
	n.mempool = append(n.mempool, &mempoolTx{tx: tx, txid: tx.TxID(), fee: in - out})
	return true
}

// mempoolView is the UTXO set with the mempool applied.
func (n *Node) mempoolView() map[biblepay.OutPoint]coin {
	view := make(map[biblepay.OutPoint]coin, len(n.utxo))
	for k, v := range n.utxo {
		view[k] = v
	}
	for _, m := range n.mempool {
		for _, i := range m.tx.Inputs {
			delete(view, i.PrevOut)
		}
		h := m.tx.Hash()
		for i, o := range m.tx.Outputs {
			if !biblepay.IsUnspendable(o.ScriptPubKey) {
				view[biblepay.OutPoint{Hash: h, Index: uint32(i)}] = coin{Out: o, Height: -1}
			}
		}
	}
	return view
}

// networkAddress is a deterministic address of "the rest of the network".
func (n *Node) networkAddress(i uint64) [20]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(n.cfg.Seed))
	binary.LittleEndian.PutUint64(b[8:], i%97)
	s := sha256.Sum256(append([]byte("simnode network miner "), b[:]...))
	var h [20]byte
	copy(h[:], s[:20])
	return h
}

// blockTime is the time of a new block: now, but above the median time of
// the last 11 blocks (the consensus rule), so blocks generated in a burst
// run ahead of the clock as little as the rule allows.
func (n *Node) blockTime() uint32 {
	t := n.now()
	if len(n.chain) > 0 {
		if mtp := n.medianTimePast(n.tip().height); t <= mtp {
			t = mtp + 1
		}
	}
	return uint32(t)
}

// mineNetworkBlock appends a block mined by the rest of the network, with
// the whole mempool. Its proof of work is not searched for: the simulation
// trusts the network.
func (n *Node) mineNetworkBlock() (*block, error) {
	height := int64(len(n.chain))
	var fees int64
	txs := []biblepay.Tx{{}}
	for _, m := range n.mempool {
		txs = append(txs, m.tx)
		fees += m.fee
	}
	n.netCount++
	pkh := n.networkAddress(n.netCount)
	txs[0] = biblepay.Tx{
		Version: 1,
		Inputs: []biblepay.TxIn{{
			PrevOut:   biblepay.OutPoint{Index: 0xffffffff},
			ScriptSig: biblepay.CoinbaseScript(height, n.netCount),
			Sequence:  0xffffffff,
		}},
		Outputs: []biblepay.TxOut{{
			Value:        n.cfg.BlockReward + fees,
			ScriptPubKey: biblepay.PayToPubKeyHashScript(pkh),
			Message:      biblepay.PoolCoinbaseMessage(Version, ""),
		}},
	}
	h := biblepay.Header{Version: 0x20000000, Time: n.blockTime(), Bits: n.bits, Nonce: uint32(n.netCount)}
	if height > 0 {
		h.PrevBlock = n.tip().hash
	}
	h.MerkleRoot = biblepay.MerkleRoot(txs)
	b := newBlock(biblepay.Block{Header: h, Txs: txs}, height)
	if err := n.connect(b); err != nil {
		return nil, err
	}
	return b, nil
}

func newBlock(bl biblepay.Block, height int64) *block {
	b := &block{header: bl.Header, txs: bl.Txs, height: height, raw: bl.Bytes()}
	b.hash = biblepay.SimBlockHash(b.raw[:biblepay.HeaderSize])
	b.hashHex = biblepay.HashString(b.hash)
	for _, tx := range bl.Txs {
		b.txids = append(b.txids, tx.TxID())
	}
	return b
}

// errRejected is a consensus refusal with bitcoind's reason string.
type errRejected string

func (e errRejected) Error() string { return string(e) }

// connect validates a block's transactions against the UTXO set and makes
// it the new tip.
func (n *Node) connect(b *block) error {
	var undo []spent
	spentHere := map[biblepay.OutPoint]bool{}
	created := map[biblepay.OutPoint]coin{} // outputs of earlier transactions in this block
	var fees int64
	for i, tx := range b.txs {
		if i == 0 {
			continue
		}
		if tx.IsCoinbase() {
			return errRejected("bad-cb-multiple")
		}
		var in int64
		for _, txin := range tx.Inputs {
			c, ok := n.utxo[txin.PrevOut]
			if !ok {
				c, ok = created[txin.PrevOut]
			}
			if !ok || spentHere[txin.PrevOut] {
				return errRejected("bad-txns-inputs-missingorspent")
			}
			if c.Coinbase && b.height-c.Height < n.cfg.Maturity {
				return errRejected("bad-txns-premature-spend-of-coinbase")
			}
			spentHere[txin.PrevOut] = true
			in += c.Out.Value
		}
		var out int64
		for _, o := range tx.Outputs {
			out += o.Value
		}
		if out > in {
			return errRejected("bad-txns-in-belowout")
		}
		fees += in - out
		h := tx.Hash()
		for j, o := range tx.Outputs {
			if !biblepay.IsUnspendable(o.ScriptPubKey) {
				created[biblepay.OutPoint{Hash: h, Index: uint32(j)}] = coin{Out: o, Height: b.height}
			}
		}
	}
	var cbOut int64
	for _, o := range b.txs[0].Outputs {
		cbOut += o.Value
	}
	if cbOut > n.cfg.BlockReward+fees {
		return errRejected("bad-cb-amount")
	}
	// Apply.
	for _, tx := range b.txs {
		h := tx.Hash()
		if !tx.IsCoinbase() {
			for _, txin := range tx.Inputs {
				undo = append(undo, spent{op: txin.PrevOut, c: n.utxo[txin.PrevOut]})
				delete(n.utxo, txin.PrevOut)
			}
		}
		for i, o := range tx.Outputs {
			if biblepay.IsUnspendable(o.ScriptPubKey) {
				continue // a data output never enters the UTXO set
			}
			n.utxo[biblepay.OutPoint{Hash: h, Index: uint32(i)}] = coin{Out: o, Height: b.height, Coinbase: tx.IsCoinbase()}
		}
	}
	b.undo = undo
	b.main = true
	if b.bibleHash == "" {
		prevTime, prevHeight := int64(0), b.height-1
		if len(n.chain) > 0 {
			prevTime = int64(n.tip().header.Time)
		}
		b.bibleHash = biblepay.SimBibleHash(b.hash, int64(b.header.Time), prevTime, prevHeight, b.header.Nonce)
	}
	n.chain = append(n.chain, b)
	n.blocks[b.hashHex] = b
	inBlock := map[string]bool{}
	for i, id := range b.txids {
		n.txBlock[id] = b
		inBlock[id] = true
		n.wallet.noticeTx(b.txs[i], id, n.now())
		if wt, ok := n.wallet.txs[id]; ok {
			wt.BlockHash = b.hashHex
		}
	}
	kept := n.mempool[:0]
	for _, m := range n.mempool {
		if !inBlock[m.txid] {
			kept = append(kept, m)
		}
	}
	n.mempool = kept
	return nil
}

// disconnect removes the tip and restores what it spent.
func (n *Node) disconnect(b *block) error {
	if n.tip() != b {
		return errors.New("disconnect: not the tip")
	}
	// Restore what the block spent, then remove everything it created
	// (including coins created and spent inside the block).
	for i := len(b.undo) - 1; i >= 0; i-- {
		n.utxo[b.undo[i].op] = b.undo[i].c
	}
	for _, tx := range b.txs {
		h := tx.Hash()
		for i := range tx.Outputs {
			delete(n.utxo, biblepay.OutPoint{Hash: h, Index: uint32(i)})
		}
	}
	for _, id := range b.txids {
		delete(n.txBlock, id)
	}
	b.main = false
	b.undo = nil
	n.chain = n.chain[:len(n.chain)-1]
	return nil
}

// medianTimePast is the median time of the last 11 blocks.
func (n *Node) medianTimePast(height int64) int64 {
	var ts []int64
	for h := height; h >= 0 && h > height-11; h-- {
		ts = append(ts, int64(n.chain[h].header.Time))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

// confirmations of a main-chain block, or -1 for an orphan.
func (n *Node) confirmations(b *block) int64 {
	if !b.main {
		return -1
	}
	return n.tip().height - b.height + 1
}

// SubmitBlock validates and connects a block from a miner; the returned
// string is bitcoind's BIP22 reason ("" when accepted).
func (n *Node) submitBlock(bl biblepay.Block) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := newBlock(bl, int64(len(n.chain)))
	if _, dup := n.blocks[b.hashHex]; dup {
		return "duplicate"
	}
	tip := n.tip()
	if bl.Header.PrevBlock != tip.hash {
		if _, known := n.blocks[biblepay.HashString(bl.Header.PrevBlock)]; known {
			return "inconclusive"
		}
		return "bad-prevblk"
	}
	if bl.Header.Bits != n.bits {
		return "bad-diffbits"
	}
	if biblepay.MerkleRoot(bl.Txs) != bl.Header.MerkleRoot {
		return "bad-txnmrklroot"
	}
	if int64(bl.Header.Time) <= n.medianTimePast(tip.height) {
		return "time-too-old"
	}
	if int64(bl.Header.Time) > n.now()+2*60*60 {
		return "time-too-new"
	}
	if !biblepay.CheckNonce(bl.Header.Nonce, int64(bl.Header.Time), int64(tip.header.Time)) {
		return "high-nonce"
	}
	b.bibleHash = biblepay.SimBibleHash(b.hash, int64(bl.Header.Time), int64(tip.header.Time), tip.height, bl.Header.Nonce)
	bh, _ := biblepay.ParseHash(b.bibleHash)
	if bh.Cmp(n.target) > 0 {
		return "high-hash"
	}
	if h, err := biblepay.CoinbaseHeight(bl.Txs[0].Inputs[0].ScriptSig); err != nil || h != b.height {
		return "bad-cb-height"
	}
	b.submitted = true
	if err := n.connect(b); err != nil {
		var r errRejected
		if errors.As(err, &r) {
			return string(r)
		}
		return "rejected"
	}
	if err := n.save(); err != nil {
		n.log.Error("simnode: save state", "err", err)
	}
	return ""
}
