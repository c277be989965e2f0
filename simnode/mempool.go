// The mempool, and the network transactions the simulation puts into it: Fund
// (sim_fund) tops up the wallet, DoubleSpend (sim_doublespend) replaces a
// wallet send with a conflicting one.

package simnode

import (
	"errors"
	"fmt"

	"github.com/purepool/purepool/biblepay"
)

type mempoolTx struct {
	tx   biblepay.Tx
	txid string
	fee  int64
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
