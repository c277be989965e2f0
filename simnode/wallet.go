package simnode

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/purepool/purepool/biblepay"
)

// walletTx is a transaction the wallet cares about: one it sent or one that
// pays it (pool coinbases included).
type walletTx struct {
	TxID         string
	Tx           biblepay.Tx
	Comment      string
	To           string
	TimeReceived int64
	FromMe       bool
	BlockHash    string // the last block that held it, main chain or not
}

type wallet struct {
	net         biblepay.Network
	seed        int64
	keys        map[string]bool
	defaultAddr string
	changeAddr  string
	keyCount    uint64
	txs         map[string]*walletTx
	order       []*walletTx
}

func newWallet(net biblepay.Network, seed int64) wallet {
	w := wallet{net: net, seed: seed, keys: map[string]bool{}, txs: map[string]*walletTx{}}
	w.defaultAddr = w.newAddress()
	w.changeAddr = w.newAddress()
	return w
}

// newAddress derives the wallet's next address from its seed.
func (w *wallet) newAddress() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(w.seed))
	binary.LittleEndian.PutUint64(b[8:], w.keyCount)
	w.keyCount++
	s := sha256.Sum256(append([]byte("simnode wallet key "), b[:]...))
	var h [20]byte
	copy(h[:], s[:20])
	a := w.net.Address(h)
	w.keys[a] = true
	return a
}

func (w *wallet) addressOf(script []byte) (string, bool) {
	a, ok := w.net.AddressFromScript(script)
	return a, ok && w.keys[a]
}

func (w *wallet) paysMe(tx biblepay.Tx) bool {
	for _, o := range tx.Outputs {
		if _, mine := w.addressOf(o.ScriptPubKey); mine {
			return true
		}
	}
	return false
}

// noticeTx records a transaction seen in a block if it concerns the wallet.
func (w *wallet) noticeTx(tx biblepay.Tx, txid string, now int64) {
	if _, ok := w.txs[txid]; ok {
		return
	}
	if !w.paysMe(tx) {
		return
	}
	w.add(&walletTx{TxID: txid, Tx: tx, TimeReceived: now})
}

func (w *wallet) add(wt *walletTx) {
	w.txs[wt.TxID] = wt
	w.order = append(w.order, wt)
}

// payment is one recipient of a send.
type payment struct {
	addr   string
	amount int64
	script []byte
}

// spendableCoin is a wallet coin a send may use.
type spendableCoin struct {
	op     biblepay.OutPoint
	value  int64
	height int64 // -1 for the mempool
}

// walletCoins classifies the wallet's coins: spendable (mature, confirmed
// or own change), and the immature coinbase total.
func (n *Node) walletCoins(minConf int64) (spendable []spendableCoin, immature int64) {
	tipH := n.tip().height
	view := n.mempoolView()
	// A send the wallet made that is in neither the mempool nor the chain
	// (Restart without rebroadcast) still spends its inputs for the wallet,
	// as bitcoind's IsSpent counts every wallet transaction of depth >= 0;
	// its change is not trusted, so it is not there either.
	for id := range n.unbroadcast {
		if wt, ok := n.wallet.txs[id]; ok && n.isUnbroadcast(wt) {
			for _, in := range wt.Tx.Inputs {
				delete(view, in.PrevOut)
			}
		}
	}
	for op, c := range view {
		if _, mine := n.wallet.addressOf(c.Out.ScriptPubKey); !mine {
			continue
		}
		if c.Height < 0 {
			spendable = append(spendable, spendableCoin{op: op, value: c.Out.Value, height: -1})
			continue
		}
		conf := tipH - c.Height + 1
		switch {
		case c.Coinbase && conf < n.cfg.Maturity:
			immature += c.Out.Value
		case conf >= max(minConf, 1):
			spendable = append(spendable, spendableCoin{op: op, value: c.Out.Value, height: c.Height})
		}
	}
	// Immature coins already spent in the mempool cannot exist; sort for a
	// deterministic, oldest-first selection.
	sort.Slice(spendable, func(i, j int) bool {
		a, b := spendable[i], spendable[j]
		if (a.height < 0) != (b.height < 0) {
			return b.height < 0
		}
		if a.height != b.height {
			return a.height < b.height
		}
		if a.op.Hash != b.op.Hash {
			return string(a.op.Hash[:]) < string(b.op.Hash[:])
		}
		return a.op.Index < b.op.Index
	})
	return spendable, immature
}

// createSend builds, signs (in simulation) and adds to the mempool a
// transaction paying pays; the addresses in subtract share the fee.
func (n *Node) createSend(pays []payment, subtract map[string]bool, minConf int64, comment, to string) (string, error) {
	if len(pays) == 0 {
		return "", &rpcError{CodeWallet, "Transaction must have at least one recipient"}
	}
	var total int64
	nSub := 0
	for _, p := range pays {
		total += p.amount
		if subtract[p.addr] {
			nSub++
		}
	}
	if total > maxMoney {
		return "", &rpcError{CodeType, "Amount out of range"}
	}
	coins := n.unlockedCoins(minConf)
	var have int64
	for _, c := range coins {
		have += c.value
	}
	fee := MinFee
	for k := 1; k <= len(coins); k++ {
		sel := coins[:k]
		var in int64
		for _, c := range sel {
			in += c.value
		}
		if in < total {
			continue
		}
		for range 20 {
			outs := make([]biblepay.TxOut, 0, len(pays)+1)
			first := true
			var out int64
			for _, p := range pays {
				v := p.amount
				if subtract[p.addr] {
					v -= fee / int64(nSub)
					if first {
						v -= fee % int64(nSub)
						first = false
					}
					if v <= Dust {
						return "", &rpcError{CodeWallet, "The transaction amount is too small to pay the fee"}
					}
				}
				outs = append(outs, biblepay.TxOut{Value: v, ScriptPubKey: p.script})
				out += v
			}
			need := out
			if nSub == 0 {
				need += fee
			}
			if in < need {
				break // more coins
			}
			change := in - out - fee
			if change >= Dust {
				script, _ := n.cfg.Network.ScriptForAddress(n.wallet.changeAddr)
				outs = append(outs, biblepay.TxOut{Value: change, ScriptPubKey: script})
			}
			tx := biblepay.Tx{Version: 1, Outputs: outs}
			for _, c := range sel {
				tx.Inputs = append(tx.Inputs, biblepay.TxIn{PrevOut: c.op, Sequence: 0xffffffff})
			}
			n.signWalletInputs(&tx)
			size := int64(len(tx.Bytes()))
			req := max(MinFee, (size*n.cfg.FeePerKB+999)/1000)
			if req > fee {
				fee = req
				continue
			}
			txid := tx.TxID()
			if !n.acceptToMempool(tx) {
				return "", &rpcError{CodeWallet, "Error: The transaction was rejected!"}
			}
			n.wallet.add(&walletTx{TxID: txid, Tx: tx, Comment: comment, To: to, TimeReceived: n.now(), FromMe: true})
			return txid, nil
		}
	}
	if have < total+fee && nSub == 0 || have < total {
		return "", &rpcError{CodeInsufficientFunds, "Insufficient funds"}
	}
	return "", &rpcError{CodeWallet, fmt.Sprintf("Transaction creation failed: cannot fund %d satoshis with %d", total, have)}
}

// txState is where a wallet transaction stands.
type txState struct {
	// conf is the confirmations: 0 in the mempool or orphaned; negative
	// when conflicted, as bitcoind reports it: minus the depth of the
	// conflicting transaction's block, or -1 if no chain transaction spends
	// its inputs (they vanished with an orphaned block).
	conf       int64
	block      *block // the main-chain block holding it, or its orphaned block
	inMempool  bool
	conflicted bool
	conflicts  []string // the main-chain transactions spending its inputs
}

func (n *Node) txState(wt *walletTx) txState {
	if b, ok := n.txBlock[wt.TxID]; ok {
		return txState{conf: n.tip().height - b.height + 1, block: b}
	}
	for _, m := range n.mempool {
		if m.txid == wt.TxID {
			return txState{inMempool: true}
		}
	}
	if wt.Tx.IsCoinbase() {
		return txState{block: n.blocks[wt.BlockHash]}
	}
	if n.isUnbroadcast(wt) {
		return txState{} // dropped from the mempool by a restart, not conflicted: depth 0
	}
	st := txState{conf: -1, conflicted: true, conflicts: []string{}}
	if id, b := n.conflictOf(wt); b != nil {
		st.conf = -(n.tip().height - b.height + 1)
		st.conflicts = append(st.conflicts, id)
	}
	return st
}

// fee of a wallet send: inputs minus outputs. Inputs are looked up among
// the wallet's own transactions and all blocks.
func (n *Node) txFee(wt *walletTx) int64 {
	var in, out int64
	for _, i := range wt.Tx.Inputs {
		id := biblepay.HashString(i.PrevOut.Hash)
		if src, ok := n.wallet.txs[id]; ok && int(i.PrevOut.Index) < len(src.Tx.Outputs) {
			in += src.Tx.Outputs[i.PrevOut.Index].Value
		}
	}
	for _, o := range wt.Tx.Outputs {
		out += o.Value
	}
	return in - out
}

// entries are the listtransactions entries of a wallet transaction, in
// bitcoind's shape: sends (with the fee) first, then receipts.
func (n *Node) entries(wt *walletTx, withCommon bool) []map[string]any {
	st := n.txState(wt)
	var list []map[string]any
	fee := int64(0)
	if wt.FromMe {
		fee = n.txFee(wt)
		for i, o := range wt.Tx.Outputs {
			addr, _ := n.cfg.Network.AddressFromScript(o.ScriptPubKey)
			if addr == n.wallet.changeAddr {
				continue
			}
			e := map[string]any{
				"account": "", "address": addr, "category": "send",
				"amount": amount(-o.Value), "vout": i, "fee": amount(-fee), "abandoned": false,
			}
			if addr == "" {
				delete(e, "address") // a data output: a send of 0 to no address (MaybePushAddress)
			}
			list = append(list, e)
		}
	}
	for i, o := range wt.Tx.Outputs {
		addr, mine := n.wallet.addressOf(o.ScriptPubKey)
		if !mine || (wt.FromMe && addr == n.wallet.changeAddr) {
			continue
		}
		cat := "receive"
		if wt.Tx.IsCoinbase() {
			switch {
			case st.block == nil || !st.block.main:
				cat = "orphan"
			case st.conf < n.cfg.Maturity:
				cat = "immature"
			default:
				cat = "generate"
			}
		}
		list = append(list, map[string]any{
			"account": "", "address": addr, "category": cat, "amount": amount(o.Value), "vout": i,
		})
	}
	if withCommon {
		for _, e := range list {
			for k, v := range n.commonTxFields(wt, st) {
				e[k] = v
			}
		}
	}
	return list
}

func (n *Node) commonTxFields(wt *walletTx, st txState) map[string]any {
	conflicts := st.conflicts
	if conflicts == nil {
		conflicts = []string{}
	}
	m := map[string]any{
		"confirmations":   st.conf,
		"bcconfirmations": st.conf,
		"txid":            wt.TxID,
		"walletconflicts": conflicts,
		"time":            wt.TimeReceived,
		"timereceived":    wt.TimeReceived,
	}
	if wt.Tx.IsCoinbase() {
		m["generated"] = true
	}
	if st.block != nil {
		m["blockhash"] = st.block.hashHex
		m["blockindex"] = 0
		for i, id := range st.block.txids {
			if id == wt.TxID {
				m["blockindex"] = i
			}
		}
		m["blocktime"] = int64(st.block.header.Time)
	}
	if wt.Comment != "" {
		m["comment"] = wt.Comment
	}
	if wt.To != "" {
		m["to"] = wt.To
	}
	return m
}
