// The simulation's own RPCs (sim_*) and failure-mode knobs: generate, reorg,
// double spend, fund, pause, hash rate, and what the next send does (fail,
// succeed then error, succeed then time out).

package simnode

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// sendMode is what the next send (sendtoaddress, sendmany or
// sendrawtransaction) does beyond sending (sim_* calls).
type sendMode struct {
	fail        *rpcError     // fail without sending
	thenError   string        // "rpc" or "drop": send, then fail the call
	thenTimeout bool          // send, then never answer
	delay       time.Duration // wait this long, then send and answer
}

func rpcSimGenerate(c *call) (any, error) {
	k, err := c.optInt(0, 1)
	if err != nil {
		return nil, err
	}
	hashes, err := c.n.Generate(int(k))
	if err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return hashes, nil
}

func rpcSimReorg(c *call) (any, error) {
	k, err := c.optInt(0, 1)
	if err != nil {
		return nil, err
	}
	orphaned, err := c.n.Reorg(int(k))
	if err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return map[string]any{"orphaned": orphaned, "height": c.n.Height()}, nil
}

func rpcSimDoubleSpend(c *call) (any, error) {
	if err := c.count(1, 1, "txid"); err != nil {
		return nil, err
	}
	txid, err := c.str(0)
	if err != nil {
		return nil, err
	}
	conflict, err := c.n.DoubleSpend(txid)
	if err != nil {
		return nil, &rpcError{CodeInvalidAddress, err.Error()}
	}
	return map[string]any{"conflict": conflict, "height": c.n.Height()}, nil
}

func rpcSimFund(c *call) (any, error) {
	if err := c.count(1, 1, "amount"); err != nil {
		return nil, err
	}
	p, err := c.payment(c.n.WalletAddress(), c.params[0])
	if err != nil {
		return nil, err
	}
	txid, err := c.n.Fund(p.amount)
	if err != nil {
		return nil, &rpcError{CodeWallet, err.Error()}
	}
	return txid, nil
}

func rpcSimFailNextSend(c *call) (any, error) {
	code, err := c.optInt(0, CodeWallet)
	if err != nil {
		return nil, err
	}
	msg, err := c.optStr(1, "Error: The transaction was rejected!")
	if err != nil {
		return nil, err
	}
	c.n.FailNextSend(int(code), msg)
	return nil, nil
}

func rpcSimSendThenError(c *call) (any, error) {
	mode, err := c.optMode(0, "rpc", "drop")
	if err != nil {
		return nil, err
	}
	c.n.SendThenError(mode == "drop")
	return nil, nil
}

func rpcSimSendThenTimeout(c *call) (any, error) { c.n.SendThenTimeout(); return nil, nil }
func rpcSimPause(c *call) (any, error)           { c.n.Pause(); return nil, nil }
func rpcSimResume(c *call) (any, error)          { c.n.Resume(); return nil, nil }

func rpcSimSetHashRate(c *call) (any, error) {
	var rate float64
	if len(c.params) != 1 || json.Unmarshal(c.params[0], &rate) != nil {
		return nil, &rpcError{CodeMisc, "sim_sethashrate hashespersecond"}
	}
	if err := c.n.SetHashRate(rate); err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return nil, nil
}

func rpcSimInfo(c *call) (any, error) {
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	return map[string]any{
		"network": n.cfg.Network.Name, "walletaddress": n.wallet.defaultAddr, "height": n.tip().height,
		"paused": n.paused, "hashrate": n.hashRate, "target": biblepay.FormatHash(n.target),
		"bits": fmt.Sprintf("%08x", n.bits), "maturity": n.cfg.Maturity, "blockreward": n.cfg.BlockReward,
		"mempool": len(n.mempool), "lockedcoins": len(n.locks),
	}, nil
}

// FailNextSend makes the next sendmany/sendtoaddress/sendrawtransaction fail with the given
// error without sending (sim_failnextsend).
func (n *Node) FailNextSend(code int, message string) {
	n.mu.Lock()
	n.nextSend = sendMode{fail: &rpcError{code, message}}
	n.mu.Unlock()
}

// SendThenError makes the next send succeed on chain but answer the caller
// with an RPC error, or, with drop, close the connection without an answer
// (sim_sendthenerror).
func (n *Node) SendThenError(drop bool) {
	n.mu.Lock()
	n.nextSend = sendMode{thenError: map[bool]string{false: "rpc", true: "drop"}[drop]}
	n.mu.Unlock()
}

// SendThenTimeout makes the next send succeed on chain and never answer,
// so the caller times out (sim_sendthentimeout).
func (n *Node) SendThenTimeout() {
	n.mu.Lock()
	n.nextSend = sendMode{thenTimeout: true}
	n.mu.Unlock()
}
