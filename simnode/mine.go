package simnode

import (
	"context"
	"fmt"

	"github.com/purepool/purepool/biblepay"
)

// MinePoolBlock mines a block as a pool miner would and submits it through
// submitblock's checks: the coinbase pays payTo with the wallet's pool
// message (<VER>…</VER><MINERGUID>minerGUID</MINERGUID>), and the nonce is
// really searched until the stand-in BibleHash meets the network target, so
// keep the hash rate low in tests (SetHashRate). It returns the block hash.
func (n *Node) MinePoolBlock(ctx context.Context, payTo, minerGUID string) (string, error) {
	script, err := n.cfg.Network.ScriptForAddress(payTo)
	if err != nil {
		return "", err
	}
	for extra := uint64(1); ; extra++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n.mu.Lock()
		tip := n.tip()
		height := tip.height + 1
		var fees int64
		txs := []biblepay.Tx{{}}
		for _, m := range n.mempool {
			txs = append(txs, m.tx)
			fees += m.fee
		}
		h := biblepay.Header{Version: 0x20000000, PrevBlock: tip.hash, Bits: n.bits,
			Time: uint32(max(n.now(), n.medianTimePast(tip.height)+1))}
		target := n.target
		tipTime := int64(tip.header.Time)
		reward := n.cfg.BlockReward + fees
		n.mu.Unlock()

		txs[0] = biblepay.Tx{Version: 1,
			Inputs: []biblepay.TxIn{{PrevOut: biblepay.OutPoint{Index: 0xffffffff},
				ScriptSig: biblepay.CoinbaseScript(height, extra), Sequence: 0xffffffff}},
			Outputs: []biblepay.TxOut{{Value: reward, ScriptPubKey: script, Message: biblepay.PoolCoinbaseMessage(Version, minerGUID)}},
		}
		h.MerkleRoot = biblepay.MerkleRoot(txs)
		maxNonce := min(biblepay.MaxNonce(int64(h.Time)-tipTime), 0x9FFF)
		for nonce := int64(0); nonce <= maxNonce; nonce++ {
			h.Nonce = uint32(nonce)
			bh := biblepay.SimBibleHash(biblepay.SimBlockHash(h.Bytes()), int64(h.Time), tipTime, height-1, h.Nonce)
			v, _ := biblepay.ParseHash(bh)
			if v.Cmp(target) > 0 {
				continue
			}
			bl := biblepay.Block{Header: h, Txs: txs}
			switch reason := n.submitBlock(bl); reason {
			case "":
				return biblepay.HashString(biblepay.SimBlockHash(h.Bytes())), nil
			case "bad-prevblk", "inconclusive", "bad-diffbits", "bad-txns-inputs-missingorspent", "bad-cb-amount":
				nonce = maxNonce // the tip moved: take a new template
			default:
				return "", fmt.Errorf("simnode: mined block rejected: %s", reason)
			}
		}
	}
}
