// Chain state: the blocks the node knows, mining network blocks, connecting
// and disconnecting blocks against the UTXO set, reorgs (sim_generate,
// sim_reorg) and submitblock.

package simnode

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/purepool/purepool/biblepay"
)

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
