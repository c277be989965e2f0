package simnode

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/purepool/purepool/biblepay"
)

type stateBlock struct {
	Hex       string `json:"hex"`
	Height    int64  `json:"height"`
	Main      bool   `json:"main"`
	Submitted bool   `json:"submitted,omitempty"`
}

type stateTx struct {
	Hex          string `json:"hex"`
	Comment      string `json:"comment,omitempty"`
	To           string `json:"to,omitempty"`
	TimeReceived int64  `json:"timereceived"`
	FromMe       bool   `json:"fromme,omitempty"`
	BlockHash    string `json:"blockhash,omitempty"`
}

type state struct {
	Version  int          `json:"version"`
	Network  string       `json:"network"`
	Blocks   []stateBlock `json:"blocks"`
	Mempool  []string     `json:"mempool"`
	Keys     []string     `json:"keys"`
	KeyCount uint64       `json:"keycount"`
	Default  string       `json:"default"`
	Change   string       `json:"change"`
	Txs      []stateTx    `json:"txs"`
	HashRate float64      `json:"hashrate"`
	Paused   bool         `json:"paused"`
	NetCount uint64       `json:"netcount"`
}

// save writes the state file atomically; the caller holds n.mu.
func (n *Node) save() error {
	if n.cfg.StateFile == "" {
		return nil
	}
	s := state{Version: 1, Network: n.cfg.Network.Name, HashRate: n.hashRate, Paused: n.paused, NetCount: n.netCount,
		KeyCount: n.wallet.keyCount, Default: n.wallet.defaultAddr, Change: n.wallet.changeAddr}
	for _, b := range n.blocks {
		s.Blocks = append(s.Blocks, stateBlock{Hex: hex.EncodeToString(b.raw), Height: b.height, Main: b.main, Submitted: b.submitted})
	}
	sort.Slice(s.Blocks, func(i, j int) bool { return s.Blocks[i].Height < s.Blocks[j].Height })
	for _, m := range n.mempool {
		s.Mempool = append(s.Mempool, hex.EncodeToString(m.tx.Bytes()))
	}
	for k := range n.wallet.keys {
		s.Keys = append(s.Keys, k)
	}
	sort.Strings(s.Keys)
	for _, wt := range n.wallet.order {
		s.Txs = append(s.Txs, stateTx{Hex: hex.EncodeToString(wt.Tx.Bytes()), Comment: wt.Comment, To: wt.To,
			TimeReceived: wt.TimeReceived, FromMe: wt.FromMe, BlockHash: wt.BlockHash})
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("simnode: encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(n.cfg.StateFile), ".simnode-state-*")
	if err != nil {
		return fmt.Errorf("simnode: save state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("simnode: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("simnode: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), n.cfg.StateFile); err != nil {
		return fmt.Errorf("simnode: save state: %w", err)
	}
	return nil
}

// load restores the state file; it reports false if there is none.
func (n *Node) load() (bool, error) {
	b, err := os.ReadFile(n.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("simnode: load state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return false, fmt.Errorf("simnode: load state %s: %w", n.cfg.StateFile, err)
	}
	if s.Network != n.cfg.Network.Name {
		return false, fmt.Errorf("simnode: state file %s is for network %q, not %q", n.cfg.StateFile, s.Network, n.cfg.Network.Name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.HashRate > 0 {
		n.setHashRate(s.HashRate)
	}
	n.paused, n.netCount = s.Paused, s.NetCount
	for _, sb := range s.Blocks {
		bl, err := biblepay.ParseBlockHex(sb.Hex)
		if err != nil {
			return false, fmt.Errorf("simnode: load state: block at %d: %w", sb.Height, err)
		}
		blk := newBlock(bl, sb.Height)
		blk.submitted = sb.Submitted
		if !sb.Main {
			n.blocks[blk.hashHex] = blk
			continue
		}
		if sb.Height != int64(len(n.chain)) {
			return false, fmt.Errorf("simnode: load state: main chain has a gap at %d", sb.Height)
		}
		if err := n.connect(blk); err != nil {
			return false, fmt.Errorf("simnode: load state: block at %d: %w", sb.Height, err)
		}
	}
	if len(n.chain) == 0 {
		return false, errors.New("simnode: load state: no blocks")
	}
	// Orphans: compute their stored bible hash for getblock.
	for _, blk := range n.blocks {
		if !blk.main && blk.bibleHash == "" {
			if p, ok := n.blocks[biblepay.HashString(blk.header.PrevBlock)]; ok {
				blk.bibleHash = biblepay.SimBibleHash(blk.hash, int64(blk.header.Time), int64(p.header.Time), p.height, blk.header.Nonce)
			}
		}
	}
	w := wallet{net: n.cfg.Network, seed: n.cfg.Seed, keys: map[string]bool{}, txs: map[string]*walletTx{},
		defaultAddr: s.Default, changeAddr: s.Change, keyCount: s.KeyCount}
	for _, k := range s.Keys {
		w.keys[k] = true
	}
	for _, a := range n.cfg.WalletAddresses {
		w.keys[a] = true
	}
	for _, st := range s.Txs {
		tx, err := biblepay.ParseTxHex(st.Hex)
		if err != nil {
			return false, fmt.Errorf("simnode: load state: wallet tx: %w", err)
		}
		w.add(&walletTx{TxID: tx.TxID(), Tx: tx, Comment: st.Comment, To: st.To, TimeReceived: st.TimeReceived, FromMe: st.FromMe, BlockHash: st.BlockHash})
	}
	n.wallet = w
	for _, h := range s.Mempool {
		tx, err := biblepay.ParseTxHex(h)
		if err != nil {
			return false, fmt.Errorf("simnode: load state: mempool tx: %w", err)
		}
		n.acceptToMempool(tx)
	}
	// As bitcoind at startup (ReacceptWalletTransactions): the wallet's
	// transactions that are neither mined nor in the mempool go back in.
	n.reacceptWalletTxs()
	return true, nil
}
